"""Many datasets from one config: ``phoenix-upsert.toml`` (or ``[tool.phoenix-upsert]`` in
``pyproject.toml``) lists them; ``phoenix-upsert sync`` / ``sync --check`` without a FILE
does them all, one after the other, on through failures, with one summary and one exit code
(the highest). Real processes against a real Phoenix; the config's checks in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phoenix_upsert import Client, _config
from phoenix_upsert._config import ConfigError
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import server_rows, version_count
from .helpers import rows, run, write


def dataset_info(client: Client, name: str) -> dict[str, Any]:
    response = client._client.get("v1/datasets", params={"name": name})
    response.raise_for_status()
    (info,) = [d for d in response.json()["data"] if d["name"] == name]
    return dict(info)


def test_every_dataset_of_the_config(
    phoenix: LocalPhoenix, client: Client, tmp_path: Path, name: str
) -> None:
    a, b, c = f"{name}-a", f"{name}-b", f"{name}-c"
    write(tmp_path / "data" / "a.jsonl", rows(3))
    b_rows = [{**r, "split": "test" if i % 2 else "train"} for i, r in enumerate(rows(4))]
    b_rows = [{("uid" if k == "id" else k): v for k, v in r.items()} for r in b_rows]
    write(tmp_path / "data" / "b.jsonl", b_rows)
    write(tmp_path / "data" / "c.jsonl", rows(2, tag="c"))
    (tmp_path / "phoenix-upsert.toml").write_text(
        f"""
[[dataset]]
name = "{a}"
source = "data/a.jsonl"

[[dataset]]
name = "{b}"
source = "data/b.jsonl"
id_key = "uid"
splits_key = "split"
mode = "merge"

