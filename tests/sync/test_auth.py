"""Phoenix with authentication: syncing works with an API key, fails clearly without one or
with a wrong one, and the key never shows up in logs, errors, reprs or the manifest."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.cli import main as cli_main
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import BACKENDS

SECRET = "phoenix-upsert-tests-secret-0123456789abcdef"
ADMIN_SECRET = "phoenix-upsert-tests-admin-9876543210zyxwvu"


@pytest.fixture(scope="module", params=BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPhoenix]:
    env = {
        "PHOENIX_ENABLE_AUTH": "true",
        "PHOENIX_SECRET": SECRET,
        "PHOENIX_ADMIN_SECRET": ADMIN_SECRET,
    }
    work = tmp_path_factory.mktemp(f"auth-{request.param}")
    with LocalPhoenix(working_dir=work, env=env, backend=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def api_key(auth_server: LocalPhoenix) -> str:
    """A system API key, created the way Phoenix supports: the GraphQL mutation, called
    with the admin secret."""
    response = httpx.post(
        f"{auth_server.base_url}/graphql",
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
        json={"query": 'mutation { createSystemApiKey(input: {name: "ci"}) { jwt } }'},
        timeout=30,
    )
    response.raise_for_status()
    key = response.json()["data"]["createSystemApiKey"]["jwt"]
    assert isinstance(key, str) and len(key) > 20
    return key


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"k{i}", "input": {"i": i}, "output": {}} for i in range(n)]


def test_sync_with_a_key_and_no_leaks(
    auth_server: LocalPhoenix,
    api_key: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest_dir = tmp_path / "m"
    with caplog.at_level(logging.DEBUG):
        client = Client(base_url=auth_server.base_url, api_key=api_key)
        ds = client.datasets.upsert_dataset(
            dataset="secured", examples=rows(5), manifest=manifest_dir
        )
        assert ds.summary.added == 5
        time.sleep(1.1)  # the next version's manifest is provable (see _manifest.provable)
        again = client.datasets.upsert_dataset(
            dataset="secured", examples=rows(6), manifest=manifest_dir
        )
        assert again.summary.added == 1 and len(again.examples) == 6
        text = repr(ds) + repr(again) + repr(again.plan) + str(again.summary)
    assert api_key not in caplog.text
    assert api_key not in text
    assert list(manifest_dir.iterdir()), "a manifest was written"
    for f in manifest_dir.iterdir():
        assert api_key.encode() not in f.read_bytes()
        assert b"Bearer" not in f.read_bytes()
    out = capsys.readouterr()
    assert api_key not in out.out + out.err


def test_no_key_or_a_wrong_key_fails_clearly(auth_server: LocalPhoenix, api_key: str) -> None:
    for key in (None, "wrong-" + api_key[6:], "not-a-jwt"):
        client = Client(base_url=auth_server.base_url, api_key=key)
        with pytest.raises(pu.AuthenticationError) as info:
            client.datasets.upsert_dataset(dataset="secured-2", examples=rows(2), manifest=False)
        message = str(info.value)
        assert "401" in message or "403" in message
        assert "PHOENIX_API_KEY" in message
        assert api_key not in message and (key is None or key not in message)
        assert info.value.status_code in (401, 403)


def test_cli_reads_the_key_from_the_environment(
    auth_server: LocalPhoenix,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text('{"id": "x", "input": {}, "output": {}}\n')
    args = ["sync", str(src), "--dataset", "secured-cli", "--endpoint", auth_server.base_url]
    args += ["--no-manifest", "-v"]
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    assert cli_main(args) == 3  # a server error (the exit codes of phoenix_upsert.cli)
    assert "refused the credentials" in capsys.readouterr().err
    monkeypatch.setenv("PHOENIX_API_KEY", api_key)
    assert cli_main(args) == 0
    out = capsys.readouterr()
    assert "added      1" in out.out
    assert api_key not in out.out + out.err


VIEWER = {"email": "viewer@example.com", "username": "viewer", "password": "viewer-pass-0123456789"}


@pytest.fixture(scope="module")
def viewer_key(auth_server: LocalPhoenix) -> str:
    """A viewer's API key, made as a person would: the admin creates the user (GraphQL, with
    the admin secret); the viewer logs in and creates a key of their own."""
    base = auth_server.base_url
    made = httpx.post(
        f"{base}/graphql",
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
        json={
            "query": "mutation($input: CreateUserInput!) { createUser(input: $input) "
            "{ user { id } } }",
            "variables": {"input": {**VIEWER, "role": "VIEWER"}},
        },
        timeout=30,
    )
    made.raise_for_status()
    assert "errors" not in made.json(), made.json()
    with httpx.Client(base_url=base, timeout=30) as session:
        login = session.post(
            "/auth/login", json={"email": VIEWER["email"], "password": VIEWER["password"]}
        )
        assert login.status_code in (200, 204), login.text
        response = session.post(
            "/graphql",
            json={"query": 'mutation { createUserApiKey(input: {name: "v"}) { jwt } }'},
        )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    key = body["data"]["createUserApiKey"]["jwt"]
    assert isinstance(key, str) and len(key) > 20
    return key


def test_a_viewers_key_keeps_the_servers_reason(
    auth_server: LocalPhoenix, api_key: str, viewer_key: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # a viewer may read: the sync plans, then its write is refused with Phoenix's own reason
    client = Client(base_url=auth_server.base_url, api_key=viewer_key)
    with pytest.raises(pu.AuthenticationError) as info:
        client.datasets.upsert_dataset(dataset="viewer", examples=rows(2), manifest=False)
    message = str(info.value)
    assert info.value.status_code == 403
    assert "Viewers cannot perform this action" in message, message
    assert "PHOENIX_API_KEY" in message and viewer_key not in message
    # the command line says the same in its one line
    src = tmp_path / "d.jsonl"
    src.write_text('{"id": "x", "input": {}, "output": {}}\n')
    monkeypatch.setenv("PHOENIX_API_KEY", viewer_key)
    args = ["sync", str(src), "--dataset", "viewer", "--endpoint", auth_server.base_url, "-q"]
    assert cli_main([*args, "--no-manifest"]) == 3
    err = capsys.readouterr().err
    assert "HTTP 403: Viewers cannot perform this action" in err and viewer_key not in err
