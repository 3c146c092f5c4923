"""Bounded fuzzing runs of the native core (atheris). Longer runs are for people:

python tests/native/fuzz/fuzz_native.py values -max_total_time=3600
cargo +nightly fuzz run canonicalize   (in rust/fuzz, see its README)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).parent / "fuzz" / "fuzz_native.py"
SECONDS = int(os.environ.get("PU_FUZZ_SECONDS", "10"))


@pytest.mark.parametrize("target", ["canonicalize_json", "scan_jsonl", "values", "diff"])
def test_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(HARNESS), target, f"-max_total_time={SECONDS}", "-rss_limit_mb=4096"],
        cwd=tmp_path,  # crash reproducers, if any, land here
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done" in result.stderr
