"""``phoenix-upsert sync --check``, the drift check for CI: exit 0 when the dataset equals
its source, 1 when it does not (printing the plan), never a write; and the one table of
exit codes. Real processes against a real Phoenix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_upsert import Client, cli
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import server_rows, version_count
from .helpers import rows, run, write


def dataset_exists(client: Client, name: str) -> bool:
    response = client._client.get("v1/datasets", params={"name": name})
    response.raise_for_status()
    return any(d["name"] == name for d in response.json()["data"])


def test_check_exits_0_in_sync_1_out_of_sync_and_never_writes(
    phoenix: LocalPhoenix, client: Client, tmp_path: Path, name: str
) -> None:
    src = write(tmp_path / "d.jsonl", rows(5))
    check = ["sync", str(src), "--dataset", name, "--check"]

    p = run(*check, endpoint=phoenix.base_url)
    assert p.returncode == 1, p.stderr
    assert "out of sync: would create" in p.stdout and "add (5)" in p.stdout
    assert not dataset_exists(client, name)  # --check never creates

    assert run("sync", str(src), "--dataset", name, endpoint=phoenix.base_url).returncode == 0
    p = run(*check, endpoint=phoenix.base_url)
    assert p.returncode == 0, p.stderr
    assert "result     in sync" in p.stdout and "unchanged  5" in p.stdout

    changed = rows(5)
    changed[0]["output"] = {"tag": "edited"}
    del changed[3]
    changed.append({"id": "new", "input": {"q": "new"}, "output": {}})
    write(src, changed)
    versions = version_count(client, name)
    before = server_rows(client, name)
    p = run(*check, endpoint=phoenix.base_url)
    assert p.returncode == 1, p.stderr
    assert "out of sync: would update" in p.stdout
    assert "add (1)" in p.stdout and "new" in p.stdout
    assert "update (1)" in p.stdout and "delete (1)" in p.stdout and "r3" in p.stdout

    p = run(*check, "--json", endpoint=phoenix.base_url)
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["check"] is True and out["dry_run"] is True and out["status"] == "out_of_sync"
    assert out["plan"] == {
        "action": "update",
        "added": ["new"],
        "updated": ["r0"],
        "split_changes": [],
        "deleted": ["r3"],
    }
    assert out["summary"] == {"added": 1, "updated": 1, "deleted": 1, "unchanged": 3}
    assert version_count(client, name) == versions and server_rows(client, name) == before

    assert run("sync", str(src), "--dataset", name, endpoint=phoenix.base_url).returncode == 0
    p = run(*check, "--json", endpoint=phoenix.base_url)
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "in_sync"


def test_check_sees_split_changes_and_merge_mode(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    data = [{**r, "splits": ["train"]} for r in rows(3)]
    src = write(tmp_path / "s.jsonl", data)
    base = ["sync", str(src), "--dataset", name, "--no-manifest"]
    assert run(*base, endpoint=phoenix.base_url).returncode == 0
    data[1]["splits"] = ["test"]
    write(src, data)
    p = run(*base, "--check", endpoint=phoenix.base_url)
    assert p.returncode == 1 and "change splits (1)  r1" in p.stdout
    assert run(*base, endpoint=phoenix.base_url).returncode == 0
    assert run(*base, "--check", endpoint=phoenix.base_url).returncode == 0

    write(src, data[:2])  # one fewer: merge never deletes, so merge is in sync
    assert run(*base, "--check", "--mode", "merge", endpoint=phoenix.base_url).returncode == 0
    assert run(*base, "--check", endpoint=phoenix.base_url).returncode == 1


def test_check_errors_keep_their_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "input": {}, "output": {}}\n{"id": "a", "input": {}, "output": {}}\n'
    )
    p = run("sync", str(bad), "--dataset", "x", "--check", "--json", endpoint="http://127.0.0.1:9")
    assert p.returncode == 2 and json.loads(p.stdout)["exit_code"] == 2
    ok = write(tmp_path / "ok.jsonl", rows(1))
    args = ["sync", str(ok), "--dataset", "x", "--check", "--retries", "1"]
    p = run(*args, endpoint="http://127.0.0.1:9")
    assert p.returncode == 3 and p.stderr.startswith("phoenix-upsert: error:")
    p = run(*args, endpoint="localhost:6006")  # no scheme: a bad argument
    assert p.returncode == 2 and "not an http:// or https:// URL" in p.stderr


def test_one_table_of_exit_codes() -> None:
    """The module docs, ``--help`` and ``sync --help`` show the same codes, and the code
    uses them."""
    table = {
        int(line.split()[0]): line.split(None, 1)[1]
        for line in cli.EXIT_CODES.splitlines()[1:]
        if line.strip()
    }
    assert (
        table.keys()
        == {
            cli.EXIT_OK,
            cli.EXIT_OUT_OF_SYNC,
            cli.EXIT_INPUT,
            cli.EXIT_SERVER,
            cli.EXIT_INTERRUPTED,
        }
        == {0, 1, 2, 3, 130}
    )
    doc = " ".join((cli.__doc__ or "").split())
    for code, text in table.items():
        assert f"{code} {' '.join(text.split())}" in doc
    for args in (["--help"], ["sync", "--help"]):
        p = subprocess.run(
            [sys.executable, "-m", "phoenix_upsert", *args], capture_output=True, text=True
        )
        assert p.returncode == 0
        assert cli.EXIT_CODES.strip() in p.stdout


@pytest.mark.parametrize("flag", ["--dry-run", "--check"])
def test_dry_run_and_check_list_what_they_would_do(
    phoenix: LocalPhoenix, tmp_path: Path, name: str, flag: str
) -> None:
    src = write(tmp_path / "d.jsonl", rows(25))
    p = run("sync", str(src), "--dataset", name, flag, endpoint=phoenix.base_url)
    assert p.returncode == (1 if flag == "--check" else 0)
    assert "add (25)" in p.stdout and "r0, r1" in p.stdout and "(+15 more)" in p.stdout


def test_argument_errors_are_json_too_with_json(tmp_path: Path) -> None:
    for args in (["--bogus"], ["x.jsonl", "--dataset", "d", "--retries", "0"]):
        p = run("sync", *args, "--json", endpoint="http://127.0.0.1:9", cwd=tmp_path)
        assert p.returncode == 2, p.stderr
        out = json.loads(p.stdout)
        assert out["exit_code"] == 2 and out["message"] in p.stderr
