"""The command line with the official client's data forms and with input it cannot use: a CSV
file with ``--input-keys``/``--output-keys``/``--metadata-keys``/``--split-keys`` and the
same keys in a config file (real processes, a real Phoenix); names with U+0000 and arguments
that are not UTF-8 are exit 2 with one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_upsert import _config
from phoenix_upsert._config import ConfigError
from phoenix_upsert.cli import main
from phoenix_upsert.testing import LocalPhoenix

from .helpers import run

CSV = (
    "id,question,answer,topic,fold\n"
    "q1,What is 2+2?,4,math,train\n"
    'q2,"Capital of France, please?",Paris,geography,test\n'
    "q3,Largest planet?,Jupiter,,train\n"
)
KEYS = ["--input-keys", "question", "--output-keys", "answer", "--metadata-keys", "topic"]


def test_sync_a_csv_file_with_its_columns(phoenix: LocalPhoenix, tmp_path: Path, name: str) -> None:
    src = tmp_path / "trivia.csv"
    src.write_text(CSV, encoding="utf-8")
    args = ["sync", str(src), "--dataset", name, *KEYS, "--split-keys", "fold", "--json"]
    done = run(*args, endpoint=phoenix.base_url)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["summary"]["added"] == 3 and result["plan"]["action"] == "create"
    checked = run(*args, "--check", endpoint=phoenix.base_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["status"] == "in_sync"
    # a column that is not there: exit 2, naming the file and the column
    missing = run("sync", str(src), "--dataset", name, "--input-keys", "questoin", "--json",
                  endpoint=phoenix.base_url)  # fmt: skip
    assert missing.returncode == 2
    error = json.loads(missing.stdout)
    assert error["error"] == "MissingColumnError"
    assert "trivia.csv: input_keys: no column 'questoin'" in error["message"]


def test_a_config_file_carries_the_columns(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trivia.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "phoenix-upsert.toml").write_text(
        f"""
[[dataset]]
name = "{name}"
source = "data/trivia.csv"
input_keys = ["question"]
output_keys = ["answer"]
metadata_keys = ["topic"]
split_keys = ["fold"]
""",
        encoding="utf-8",
    )
    done = run("sync", "--json", cwd=tmp_path, endpoint=phoenix.base_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["datasets"][0]["summary"]["added"] == 3
    checked = run("sync", "--check", cwd=tmp_path, endpoint=phoenix.base_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # with a config, the columns are set per dataset there
    refused = run("sync", "--input-keys", "q", cwd=tmp_path, endpoint=phoenix.base_url)
    assert refused.returncode == 2 and "--input-keys describes the dataset of one FILE" in (
        refused.stderr
    )


def test_config_column_lists_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "phoenix-upsert.toml"
    config.write_text('[[dataset]]\nname = "a"\nsource = "a.csv"\ninput_keys = "question"\n')
    with pytest.raises(ConfigError, match="input_keys must be an array of column names"):
        _config.find(str(config))
    config.write_text('[[dataset]]\nname = "a\\u0000b"\nsource = "a.csv"\n')
    with pytest.raises(ConfigError, match=r"name contains U\+0000"):
        _config.find(str(config))


def test_a_config_name_with_nul_exits_2_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": "a", "input": {}, "output": {}}\n')
    (tmp_path / "phoenix-upsert.toml").write_text(
        '[[dataset]]\nname = "bad\\u0000name"\nsource = "a.jsonl"\n'
    )
    done = run("sync", "--json", cwd=tmp_path, endpoint="http://127.0.0.1:9")
    assert done.returncode == 2, done.stderr
    assert "U+0000" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["file", "dataset", "id-key"])
def test_arguments_that_are_not_utf8_exit_2_with_one_line(tmp_path: Path, where: str) -> None:
    src = tmp_path / "ok.jsonl"
    src.write_text('{"id": "a", "input": {}, "output": {}}\n')
    args: list[str | bytes] = ["sync", str(src), "--dataset", "x", "--id-key", "id"]
    if where == "file":
        bad = os.fsencode(tmp_path) + b"/\xff.jsonl"
        (Path(os.fsdecode(bad))).write_text('{"id": "a", "input": {}, "output": {}}\n')
        args[1] = bad
    else:
        args[args.index(f"--{where}") + 1] = b"caf\xe9"
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "phoenix_upsert", *args, *extra, "--endpoint",
             "http://127.0.0.1:9"],
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2, err
        assert "is not valid UTF-8 text" in err and "Traceback" not in err, err
        assert "UnicodeEncodeError" not in err
        if extra:
            out = json.loads(done.stdout)
            assert out["error"] == "ArgumentError" and out["exit_code"] == 2


def test_a_dataset_name_with_nul_is_refused_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (a process cannot be given U+0000 in its arguments; main() can)
    src = tmp_path / "ok.jsonl"
    src.write_text('{"id": "a", "input": {}, "output": {}}\n')
    code = main(["sync", str(src), "--dataset", "a\x00b", "--endpoint", "http://127.0.0.1:9"])
    assert code == 2
    assert "U+0000" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"dataset": "a\x00b"}, "NullCharacterError"),
        ({"dataset_id": "RGF0YXNldDox\x00"}, "NullCharacterError"),
        ({"dataset": "ok", "dataset_description": "d\x00"}, "NullCharacterError"),
        ({"dataset": "lone \udc80"}, "LoneSurrogateError"),
    ],
)
def test_names_phoenix_cannot_store_are_refused_before_any_request(
    kw: dict[str, str], error: str
) -> None:
    import httpx

    import phoenix_upsert as pu

    sent: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    http = httpx.Client(base_url="http://phoenix.invalid", transport=httpx.MockTransport(refuse))
    client = pu.Client(http_client=http)
    with pytest.raises(pu.InvalidInputError) as info:
        client.datasets.upsert_dataset(examples=[{"id": "a", "input": {}, "output": {}}], **kw)
    assert type(info.value).__name__ == error
    assert "nothing was sent" in str(info.value)
    assert sent == []
