"""``python -m phoenix_upsert``: the ``phoenix-upsert`` command."""

import sys

from phoenix_upsert.cli import main

sys.exit(main())
