"""The command starts fast: ``phoenix-upsert`` never imports the ``phoenix`` package (whose
``__init__`` loads the whole Phoenix server when ``arize-phoenix`` is installed, as it is
here), whatever it does; ``import phoenix_upsert`` stays light. Proved on the real command,
in processes of their own, from Python's own record of every import (``-X importtime``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_upsert.testing import LocalPhoenix

SCRIPT = shutil.which("phoenix-upsert", path=str(Path(sys.executable).parent))


def imported(stderr: str) -> list[str]:
    """The modules a process imported, from its ``-X importtime`` report."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]


def phoenix_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "phoenix" or m.startswith("phoenix.")]


def run(*args: str, cwd: Path | None = None, entry: str = "script") -> tuple[int, str, list[str]]:
    """Run the command as users do (the installed script, or ``python -m``), recording its
    imports; return (exit code, stdout, imported modules)."""
    if entry == "script":
        assert SCRIPT is not None, "the phoenix-upsert script is not installed"
        command = [sys.executable, "-X", "importtime", SCRIPT, *args]
    else:
        command = [sys.executable, "-X", "importtime", "-m", "phoenix_upsert", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_CLIENT")}
    p = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    modules = imported(p.stderr)
    assert modules, p.stderr  # the report is there
    return p.returncode, p.stdout, modules


def write(path: Path, n: int, tag: str = "a") -> Path:
    rows = [{"id": f"r{i}", "input": {"q": i}, "output": {"tag": tag}} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_phoenix_package_is_there_to_be_avoided() -> None:
    """The premise: in this environment, importing phoenix-client loads Phoenix's server."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import phoenix.client"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    modules = imported(p.stderr)
    assert "phoenix.client" in modules
    assert any(m.startswith("phoenix.server") for m in modules) or len(modules) > 1000


@pytest.mark.parametrize("entry", ["script", "module"])
def test_version_and_hash_import_nothing_of_phoenix(tmp_path: Path, entry: str) -> None:
    code, out, modules = run("--version", entry=entry)
    assert code == 0 and out.startswith("phoenix-upsert ")
    assert phoenix_modules(modules) == []
    assert "httpx" not in modules  # --version needs no HTTP client either

    code, out, modules = run("hash", str(write(tmp_path / "h.jsonl", 3)), entry=entry)
    assert code == 0 and len(out.splitlines()) == 3
    assert phoenix_modules(modules) == []


def test_sync_check_and_dry_run_import_nothing_of_phoenix(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    src = write(tmp_path / "d.jsonl", 4)
    base = [str(src), "--dataset", name, "--endpoint", phoenix.base_url, "-q"]
    base += ["--manifest-dir", str(tmp_path / "m")]
    for args, expected in [
        (["--check"], 1),  # the dataset does not exist yet
        (["--dry-run", "--json"], 0),
        ([], 0),  # creates it
        ([], 0),  # a no-op re-sync (from the manifest)
        (["--check", "--json"], 0),
        (["--no-manifest", "--check"], 0),  # reads the dataset's examples
    ]:
        code, out, modules = run("sync", *base, *args)
        assert code == expected, (args, out)
        assert phoenix_modules(modules) == [], args

    write(src, 5, tag="b")
    code, out, modules = run("sync", *base, "--check")
    assert code == 1 and "out of sync: would append" in out
    assert phoenix_modules(modules) == []
    code, out, modules = run("sync", *base)
    assert code == 0 and "new version" in out
    assert phoenix_modules(modules) == []


def test_sync_of_a_config_imports_nothing_of_phoenix(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    write(tmp_path / "a.jsonl", 2)
    (tmp_path / "phoenix-upsert.toml").write_text(
        f'[[dataset]]\nname = "{name}"\nsource = "a.jsonl"\n'
    )
    endpoint = ["--endpoint", phoenix.base_url, "--manifest-dir", str(tmp_path / "m")]
    for args, expected in [(["--check"], 1), ([], 0), (["--check", "--json"], 0)]:
        code, _, modules = run("sync", *endpoint, *args, cwd=tmp_path)
        assert code == expected, args
        assert phoenix_modules(modules) == []


def test_errors_import_nothing_of_phoenix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    code, _, modules = run("sync", str(bad), "--dataset", "x", "--endpoint", "http://127.0.0.1:9")
    assert code == 2 and phoenix_modules(modules) == []
    ok = write(tmp_path / "ok.jsonl", 1)
    code, _, modules = run(
        "sync", str(ok), "--dataset", "x", "--endpoint", "http://127.0.0.1:9", "--retries", "1"
    )
    assert code == 3 and phoenix_modules(modules) == []


def test_import_phoenix_upsert_stays_light() -> None:
    """The package imports its native core and its errors; the sync client (and with it
    phoenix-client, httpx, tqdm and pandas) only on first use."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import phoenix_upsert"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    modules = imported(p.stderr)
    assert "phoenix_upsert._native" in modules
    heavy = [m for m in modules if m.split(".")[0] in ("phoenix", "httpx", "tqdm", "pandas")]
    assert heavy == []
