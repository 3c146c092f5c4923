"""The command line, whole process, as CI runs it: ``phoenix-upsert`` against a Python script
that calls phoenix-client's ``create_dataset`` (what users do today), on one local Phoenix.

Each command runs in a process of its own, in an environment that has the Phoenix server
package installed (as this one does: it is how Phoenix is usually run locally), so the
phoenix-client script pays for ``import phoenix.client`` loading the whole server package,
and ``phoenix-upsert``, which never imports ``phoenix``, does not. Measured per process:
wall time (start to exit) and peak RSS (``ru_maxrss`` of that process, from ``wait4``).

- no-op re-sync of a JSONL file (5,000 examples at scale 1): ``phoenix-upsert sync`` vs the
  script (which reads the file and calls ``create_dataset`` with the same examples, as
  ``bench_sync`` does in-process); both datasets are created by an untimed first run;
- ``phoenix-upsert --version`` and ``phoenix-upsert hash`` on the same file.

Both sides get compiled bytecode, as an installed package has (``PYTHONDONTWRITEBYTECODE``
is dropped and ``PYTHONPYCACHEPREFIX`` points at a temporary directory, warmed by the first
run). A table of times, peak RSS and ratios is printed at the end, with the machine's load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from phoenix_upsert.testing import Backend, LocalPhoenix

from ._data import make_examples, write_jsonl
from .conftest import BACKENDS, scaled

N = scaled(5_000)

REFERENCE_SCRIPT = textwrap.dedent(
    """\
    import json
    import sys

    from phoenix.client import Client

    path, name = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        examples = [json.loads(line) for line in f if line.strip()]
    Client().datasets.create_dataset(name=name, examples=examples, timeout=3600)
    """
)


@dataclass
class Run:
    wall: float
    rss_mb: float
    code: int
    stdout: str
    stderr: str


@dataclass
class Measured:
    """Every run of one command, for the table at the end."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def median(self) -> float:
        walls = sorted(r.wall for r in self.runs)
        return walls[len(walls) // 2]

    @property
    def peak_mb(self) -> float:
        return max(r.rss_mb for r in self.runs)


# Peak RSS per process: ``ru_maxrss`` counts what a process held before it exec'd, and a
# process forked from pytest starts out holding pytest's (hundreds of MB). So each command is
# forked and exec'd by a small launcher (a bare Python, about 10 MB, less than any command
# measured here holds), which reports the command's wall time and ``wait4`` usage.
LAUNCHER = """\
import json, os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as f:
    code = os.waitstatus_to_exitcode(status)
    json.dump({"wall": wall, "maxrss": usage.ru_maxrss, "code": code}, f)
"""


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run a command to its end; its wall time and its own peak RSS."""
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "report.json"
        out, err = Path(d) / "out", Path(d) / "err"
        with out.open("wb") as o, err.open("wb") as e:
            launcher = [sys.executable, "-S", "-c", LAUNCHER, str(report), *command]
            subprocess.run(launcher, stdout=o, stderr=e, env=env, cwd=cwd, check=True)
        measured = json.loads(report.read_text())
        stdout = out.read_text(errors="replace")
        stderr = err.read_text(errors="replace")
    rss_mb = measured["maxrss"] / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Run(measured["wall"], rss_mb, measured["code"], stdout, stderr)


def command_line() -> list[str]:
    script = shutil.which("phoenix-upsert", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "phoenix_upsert"]


class Bench:
    """One local Phoenix, a JSONL file, the environment both sides run in."""

    def __init__(self, backend: str, phoenix: LocalPhoenix, work: Path) -> None:
        self.backend = backend
        self.work = work
        self.jsonl = write_jsonl(work / "examples.jsonl", make_examples(N, seed=N))
        self.reference_script = work / "create_dataset.py"
        self.reference_script.write_text(REFERENCE_SCRIPT)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PHOENIX_", "OTEL_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        env["PHOENIX_UPSERT_CACHE_DIR"] = str(work / "manifests")
        env["PHOENIX_COLLECTOR_ENDPOINT"] = phoenix.base_url
        self.env = env
        self.results: dict[str, Measured] = {}
        self.load_before = os.getloadavg()

    def measure(self, key: str, label: str, command: list[str], expect: int = 0) -> Run:
        run = run_process(command, self.env, self.work)
        assert run.code == expect, f"{label} exited {run.code}:\n{run.stderr[-3000:]}"
        self.results.setdefault(key, Measured(label)).runs.append(run)
        return run

    def ours_sync(self, name: str) -> list[str]:
        return [*command_line(), "sync", str(self.jsonl), "--dataset", name, "--json"]

    def reference(self, name: str) -> list[str]:
        return [sys.executable, str(self.reference_script), str(self.jsonl), name]

    def report(self) -> list[str]:
        load = ", ".join(f"{x:.2f}" for x in self.load_before)
        after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [
            "",
            f"whole-process CLI, {self.backend}, {N:,} examples "
            f"(load average {load} before, {after} after; {os.cpu_count()} CPUs)",
            f"  {'command':<46} {'best':>8} {'median':>8} {'peak RSS':>10}  runs",
        ]
        for m in self.results.values():
            lines.append(
                f"  {m.label:<46} {m.best:>7.2f}s {m.median:>7.2f}s {m.peak_mb:>7.0f} MB"
                f"  {len(m.runs)}"
            )
        ours, ref = self.results.get("sync"), self.results.get("reference")
        if ours and ref:
            lines.append(
                f"  no-op re-sync: phoenix-upsert is {ref.best / ours.best:,.1f}x faster "
                f"(best), {ref.median / ours.median:,.1f}x (median), and uses "
                f"{ref.peak_mb / ours.peak_mb:,.1f}x less memory "
                f"({ours.peak_mb:.0f} MB vs {ref.peak_mb:.0f} MB)"
            )
        return lines


class _Summary:
    """Prints the tables in pytest's terminal summary (after the benchmark tables)."""

    lines: ClassVar[list[str]] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", params=BACKENDS)
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    backend: Backend = request.param
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("phoenix-upsert-bench-cli"):
        plugins.register(_Summary(), "phoenix-upsert-bench-cli")
    with (
        tempfile.TemporaryDirectory(prefix="bench-cli-") as d,
        LocalPhoenix(backend=backend) as phoenix,
    ):
        b = Bench(backend, phoenix, Path(d))
        # Untimed first runs: create both datasets (and the manifest), warm the bytecode.
        b.measure("init-ours", "first sync (untimed)", b.ours_sync("ours"))
        b.measure("init-ref", "first create_dataset (untimed)", b.reference("reference"))
        b.results.clear()
        yield b
        _Summary.lines.extend(b.report())


def pedantic(benchmark: Any, role: str, group: str, rounds: int, fn: Any) -> None:
    benchmark.group = group
    benchmark.extra_info["role"] = role
    benchmark.pedantic(fn, rounds=rounds, iterations=1)


def test_noop_resync_phoenix_client_script(benchmark: Any, bench: Bench) -> None:
    def once() -> None:
        bench.measure(
            "reference",
            "python script: phoenix-client create_dataset",
            bench.reference("reference"),
        )

    pedantic(benchmark, "reference", f"{bench.backend} CLI {N:,}: no-op re-sync", 3, once)
    benchmark.extra_info["peak_rss_mb"] = bench.results["reference"].peak_mb


def test_noop_resync_phoenix_upsert(benchmark: Any, bench: Bench) -> None:
    def once() -> None:
        run = bench.measure("sync", "phoenix-upsert sync (no-op)", bench.ours_sync("ours"))
        out = json.loads(run.stdout)
        assert out["plan"]["action"] == "none" and out["summary"]["unchanged"] == N

    pedantic(benchmark, "ours", f"{bench.backend} CLI {N:,}: no-op re-sync", 7, once)
    benchmark.extra_info["peak_rss_mb"] = bench.results["sync"].peak_mb


def test_check_phoenix_upsert(benchmark: Any, bench: Bench) -> None:
    def once() -> None:
        command = [*command_line(), "sync", str(bench.jsonl), "--dataset", "ours", "--check"]
        bench.measure("check", "phoenix-upsert sync --check (in sync)", command)

    pedantic(benchmark, "ours", f"{bench.backend} CLI {N:,}: sync --check", 7, once)
    benchmark.extra_info["peak_rss_mb"] = bench.results["check"].peak_mb


def test_version(benchmark: Any, bench: Bench) -> None:
    def once() -> None:
        run = bench.measure("version", "phoenix-upsert --version", [*command_line(), "--version"])
        assert run.stdout.startswith("phoenix-upsert ")

    pedantic(benchmark, "ours", "CLI: --version", 7, once)
    benchmark.extra_info["peak_rss_mb"] = bench.results["version"].peak_mb


def test_hash(benchmark: Any, bench: Bench) -> None:
    def once() -> None:
        command = [*command_line(), "hash", str(bench.jsonl)]
        run = bench.measure("hash", f"phoenix-upsert hash ({N:,} examples)", command)
        assert len(run.stdout.splitlines()) == N

    pedantic(benchmark, "ours", f"CLI {N:,}: hash", 7, once)
    benchmark.extra_info["peak_rss_mb"] = bench.results["hash"].peak_mb
