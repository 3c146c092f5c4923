"""The phoenix-upsert command, as CI jobs run it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_upsert.cli import main
from phoenix_upsert.testing import LocalPhoenix, free_port

from .helpers import rows, run, write


def test_sync_table_json_and_dry_run(
    phoenix: LocalPhoenix, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path / "d.jsonl", rows(5))
    base = ["sync", str(src), "--dataset", name, "--endpoint", phoenix.base_url]
    base += ["--manifest-dir", str(tmp_path / "m"), "-q"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "added      5" in out and "new version" in out

    write(src, rows(4, tag="b"))
    assert main([*base, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True and plan["plan"]["action"] == "update"
    assert plan["summary"] == {"added": 0, "updated": 4, "deleted": 1, "unchanged": 0}
    assert plan["plan"]["deleted"] == ["r4"]

    assert main([*base, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["new_version"] is True and done["summary"]["updated"] == 4

    assert main([*base, "--json", "--mode", "merge"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["new_version"] is False and again["plan"]["action"] == "none"


def test_bad_input_exits_2_without_contacting_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(
        '{"id": "a", "input": {}, "output": {}}\n{"id": "a", "input": {}, "output": {}}\n'
    )
    args = ["sync", str(src), "--dataset", "x", "--endpoint", "http://127.0.0.1:9", "-q"]
    assert main(args) == 2
    assert "occur more than once" in capsys.readouterr().err
    assert main(["sync", str(tmp_path / "missing.jsonl"), "--dataset", "x", "-q"]) == 2


def test_unreachable_server_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "ok.jsonl", rows(1))
    args = [
        "sync",
        str(src),
        "--dataset",
        "x",
        "--endpoint",
        "http://127.0.0.1:9",
        "--retries",
        "1",
    ]
    assert main([*args, "-q"]) == 3
    assert "error:" in capsys.readouterr().err


def test_unreachable_object_store_exits_3(tmp_path: Path) -> None:
    """A store that cannot be reached is a network error (3), like an unreachable Phoenix;
    a missing object is bad input (2). Real processes; the store's port is closed."""
    store = {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
    }
    args = ["sync", "s3://bucket/data.jsonl", "--dataset", "x", "-q"]
    p = run(*args, endpoint="http://127.0.0.1:9", env=store)
    assert p.returncode == 3, p.stderr
    assert "s3://bucket/data.jsonl: cannot reach it" in p.stderr


def test_hash_command_and_module_entry_point(tmp_path: Path) -> None:
    src = write(tmp_path / "h.jsonl", rows(2))
    out = subprocess.run(
        [sys.executable, "-m", "phoenix_upsert", "hash", str(src)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    assert out[0].endswith("  r0") and len(out[0].split()[0]) == 32


def test_hash_reads_any_source_and_stops_quietly_when_the_reader_does(tmp_path: Path) -> None:
    plain = write(tmp_path / "h.jsonl", rows(3000))
    packed = tmp_path / "h.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    outputs = [
        subprocess.run(
            [sys.executable, "-m", "phoenix_upsert", "hash", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for path in (plain, packed)
    ]
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 3000
    # examples without ids: by content, each named by its line (unless --id-key asks for ids)
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"input": {"a": 1}, "output": {}}\n')
    hashed = subprocess.run(
        [sys.executable, "-m", "phoenix_upsert", "hash", str(bare)], capture_output=True, text=True
    )
    assert hashed.returncode == 0 and hashed.stdout.endswith("  line 1\n"), hashed.stderr
    asked = subprocess.run(
        [sys.executable, "-m", "phoenix_upsert", "hash", str(bare), "--id-key", "id"],
        capture_output=True,
        text=True,
    )
    assert asked.returncode == 2 and "line 1: no source id" in asked.stderr
    # `| head -1`: the reader goes away after one line
    proc = subprocess.Popen(
        [sys.executable, "-m", "phoenix_upsert", "hash", str(plain)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def cli(*args: str, **kw: object) -> subprocess.Popen[str]:
    """The command in a process of its own, as CI runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "phoenix_upsert", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def test_endpoint_that_is_not_the_api_exits_3_naming_it(
    phoenix: LocalPhoenix, tmp_path: Path
) -> None:
    src = write(tmp_path / "ok.jsonl", rows(1))
    endpoint = f"{phoenix.base_url}/v1"  # Phoenix answers its web page, with status 200
    p = cli("sync", str(src), "--dataset", "x", "--endpoint", endpoint, "--no-manifest", "-q")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 3, err
    assert endpoint in err and "not a Phoenix REST API" in err
    assert "Traceback" not in err and out == ""


def test_errors_are_json_on_stdout_with_json(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "input": {"x": NaN}, "output": {}}\n')
    p = cli("sync", str(src), "--dataset", "x", "--endpoint", "http://127.0.0.1:9", "--json")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    error = json.loads(out)
    assert error["exit_code"] == 2 and error["line"] == 1
    assert error["error"] == "JSONLSyntaxError" or error["error"].endswith("Error")
    assert err.startswith("phoenix-upsert: error:")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    silent = socket.socket()  # accepts, never answers: the sync waits
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        src = write(tmp_path / "ok.jsonl", rows(3))
        # As from a terminal: SIGINT not ignored, even when this test runs in a background
        # job (which ignores it, and a child inherits that).
        p = cli(
            "sync",
            str(src),
            "--dataset",
            "x",
            "--endpoint",
            endpoint,
            "--timeout",
            "60",
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        silent.settimeout(120)
        conn, _ = silent.accept()  # the sync is waiting for its first answer
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        conn.close()
    finally:
        silent.close()
    assert p.returncode == 130
    assert err.strip() == "phoenix-upsert: error: interrupted"
