"""The command line's own HTTP client, configured from the environment exactly as
phoenix-client configures ``Client()``, without importing the ``phoenix`` package (whose
``__init__`` loads the whole Phoenix server when ``arize-phoenix`` is installed).

The same variables, precedence and formats as phoenix-client 3.5:

- The base URL: ``--endpoint`` if given; else ``PHOENIX_ENDPOINT``; else
  ``PHOENIX_COLLECTOR_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (without a trailing
  ``/v1/traces``); else ``PHOENIX_BASE_URL``; else ``PHOENIX_HOST`` (a bare host gets
  ``PHOENIX_PORT``, and ``0.0.0.0`` means ``127.0.0.1``); else ``http://127.0.0.1:6006``.
  A value that is not a URL is skipped with a warning.
- The headers: ``PHOENIX_CLIENT_HEADERS`` (``name=value`` pairs separated by commas, values
  URL-encoded, as in the W3C baggage header; names are lower-cased) and ``PHOENIX_API_KEY``
  as ``Authorization: Bearer <key>`` unless those headers already carry an authorization.
- A ``.env.phoenix`` file (the nearest in the working directory or above it; a regular
  file owned by the user, at most 64 KiB; only its ``PHOENIX_*`` lines count) supplies a
  group of settings (where the server is; the credentials) when the process environment
  sets none of that group. A ``PHOENIX_ENDPOINT`` in the file still wins over an endpoint
  the process environment only implies through the collector variables.
  ``PHOENIX_DISCOVER_CONFIG=false`` (or 0, no, off) turns the file off.

Nothing here logs header values, so a key never reaches a log.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx

logger = logging.getLogger("phoenix_upsert")

PHOENIX_ENDPOINT = "PHOENIX_ENDPOINT"
PHOENIX_COLLECTOR_ENDPOINT = "PHOENIX_COLLECTOR_ENDPOINT"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
PHOENIX_BASE_URL = "PHOENIX_BASE_URL"
PHOENIX_HOST = "PHOENIX_HOST"
PHOENIX_PORT = "PHOENIX_PORT"
PHOENIX_API_KEY = "PHOENIX_API_KEY"
PHOENIX_CLIENT_HEADERS = "PHOENIX_CLIENT_HEADERS"
PHOENIX_DISCOVER_CONFIG = "PHOENIX_DISCOVER_CONFIG"
ENV_FILE_NAME = ".env.phoenix"
ENV_FILE_MAX_BYTES = 64 * 1024
DEFAULT_HOST, DEFAULT_PORT = "0.0.0.0", 6006

#: phoenix-client's per-request defaults (the sync sets its own timeouts per request).
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)

_COLLECTOR_KEYS = (PHOENIX_COLLECTOR_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT)
#: Base-URL variables, best first.
_BASE_URL_KEYS = (PHOENIX_ENDPOINT, *_COLLECTOR_KEYS, PHOENIX_BASE_URL, PHOENIX_HOST)
_LOCATION_KEYS = (*_BASE_URL_KEYS, PHOENIX_PORT)
#: The location variables whose presence in a tier makes that tier the one read
#: (``PHOENIX_BASE_URL``, a compatibility fallback, does not).
_LOCATION_CLAIMS = tuple(k for k in _LOCATION_KEYS if k != PHOENIX_BASE_URL)
_CREDENTIAL_KEYS = (PHOENIX_API_KEY, PHOENIX_CLIENT_HEADERS)

_OTLP_TRACES_SUFFIX = re.compile(r"/+v1/traces/?(?=$|[?#])")
_HAS_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# PHOENIX_CLIENT_HEADERS, as W3C baggage without properties: a name is a token (visible
# ASCII except separators), a value is URL-encoded (visible ASCII except '"', ',', ';', '\').
_TOKEN = r"[!#-'*+\-.0-9A-Z^-z|~]+"
_BAGGAGE_VALUE = r"[!#-+\--:<-\[\]-~]*"
_HEADER_ITEM = re.compile(rf"[ \t]*{_TOKEN}[ \t]*=[ \t]*{_BAGGAGE_VALUE}[ \t]*")
_HEADER_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")


@dataclass(frozen=True)
class _Tier:
    """Where a group of settings came from: the process environment or a ``.env.phoenix``."""

    kind: str  # "process" or "file"
    path: Path | None = None


def _clean(value: str | None) -> str | None:
    """A value without surrounding blanks; a blank value counts as unset."""
    return (value.strip() or None) if value is not None else None


def _process_values(keys: Iterable[str]) -> dict[str, str]:
    return {k: v for k in keys if (v := _clean(os.environ.get(k))) is not None}


def _discovery_enabled() -> bool:
    value = os.environ.get(PHOENIX_DISCOVER_CONFIG)
    return value is None or value.strip().lower() not in ("false", "0", "no", "off")


def _trusted(st: os.stat_result) -> bool:
    """A regular file owned by the user running us (where ownership means anything)."""
    if not stat.S_ISREG(st.st_mode):
        return False
    if sys.platform == "win32" or not hasattr(os, "getuid"):
        return True
    return st.st_uid == os.getuid()


def _skip_file(path: Path, why: str) -> None:
    logger.warning("Ignoring %s: %s.", path, why)


def _parse_env_file(text: str) -> dict[str, str]:
    """The non-empty ``PHOENIX_*`` settings of a dotenv file."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key.startswith("PHOENIX_") or not _ENV_KEY.match(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value:
            out[key] = value
    return out


