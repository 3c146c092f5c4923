"""Benchmark plumbing: data scale, and a ratio table (reference time / our time) at the end.

Each benchmark sets ``benchmark.extra_info["role"]`` to ``"ours"``, ``"reference"`` (the
Phoenix way of doing the same thing) or ``"baseline"`` (a floor, such as hashlib over the raw
bytes). Ratios compare minimum times of the same group, measured in the same run.

``PU_BENCH_SCALE`` (default 1.0) scales the data; CI runs the benchmarks once at a small
scale (``--benchmark-disable``) so that they cannot rot.

``PU_BENCH_BACKEND`` (``sqlite``, ``postgresql`` or ``both``, the default) says which Phoenix
the end-to-end sync benchmarks run against: on SQLite, on PostgreSQL, or each in turn (their
groups are named after the backend, so ratios never mix them).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

SCALE = float(os.environ.get("PU_BENCH_SCALE", "1.0"))

_BACKEND = os.environ.get("PU_BENCH_BACKEND", "both").strip().lower()
if _BACKEND not in ("sqlite", "postgresql", "both"):
    raise ValueError(f"PU_BENCH_BACKEND must be sqlite, postgresql or both, not {_BACKEND!r}")
BACKENDS: tuple[str, ...] = ("sqlite", "postgresql") if _BACKEND == "both" else (_BACKEND,)


def scaled(n: int) -> int:
    return max(10, int(n * SCALE))


@pytest.fixture(scope="session")
def scale() -> float:
    return SCALE


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    groups: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for bench in session.benchmarks:
        if not bench.stats:  # disabled or failed
            continue
        role = bench.extra_info.get("role", "ours")
        groups.setdefault(bench.group or bench.name, {}).setdefault(role, []).append(
            (bench.name, bench.stats.min)
        )
    lines = ["", "ratios (min time of the other / min time of ours; > 1 means ours is faster)"]
    for group, roles in sorted(groups.items()):
        for our_name, ours in roles.get("ours", []):
            for role in ("reference", "baseline"):
                for name, t in roles.get(role, []):
                    lines.append(f"  {group}: {name} / {our_name} = {t / ours:,.1f}x")
    for line in lines:
        terminalreporter.write_line(line)