[[dataset]]
name = "{c}"
source = "./data/c.jsonl"
description = "the c dataset"
"""
    )
    p = run("sync", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == [
        "dataset",
        "result",
        "added",
        "updated",
        "deleted",
        "unchanged",
        "source",
    ]
    assert lines[1].split()[:1] == [a] and "create: new version" in lines[1]
    assert lines[-1] == "3 datasets: 3 synced"
    assert set(server_rows(client, a)) == {"r0", "r1", "r2"}
    stored_b = server_rows(client, b)
    assert set(stored_b) == {"r0", "r1", "r2", "r3"}
    assert {k: v["splits"] for k, v in stored_b.items()} == {
        "r0": ["train"],
        "r1": ["test"],
        "r2": ["train"],
        "r3": ["test"],
    }
    assert dataset_info(client, c)["description"] == "the c dataset"

    p = run("sync", "--check", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "3 datasets: 3 in sync"

    write(tmp_path / "data" / "b.jsonl", b_rows[:2])  # merge: fewer rows is still in sync
    write(tmp_path / "data" / "c.jsonl", rows(3, tag="c"))
    versions = version_count(client, c)
    p = run("sync", "--check", "--json", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["exit_code"] == 1 and out["check"] is True
    assert out["config"] == str(tmp_path / "phoenix-upsert.toml")
    assert out["summary"] == {
        "datasets": 3,
        "in_sync": 2,
        "out_of_sync": 1,
        "synced": 0,
        "failed": 0,
    }
    by_name = {d["dataset"]: d for d in out["datasets"]}
    assert [d["dataset"] for d in out["datasets"]] == [a, b, c]
    assert by_name[c]["status"] == "out_of_sync" and by_name[c]["exit_code"] == 1
    assert by_name[c]["plan"]["added"] == ["r2"] and by_name[c]["source"] == "./data/c.jsonl"
    assert by_name[a]["status"] == "in_sync" and by_name[a]["exit_code"] == 0
    assert version_count(client, c) == versions  # --check wrote nothing

    p = run("sync", "--json", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    statuses = [d["status"] for d in json.loads(p.stdout)["datasets"]]
    assert statuses == ["in_sync", "in_sync", "synced"]
    assert set(server_rows(client, b)) == {"r0", "r1", "r2", "r3"}  # merge never deletes
    assert run("sync", "--check", endpoint=phoenix.base_url, cwd=tmp_path).returncode == 0


def test_keeps_going_after_failures_and_the_worst_code_wins(
    phoenix: LocalPhoenix, client: Client, tmp_path: Path, name: str
) -> None:
    write(tmp_path / "ok.jsonl", rows(2))
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "input": {}, "output": {}}\n{"id": \n')
    config = tmp_path / "phoenix-upsert.toml"
    entries = {
        "missing": f'name = "{name}-missing"\nsource = "nowhere.jsonl"',
        "no-such-id": 'dataset_id = "RGF0YXNldDo5OTk5OTk="\nsource = "ok.jsonl"',
        "ok": f'name = "{name}-ok"\nsource = "ok.jsonl"',
        "bad": f'name = "{name}-bad"\nsource = "bad.jsonl"',
    }
    config.write_text("".join(f"[[dataset]]\n{e}\n\n" for e in entries.values()))
    p = run("sync", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 3, p.stderr
    assert set(server_rows(client, f"{name}-ok")) == {"r0", "r1"}  # synced all the same
    err = p.stderr.splitlines()
    assert len(err) == 3 and all(line.startswith("phoenix-upsert: error: ") for line in err)
    assert f"{name}-missing: " in err[0] and "RGF0YXNldDo5OTk5OTk=: no dataset" in err[1]
    assert f"{name}-bad: " in err[2] and "Traceback" not in p.stderr
    table = p.stdout.splitlines()
    assert "error (exit 2)" in table[1] and "error (exit 3)" in table[2]
    assert "up to date" not in table[3] and "create: new version" in table[3]
    assert table[-1] == "4 datasets: 1 synced, 3 failed"

    p = run("sync", "--check", "--json", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 3
    out = json.loads(p.stdout)
    assert [d["exit_code"] for d in out["datasets"]] == [2, 3, 0, 2]
    assert [d["status"] for d in out["datasets"]] == ["error", "error", "in_sync", "error"]
    missing, no_id, _, bad = out["datasets"]
    assert missing["error"] == "FileNotFoundError" and missing["source"] == "nowhere.jsonl"
    assert no_id["error"] == "DatasetNotFoundError" and no_id["status_code"] == 404
    assert no_id["dataset_id"] == "RGF0YXNldDo5OTk5OTk="
    assert bad["error"] == "JSONLSyntaxError" and bad["line"] == 2

    # input errors and drift, no server error: 2 (bad input beats out of sync)
    write(tmp_path / "ok.jsonl", rows(3))
    config.write_text("".join(f"[[dataset]]\n{entries[k]}\n\n" for k in ("ok", "bad", "missing")))
    p = run("sync", "--check", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "out of sync: would append" in p.stdout
    assert p.stdout.splitlines()[-1] == "3 datasets: 1 out of sync, 2 failed"


def test_one_dataset_by_name_and_by_id_is_refused_before_writing(
    phoenix: LocalPhoenix, client: Client, tmp_path: Path, name: str
) -> None:
    write(tmp_path / "a.jsonl", rows(3))
    write(tmp_path / "b.jsonl", rows(3, tag="b"))
    (tmp_path / "phoenix-upsert.toml").write_text(
        f'[[dataset]]\nname = "{name}"\nsource = "a.jsonl"\n'
    )
    assert run("sync", endpoint=phoenix.base_url, cwd=tmp_path).returncode == 0
    dataset_id = dataset_info(client, name)["id"]
    (tmp_path / "phoenix-upsert.toml").write_text(
        f'[[dataset]]\nname = "{name}"\nsource = "a.jsonl"\n\n'
        f'[[dataset]]\ndataset_id = "{dataset_id}"\nsource = "b.jsonl"\n'
    )
    versions = version_count(client, name)
    p = run("sync", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "are the same dataset" in p.stderr and "b.jsonl" in p.stderr
    assert version_count(client, name) == versions, "wrote despite the error"


def test_pyproject_table_and_config_option(
    phoenix: LocalPhoenix, client: Client, tmp_path: Path, name: str
) -> None:
    project = tmp_path / "project"
    write(project / "evals" / "qa.jsonl", rows(2))
    (project / "pyproject.toml").write_text(
        f"""