class _EnvFile:
    """The nearest trusted ``.env.phoenix``, read at most once."""

    def __init__(self) -> None:
        self._loaded = False
        self.path: Path | None = None
        self.values: dict[str, str] = {}

    def _find(self, start: Path) -> Path | None:
        for directory in (start, *start.parents):
            candidate = directory / ENV_FILE_NAME
            try:
                st = candidate.stat()
            except FileNotFoundError:
                continue
            except OSError:
                _skip_file(candidate, "file could not be inspected")
                continue
            if _trusted(st):
                return candidate
            _skip_file(candidate, "file must be a regular file owned by the current user")
        return None

    def load(self) -> tuple[Path | None, dict[str, str]]:
        if self._loaded:
            return self.path, self.values
        self._loaded = True
        if not _discovery_enabled():
            return None, {}
        try:
            start = Path.cwd()
        except OSError:
            return None, {}
        path = self._find(start)
        self.path = path
        if path is None:
            return None, {}
        too_big = f"file exceeds {ENV_FILE_MAX_BYTES} bytes"
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())  # trust what was opened, not only what was named
                if not _trusted(st):
                    _skip_file(path, "opened file must be a regular file owned by the current user")
                elif st.st_size > ENV_FILE_MAX_BYTES:
                    _skip_file(path, too_big)
                else:
                    if os.name == "posix" and st.st_mode & 0o066:
                        logger.warning(
                            "%s is accessible by other users (mode %s). It may contain "
                            "credentials; consider restricting its permissions, e.g. "
                            "`chmod 600 %s`.",
                            path,
                            oct(st.st_mode & 0o777),
                            path,
                        )
                    data = f.read(ENV_FILE_MAX_BYTES + 1)
                    if len(data) > ENV_FILE_MAX_BYTES:
                        _skip_file(path, too_big)
                    else:
                        self.values = _parse_env_file(data.decode("utf-8"))
        except (OSError, UnicodeError):
            _skip_file(path, "file could not be read")
        return self.path, self.values

    def values_for(self, keys: Iterable[str]) -> tuple[Path | None, dict[str, str]]:
        path, values = self.load()
        return path, {k: v for k in keys if (v := _clean(values.get(k))) is not None}


def _resolve(
    env_file: _EnvFile, keys: tuple[str, ...], claims: tuple[str, ...] | None = None
) -> tuple[dict[str, str], _Tier | None]:
    """A group of related settings, all from one tier: the process environment if it sets
    one of the group's claiming keys, else the ``.env.phoenix`` file if that does, else
    whatever the process sets (nothing mixes the two tiers)."""
    claims = keys if claims is None else claims
    process = _process_values(keys)
    if any(k in process for k in claims):
        return process, _Tier("process")
    path, values = env_file.values_for(keys)
    if not any(k in values for k in claims) and process:
        return process, _Tier("process")
    return values, (_Tier("file", path) if values and path else None)


def _invalid(key: str, value: str, why: str, *, from_file: bool) -> None:
    where = f"a discovered {ENV_FILE_NAME} file" if from_file else "the process environment"
    logger.warning("Ignoring invalid %s value from %s: %s. %s", key, where, value, why)


