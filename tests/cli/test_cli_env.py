"""The command line configures its HTTP client from the environment exactly as
phoenix-client's ``Client()`` does: base URL, headers and API key, from the process
environment and from ``.env.phoenix`` files, compared scenario by scenario against the real
phoenix-client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phoenix_upsert import _http

VARIABLES = (
    "PHOENIX_ENDPOINT",
    "PHOENIX_COLLECTOR_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PHOENIX_BASE_URL",
    "PHOENIX_HOST",
    "PHOENIX_PORT",
    "PHOENIX_API_KEY",
    "PHOENIX_CLIENT_HEADERS",
    "PHOENIX_DISCOVER_CONFIG",
)

# (process environment, .env.phoenix in the working directory, .env.phoenix one level up)
SCENARIOS: dict[str, tuple[dict[str, str], str | None, str | None]] = {
    "nothing set": ({}, None, None),
    "collector endpoint": ({"PHOENIX_COLLECTOR_ENDPOINT": "http://ph:1234"}, None, None),
    "collector endpoint with /v1/traces": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "https://ph.example/base//v1/traces/"},
        None,
        None,
    ),
    "collector endpoint with a path": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "https://ph.example/phoenix/"},
        None,
        None,
    ),
    "canonical endpoint wins": (
        {"PHOENIX_ENDPOINT": "http://canon:1", "PHOENIX_COLLECTOR_ENDPOINT": "http://coll:2"},
        None,
        None,
    ),
    "otel endpoint": ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318/v1/traces"}, None, None),
    "collector beats otel": (
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:1",
            "PHOENIX_COLLECTOR_ENDPOINT": "http://c:2",
        },
        None,
        None,
    ),
    "legacy base url": ({"PHOENIX_BASE_URL": "http://legacy:9"}, None, None),
    "collector beats legacy base url": (
        {"PHOENIX_BASE_URL": "http://legacy:9", "PHOENIX_COLLECTOR_ENDPOINT": "http://c:2"},
        None,
        None,
    ),
    "bare host and port": ({"PHOENIX_HOST": "myhost", "PHOENIX_PORT": "7000"}, None, None),
    "bind-all host": ({"PHOENIX_HOST": "0.0.0.0"}, None, None),
    "host with its port": ({"PHOENIX_HOST": "myhost:9999", "PHOENIX_PORT": "1"}, None, None),
    "host as a url": ({"PHOENIX_HOST": "HTTPS://secure.example"}, None, None),
    "port only": ({"PHOENIX_PORT": "7007"}, None, None),
    "blank values are unset": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "   ", "PHOENIX_API_KEY": " ", "PHOENIX_PORT": ""},
        None,
        None,
    ),
    "values are trimmed": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "  http://trim:5  ", "PHOENIX_API_KEY": " k "},
        None,
        None,
    ),
    "api key": ({"PHOENIX_API_KEY": "secret-key"}, None, None),
    "headers": (
        {"PHOENIX_CLIENT_HEADERS": "X-Team=ml, x-route = a%2Cb%20c ,k=v=w, bad header,,"},
        None,
        None,
    ),
    "headers and api key": (
        {"PHOENIX_CLIENT_HEADERS": "x-team=ml", "PHOENIX_API_KEY": "secret-key"},
        None,
        None,
    ),
    "an authorization header beats the api key": (
        {"PHOENIX_CLIENT_HEADERS": "Authorization=Basic%20eHl6", "PHOENIX_API_KEY": "k"},
        None,
        None,
    ),
    "url-encoded header names": ({"PHOENIX_CLIENT_HEADERS": "x%2Dname=1"}, None, None),
    "invalid canonical url falls back": (
        {"PHOENIX_ENDPOINT": "http://bad:port", "PHOENIX_COLLECTOR_ENDPOINT": "http://good:1"},
        None,
        None,
    ),
    "invalid file url falls back to the default": ({}, "PHOENIX_ENDPOINT=http://bad:port\n", None),
    "file only": (
        {},
        "PHOENIX_COLLECTOR_ENDPOINT=http://file:1\nPHOENIX_API_KEY=file-key\n",
        None,
    ),
    "file syntax": (
        {},
        "# comment\n\nexport PHOENIX_ENDPOINT = 'http://quoted:2'\nNOT_PHOENIX=x\n"
        'PHOENIX_CLIENT_HEADERS="x-a=1"\nPHOENIX_API_KEY=\nbroken line\n1PHOENIX_X=y\n',
        None,
    ),
    "process location beats the file's": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "http://proc:1"},
        "PHOENIX_COLLECTOR_ENDPOINT=http://file:2\nPHOENIX_HOST=filehost\n",
        None,
    ),
    "file canonical endpoint beats an implied process endpoint": (
        {"PHOENIX_COLLECTOR_ENDPOINT": "http://proc:1", "PHOENIX_API_KEY": "proc-key"},
        "PHOENIX_ENDPOINT=http://file-canon:2\n",
        None,
    ),
    "process canonical endpoint beats the file's": (
        {"PHOENIX_ENDPOINT": "http://proc:1"},
        "PHOENIX_ENDPOINT=http://file-canon:2\n",
        None,
    ),
    "credentials tier: process headers hide the file key": (
        {"PHOENIX_CLIENT_HEADERS": "x-a=1"},
        "PHOENIX_API_KEY=file-key\nPHOENIX_CLIENT_HEADERS=x-b=2\n",
        None,
    ),
    "legacy base url in process does not hide the file": (
        {"PHOENIX_BASE_URL": "http://legacy:9"},
        "PHOENIX_COLLECTOR_ENDPOINT=http://file:1\n",
        None,
    ),
    "legacy base url in process, nothing in file": (
        {"PHOENIX_BASE_URL": "http://legacy:9"},
        "PHOENIX_API_KEY=file-key\n",
        None,
    ),
    "port from file with host from file": ({}, "PHOENIX_HOST=fh\nPHOENIX_PORT=8123\n", None),
    "invalid port in the file is ignored": ({}, "PHOENIX_HOST=fh\nPHOENIX_PORT=abc\n", None),
    "file in a parent directory": ({}, None, "PHOENIX_ENDPOINT=http://parent:3\n"),
    "nearest file wins": ({}, "PHOENIX_API_KEY=near\n", "PHOENIX_API_KEY=far\n"),
    "discovery turned off": (
        {"PHOENIX_DISCOVER_CONFIG": "Off"},
        "PHOENIX_ENDPOINT=http://file:1\n",
        None,
    ),
    "discovery explicitly on": (
        {"PHOENIX_DISCOVER_CONFIG": "true"},
        "PHOENIX_ENDPOINT=http://file:1\n",
        None,
    ),
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for key in VARIABLES:
        monkeypatch.delenv(key, raising=False)
    yield monkeypatch


def _prepare(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    here: str | None,
    parent: str | None,
) -> None:
    cwd = tmp_path / "project" / "sub"
    cwd.mkdir(parents=True)
    if here is not None:
        (cwd / ".env.phoenix").write_text(here)
        os.chmod(cwd / ".env.phoenix", 0o600)
    if parent is not None:
        (cwd.parent / ".env.phoenix").write_text(parent)
        os.chmod(cwd.parent / ".env.phoenix", 0o600)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)


def _phoenix_client(endpoint: str | None = None) -> httpx.Client:
    from phoenix.client import Client
    from phoenix.client.utils.config import clear_env_file_cache

    clear_env_file_cache()
    client = Client(base_url=endpoint) if endpoint else Client()
    http = client._client
    assert isinstance(http, httpx.Client)
    return http


def _same(ours: httpx.Client, theirs: httpx.Client) -> None:
    assert str(ours.base_url) == str(theirs.base_url)
    assert dict(ours.headers) == dict(theirs.headers)
    assert ours.timeout == theirs.timeout


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_client_as_phoenix_client(
    scenario: str, environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env, here, parent = SCENARIOS[scenario]
    _prepare(environment, tmp_path, env, here, parent)
    theirs = _phoenix_client()
    with _http.make_client() as ours:
        _same(ours, theirs)
    # --endpoint, like Client(base_url=...), replaces the URL and keeps the headers
    theirs = _phoenix_client("http://explicit:4242/root")
    with _http.make_client("http://explicit:4242/root") as ours:
        _same(ours, theirs)


def test_invalid_port_in_the_process_environment_is_an_error(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _prepare(environment, tmp_path, {"PHOENIX_HOST": "h", "PHOENIX_PORT": "http"}, None, None)
    with pytest.raises(ValueError, match="PHOENIX_PORT"):
        _phoenix_client()
    with pytest.raises(ValueError, match="PHOENIX_PORT"):
        _http.make_client()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root")
def test_a_file_owned_by_someone_else_is_ignored(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _prepare(environment, tmp_path, {}, "PHOENIX_ENDPOINT=http://theirs:1\n", None)
    os.chown(".env.phoenix", 12345, 12345)
    theirs = _phoenix_client()
    with _http.make_client() as ours:
        _same(ours, theirs)
        assert ours.base_url.host == "127.0.0.1"


def test_a_world_readable_file_is_read_with_a_warning(
    environment: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _prepare(environment, tmp_path, {}, "PHOENIX_API_KEY=k\n", None)
    os.chmod(".env.phoenix", 0o644)
    with _http.make_client() as ours:
        assert ours.headers["authorization"] == "Bearer k"
    assert "accessible by other users" in caplog.text and "Bearer" not in caplog.text