[project]
name = "something-else"

[[tool.phoenix-upsert.dataset]]
name = "{name}"
source = "evals/qa.jsonl"
"""
    )
    p = run("sync", endpoint=phoenix.base_url, cwd=project)
    assert p.returncode == 0, p.stderr
    assert set(server_rows(client, name)) == {"r0", "r1"}

    # from elsewhere: paths are relative to the config file, not to the working directory
    write(project / "evals" / "qa.jsonl", rows(3))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = str(project / "pyproject.toml")
    p = run("sync", "--check", "--config", config, endpoint=phoenix.base_url, cwd=elsewhere)
    assert p.returncode == 1, p.stderr
    p = run("sync", "--config", config, "--json", endpoint=phoenix.base_url, cwd=elsewhere)
    assert p.returncode == 0 and json.loads(p.stdout)["config"] == config
    assert set(server_rows(client, name)) == {"r0", "r1", "r2"}

    # phoenix-upsert.toml comes first, and says so
    other = f"{name}-own"
    (project / "phoenix-upsert.toml").write_text(
        f'[[dataset]]\nname = "{other}"\nsource = "evals/qa.jsonl"\n'
    )
    p = run("sync", endpoint=phoenix.base_url, cwd=project)
    assert p.returncode == 0, p.stderr
    assert other in p.stdout and f"{name} " not in p.stdout
    assert "pyproject.toml is ignored" in p.stderr


def test_one_dataset_of_the_config(phoenix: LocalPhoenix, tmp_path: Path, name: str) -> None:
    write(tmp_path / "a.jsonl", rows(1))
    write(tmp_path / "b.jsonl", rows(2))
    (tmp_path / "phoenix-upsert.toml").write_text(
        f'[[dataset]]\nname = "{name}-a"\nsource = "a.jsonl"\n\n'
        f'[[dataset]]\nname = "{name}-b"\nsource = "b.jsonl"\n'
    )
    p = run("sync", "--dataset", f"{name}-b", "--json", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert [d["dataset"] for d in json.loads(p.stdout)["datasets"]] == [f"{name}-b"]
    p = run("sync", "--dataset", "nope", endpoint=phoenix.base_url, cwd=tmp_path)
    assert p.returncode == 2 and "no dataset with name 'nope'" in p.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no FILE given, and no phoenix-upsert.toml"),
        (["--mode", "merge"], "--mode describes the dataset of one FILE"),
        (["--id-key", ""], "--id-key describes the dataset of one FILE"),
        (["x.jsonl", "--config", "c.toml", "--dataset", "d"], "a FILE or --config, not both"),
        (["x.jsonl"], "--dataset NAME or --dataset-id ID"),
        (["--config", "missing.toml"], "no such configuration file"),
    ],
)
def test_argument_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    p = run("sync", *args, endpoint="http://127.0.0.1:9", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr


def test_a_bad_config_exits_2_naming_file_and_entry(tmp_path: Path) -> None:
    config = tmp_path / "phoenix-upsert.toml"
    config.write_text('[[dataset]]\nname = "a"\nsource = "a.jsonl"\nid-key = "uid"\n')
    p = run("sync", "--json", endpoint="http://127.0.0.1:9", cwd=tmp_path)
    assert p.returncode == 2
    out = json.loads(p.stdout)
    assert out["error"] == "ConfigError" and out["config"] == str(config)
    assert out["message"] == (
        f"{config}: dataset 1 ('a'): unknown key 'id-key' (did you mean 'id_key'?)"
    )


# The config's checks, in-process: every mistake names the file and the entry.


def load(tmp_path: Path, text: str, name: str = "phoenix-upsert.toml") -> _config.Config:
    path = tmp_path / name
    path.write_text(text)
    return _config.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[dataset]\n", "not valid TOML"),
        ("", "no datasets; list them as [[dataset]] entries"),
        ("dataset = []\n", "the list of datasets is empty"),
        ('dataset = "x"\n', "'dataset' must be an array of tables"),
        ('datasets = "x"\n', "unknown key 'datasets' (did you mean 'dataset'?)"),
        ('[[dataset]]\nsource = "a"\n', "dataset 1: give exactly one of name"),
        ('[[dataset]]\nname = "a"\ndataset_id = "b"\nsource = "a"\n', "exactly one of name"),
        ('[[dataset]]\nname = "a"\n', "dataset 1 ('a'): no source"),
        ('[[dataset]]\nname = "a"\nsource = ""\n', "source must not be empty"),
        ('[[dataset]]\nname = " "\nsource = "a"\n', "name must not be empty"),
        ('[[dataset]]\nname = 3\nsource = "a"\n', "name must be a string, not a number"),
        ('[[dataset]]\nname = "a"\nsource = ["a"]\n', "source must be a string, not an array"),
        ('[[dataset]]\nname = "a"\nsource = "a"\nmode = "sync"\n', "mode must be"),
        ('[[dataset]]\nname = "a"\nsource = "a"\nallow_empty = "yes"\n', "true or false"),
        ('[[dataset]]\nname = "a"\nsource = "a"\nsplit_key = "s"\n', "'splits_key'?"),
        ('[[dataset]]\nname = "a"\nsource = "a"\nid_key = 1\n', "id_key must be a string"),
        ('[[dataset]]\nname = "a"\nsource = "a"\ndescription = 1\n', "description must be"),
        (
            '[[dataset]]\nname = "a"\nsource = "a"\n[[dataset]]\nname = "b"\nsource = "b"\n'
            '[[dataset]]\nname = "a"\nsource = "c"\n',
            "datasets 1 and 3 both sync name 'a'",
        ),
        (
            '[[dataset]]\ndataset_id = "X"\nsource = "a"\n[[dataset]]\ndataset_id = "X"\n'
            'source = "b"\n',
            "datasets 1 and 2 both sync dataset_id 'X'",
        ),
    ],
)
def test_config_mistakes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(str(tmp_path / "phoenix-upsert.toml") + ":")
    assert message in str(info.value)


def test_pyproject_mistakes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \[tool.phoenix-upsert\] table"):
        load(tmp_path, '[project]\nname = "x"\n', "pyproject.toml")
    with pytest.raises(ConfigError, match=r"\[tool.phoenix-upsert\]: dataset 1: give exactly"):
        load(tmp_path, '[[tool.phoenix-upsert.dataset]]\nsource = "a"\n', "pyproject.toml")
    with pytest.raises(ConfigError, match=r"list them as \[\[tool.phoenix-upsert.dataset\]\]"):
        load(tmp_path, "[tool.phoenix-upsert]\n", "pyproject.toml")
    # a pyproject.toml without the table is not a config: no config found
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert _config.find(cwd=tmp_path) is None


def test_defaults_and_sources(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[[dataset]]
name = "a"
source = "data/a.jsonl"

[[dataset]]
dataset_id = "RGF0YXNldDox"
source = "s3://bucket/evals/b.jsonl.gz"
id_key = ""
splits_key = ""
span_id_key = ""
mode = "merge"
allow_empty = true

[[dataset]]
name = "c"
source = "https://example.com/c.jsonl"

[[dataset]]
name = "d"
source = "/abs/d.jsonl"

[[dataset]]
name = "e"
source = "~/e.jsonl"
""",
    )
    a, b, c, d, e = config.datasets
    assert a == _config.DatasetEntry(
        source=str(tmp_path / "data" / "a.jsonl"), source_text="data/a.jsonl", name="a"
    )
    assert (a.id_key, a.splits_key, a.span_id_key, a.mode) == ("id", "splits", "span_id", "mirror")
    assert b.source == "s3://bucket/evals/b.jsonl.gz" and b.label == "RGF0YXNldDox"
    assert (b.id_key, b.splits_key, b.span_id_key) == (None, None, None)
    assert b.mode == "merge" and b.allow_empty is True
    assert c.source == "https://example.com/c.jsonl"  # passed to the source reader as is
    assert d.source == "/abs/d.jsonl"
    assert e.source == str(Path("~/e.jsonl").expanduser())
