"""Hash a JSONL dataset the way Phoenix does, and check it against Phoenix's own code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import phoenix_upsert as pu

path = (
    Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data" / "support_v1.jsonl"
)
scan = pu.scan_jsonl(path, id_key="id", splits_key="splits")
assert scan.ids is not None
for source_id, content_hash in zip(scan.ids, scan.hashes):
    print(f"{content_hash}  {source_id}")

try:  # the server's own canonicalizer, if arize-phoenix is installed
    from phoenix.utilities.content_hashing import compute_example_content_hash
except ImportError:
    sys.exit(0)
rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
server = [
    compute_example_content_hash(
        input=r["input"], output=r["output"], metadata=r.get("metadata", {})
    ).hex()
    for r in rows
]
print("identical to Phoenix's content_hash:", server == scan.hashes)