def _port(value: str | None) -> int:
    if not value:
        return DEFAULT_PORT
    if value.isnumeric():
        return int(value)
    why = "Value must be an integer."
    if _clean(os.environ.get(PHOENIX_PORT)) is not None:
        raise ValueError(f"Invalid value for environment variable {PHOENIX_PORT}: {value}. {why}")
    _invalid(PHOENIX_PORT, value, why, from_file=True)
    return DEFAULT_PORT


def _candidate_url(key: str, value: str, port: str | None) -> str:
    """A variable's value as a base URL, by what that variable holds."""
    if key in _COLLECTOR_KEYS:
        return _OTLP_TRACES_SUFFIX.sub("", value) or value
    if key == PHOENIX_HOST and not _HAS_SCHEME.match(value):
        host = "127.0.0.1" if value == "0.0.0.0" else value
        return f"http://{host}" if ":" in host else f"http://{host}:{_port(port)}"
    return value


def base_url_from_env(env_file: _EnvFile | None = None) -> httpx.URL:
    """The Phoenix base URL the environment names (see the module docs)."""
    env_file = env_file or _EnvFile()
    values, tier = _resolve(env_file, _LOCATION_KEYS, _LOCATION_CLAIMS)
    candidates = [(k, values[k], tier) for k in _BASE_URL_KEYS if k in values]
    if (not candidates or candidates[0][0] != PHOENIX_ENDPOINT) and (
        tier is not None and tier.kind == "process"
    ):
        # The file's canonical PHOENIX_ENDPOINT beats a process value merely implied by a
        # collector variable.
        path, file_values = env_file.values_for((PHOENIX_ENDPOINT,))
        if PHOENIX_ENDPOINT in file_values:
            candidates.insert(
                0, (PHOENIX_ENDPOINT, file_values[PHOENIX_ENDPOINT], _Tier("file", path))
            )
    credentials, credential_tier = _resolve(env_file, _CREDENTIAL_KEYS)
    process_credentials = bool(credentials) and (
        credential_tier is not None and credential_tier.kind == "process"
    )
    port = values.get(PHOENIX_PORT)
    for key, value, source in candidates:
        text = _candidate_url(key, value, port)
        from_file = source is not None and source.kind == "file"
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL:
            why = "Value must be a valid URL. Falling back to the next configured variable."
            _invalid(key, text, why, from_file=from_file)
            continue
        if process_credentials and from_file and source is not None and source.path:
            logger.warning(
                "Credentials from the process environment will be sent to %s set by %s.",
                key,
                source.path,
            )
        return url
    return httpx.URL(_candidate_url(PHOENIX_HOST, DEFAULT_HOST, port))


def parse_headers(text: str | None) -> dict[str, str]:
    """``PHOENIX_CLIENT_HEADERS``: ``name=value,name2=value2`` (URL-encoded values)."""
    headers: dict[str, str] = {}
    for item in _HEADER_SEPARATOR.split(text or ""):
        if not item:
            continue
        if not _HEADER_ITEM.fullmatch(item.strip()):
            logger.warning(
                "Ignoring a malformed header in %s (values must be URL-encoded)",
                PHOENIX_CLIENT_HEADERS,
            )
            continue
        name, value = item.strip().split("=", 1)
        headers[unquote(name).strip().lower()] = unquote(value).strip()
    return headers


def headers_from_env(env_file: _EnvFile | None = None) -> dict[str, str]:
    """The headers the environment asks for: ``PHOENIX_CLIENT_HEADERS``, and
    ``PHOENIX_API_KEY`` as a bearer token unless those headers authorize already."""
    values, _ = _resolve(env_file or _EnvFile(), _CREDENTIAL_KEYS)
    headers = parse_headers(values.get(PHOENIX_CLIENT_HEADERS))
    key = values.get(PHOENIX_API_KEY)
    if key and "authorization" not in (name.lower() for name in headers):
        headers["Authorization"] = f"Bearer {key}"
    return headers


def settings(endpoint: str | None = None) -> tuple[httpx.URL, dict[str, str]]:
    """The base URL and headers of the client :func:`make_client` builds."""
    env_file = _EnvFile()
    headers = headers_from_env(env_file)
    base_url = httpx.URL(endpoint) if endpoint else base_url_from_env(env_file)
    return base_url, headers


def make_client(endpoint: str | None = None) -> httpx.Client:
    """An httpx client for Phoenix at ``endpoint`` (default: from the environment), with
    the environment's headers and credentials."""
    base_url, headers = settings(endpoint)
    return httpx.Client(base_url=base_url, headers=headers, timeout=DEFAULT_TIMEOUT)
