"""Progress on a terminal: bars with totals while reading, hashing and sending, and an
elapsed-time line while the server inserts; nothing of them with ``--json`` or ``-q``.
A real process whose stderr is a pseudo-terminal, against a real Phoenix."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from phoenix_upsert.testing import LocalPhoenix

from .helpers import rows

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(*args: str, endpoint: str) -> tuple[int, str, str]:
    """``phoenix-upsert ARGS`` with stderr on a pseudo-terminal: (exit code, stdout, what
    the terminal showed, escape sequences removed)."""
    leader, follower = pty.openpty()
    # a terminal of 40 rows and 160 columns (a new pseudo-terminal has no size: no bar fits)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    env.update(PHOENIX_COLLECTOR_ENDPOINT=endpoint, TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "phoenix_upsert", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        env=env,
    )
    os.close(follower)
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    return proc.returncode, stdout, ANSI.sub("", b"".join(shown).decode(errors="replace"))


def test_bars_with_totals_on_a_terminal_and_none_with_json(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    data = [{**r, "output": {"answer": "x" * 400}} for r in rows(3000)]  # 1.3 MB
    text = "".join(json.dumps(r) + "\n" for r in data).encode()
    src = tmp_path / "data.jsonl.gz"
    src.write_bytes(gzip.compress(text))
    code, _, shown = on_terminal("sync", str(src), "--dataset", name, endpoint=phoenix.base_url)
    assert code == 0, shown
    total = r"\| [\d.]+[kM]?/[\d.]+[kM]? \["  # done/total, then the times
    # reading the compressed file: its size is the total
    assert re.search(rf"reading {re.escape(str(src))}: +\d+%\|[^|]*{total}", shown), shown
    # hashing the decompressed copy: its size is the total
    assert re.search(rf"hashing {re.escape(str(src))}: +\d+%\|[^|]*{total}", shown), shown
    # sending: a percentage of an estimated total, then the server's elapsed time
    assert re.search(rf"create 3,000 examples: sending: +\d+%\|[^|]*{total}", shown), shown
    assert "create 3,000 examples: server inserting" in shown, shown

    again = [{**r, "output": {"answer": "y"}} for r in data]
    src.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in again).encode()))
    code, stdout, shown = on_terminal(
        "sync", str(src), "--dataset", name, "--json", endpoint=phoenix.base_url
    )
    assert code == 0, shown
    assert json.loads(stdout)["summary"]["updated"] == 3000
    assert "%|" not in shown and "inserting" not in shown, shown
