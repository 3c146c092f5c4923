"""What the command-line tests share: JSONL files to sync, and the command run as CI runs
it — a process of its own, the server named by the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def rows(n: int, tag: str = "a", key: str = "id") -> list[dict[str, Any]]:
    return [{key: f"r{i}", "input": {"q": i}, "output": {"tag": tag}} for i in range(n)]


def run(
    *args: str, endpoint: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``phoenix-upsert ARGS`` in a process of its own, with ``PHOENIX_COLLECTOR_ENDPOINT``
    set to ``endpoint`` (and nothing else of Phoenix's from this environment), plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    environment["PHOENIX_UPSERT_CACHE_DIR"] = os.environ["PHOENIX_UPSERT_CACHE_DIR"]
    environment["PHOENIX_COLLECTOR_ENDPOINT"] = endpoint
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "phoenix_upsert", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=environment,
    )
