"""A real Phoenix for the TypeScript tests, started the way the Python tests start it.

Usage: ``python phoenix_server.py [sqlite|postgresql]``. Prints the server's base URL on one
line once it answers, then keeps it running until standard input closes (the Node test
process that started it ended), and stops it.
"""

from __future__ import annotations

import sys
import tempfile

from phoenix_upsert.testing import LocalPhoenix


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    with tempfile.TemporaryDirectory(prefix="phoenix-js-") as directory:
        with LocalPhoenix(working_dir=directory, backend=backend) as phoenix:  # type: ignore[arg-type]
            print(phoenix.base_url, flush=True)
            sys.stdin.read()


if __name__ == "__main__":
    main()
