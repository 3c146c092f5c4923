"""The Phoenix REST reads of the features beside the sync (version diffs, experiments, a
synced dataset's examples), with explicit timeouts, retries and typed errors. (The sync's
own requests are decided by the core's engine, ``rust/src/sync``, and sent by
``driver.py``.)

Reads (GET) are retried with backoff on connection errors, 429 and 5xx: repeating them is
harmless. Nothing here logs or repeats request headers, so an API key cannot leak into logs
or errors.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from phoenix_upsert.errors import (
    AuthenticationError,
    DatasetNotFoundError,
    ServerError,
    ServerTooOldError,
)

logger = logging.getLogger("phoenix_upsert")

#: Oldest Phoenix server with dataset example ids and ``action=update`` uploads.
MIN_SERVER_VERSION = (15, 0, 0)

T = TypeVar("T")

#: Headers of every read: the answer must come from Phoenix, not from a cache in between (a
#: shared cache that served an old export or versions list would make a sync prove a state
#: the server no longer holds).
READ_HEADERS = {"accept": "application/json", "cache-control": "no-cache", "pragma": "no-cache"}


def shown_url(url: httpx.URL | str) -> str:
    """A URL as errors, logs and the manifest show it: without user name and password
    (also when it is not a valid URL)."""
    try:
        parsed = httpx.URL(str(url))
        if parsed.userinfo:
            parsed = parsed.copy_with(username=None, password=None)
        return str(parsed).rstrip("/")
    except (httpx.InvalidURL, TypeError, ValueError):
        return re.sub(r"(?<=//)[^/@]*@", "", str(url)).rstrip("/")


def global_id(text: object) -> tuple[str, int] | None:
    """``(type name, row id)`` of a Phoenix GlobalID (``Type:<n>`` in base64), or ``None``."""
    import base64

    raw = str(text).strip()
    try:
        kind, _, number = base64.b64decode(raw + "=" * (-len(raw) % 4)).decode().partition(":")
        return (kind, int(number))
    except (ValueError, UnicodeDecodeError):
        return None


def version_number(version: dict[str, Any]) -> int:
    """The row id behind a version's id, or -1: what Phoenix orders versions by."""
    decoded = global_id(version.get("version_id", ""))
    return decoded[1] if decoded is not None and decoded[0] == "DatasetVersion" else -1


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry what is safe to retry."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 15.0

    def delay(
        self, attempt: int, retry_after: float | None = None, *, jitter: str = "half"
    ) -> float:
        """Seconds to wait before try ``attempt + 1``: exponential, jittered — by half the
        window, or (``jitter="full"``, for writers contending for one dataset) over all of
        it, so that two writers that collided do not retry in step."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), 60.0)
        base = min(self.max_backoff, self.backoff * 2.0**attempt)
        if jitter == "full":
            return base * random.random()
        return base * (0.5 + random.random() / 2)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:2000]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:2000]
    return response.text.strip()[:2000]


def auth_message(what: str, status: int, detail: str) -> str:
    """What a refusal says: the server's own reason (a viewer's key: "Viewers cannot perform
    this action."), and what to do about it."""
    reason = f": {detail}" if detail else ""
    if status == 403:
        return (
            f"{what}: the server refused the request (HTTP 403{reason}); the credentials "
            "are not allowed to do this: set PHOENIX_API_KEY (or pass api_key=) to a key "
            "that is, e.g. a member's or an admin's for a write"
        )
    return (
        f"{what}: the server refused the credentials (HTTP {status}{reason}); "
        "set PHOENIX_API_KEY or pass api_key="
    )


def is_retryable(exc: BaseException) -> bool:
    """Connection trouble, timeouts, 429 and 5xx: worth another try later."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, ServerError) and not isinstance(
        exc, (AuthenticationError, ServerTooOldError)
    ):
        return exc.status_code is not None and (exc.status_code == 429 or exc.status_code >= 500)
    return False


def retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, ServerError) else None


def check(response: httpx.Response, what: str) -> httpx.Response:
    """Raise a typed error for an unsuccessful response."""
    if response.is_success:
        return response
    status = response.status_code
    detail = _detail(response)
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        err: ServerError = AuthenticationError(
            auth_message(what, status, detail), status_code=status, detail=detail
        )
    elif status == 422 and (
        "Invalid dateset action" in detail or "Invalid dataset action" in detail
    ):
        err = ServerTooOldError(
            f"{what}: this Phoenix server does not support declarative dataset updates; "
            f"phoenix-upsert needs Phoenix >= {'.'.join(map(str, MIN_SERVER_VERSION))}",
            status_code=status,
            detail=detail,
        )
    else:
        err = ServerError(message, status_code=status, detail=detail)
    if status == 429:
        try:
            err.retry_after = float(response.headers.get("retry-after", ""))
        except ValueError:
            pass
    raise err


def _json(response: httpx.Response, what: str, base_url: str) -> Any:
    """The JSON object of a successful response, or a clear error for anything else (a web
    page answering 200: the endpoint is not Phoenix's REST API)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise ServerError(
            f"{what}: {base_url} is not a Phoenix REST API: {response.request.url.path} "
            f"answered HTTP {response.status_code} with {kind} instead of a JSON object (give "
            "the server's base URL, e.g. http://localhost:6006, without /v1)",
            status_code=response.status_code,
        )
    return body


class Server:
    """Phoenix's dataset endpoints, over the client's own httpx.Client (its base URL and
    headers, including authentication)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        retry: RetryPolicy,
        timeout: float | None,
    ) -> None:
        self.http = http
        self.retry = retry
        self.timeout = timeout

    def _ok(self, response: httpx.Response, what: str) -> httpx.Response:
        return check(response, what)

    @property
    def base_url(self) -> str:
        """The server's base URL without credentials (for errors, logs, the manifest)."""
        return shown_url(self.http.base_url)

    def _timeout(self, default: float) -> httpx.Timeout:
        seconds = self.timeout if self.timeout is not None else default
        return httpx.Timeout(seconds, connect=min(seconds, 15.0))

    def with_retries(self, what: str, call: Callable[[], T]) -> T:
        """Run a repeatable call, retrying what is worth retrying."""
        attempt = 0
        stale_retried = False
        while True:
            try:
                return call()
            except (httpx.TransportError, ServerError) as exc:
                stale = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
                if isinstance(exc, stale) and not stale_retried:
                    # A kept-alive connection the server closed meanwhile (it does after a
                    # 500): repeat the read at once, on a new connection, without a warning.
                    stale_retried = True
                    logger.debug("%s: %s; repeating it", what, describe(exc))
                    continue
                attempt += 1
                if not is_retryable(exc) or attempt >= self.retry.attempts:
                    if isinstance(exc, ServerError):
                        exc.exhausted = True
                        raise
                    err = ServerError(f"{what}: {describe(exc)}")
                    err.exhausted = True
                    raise err from exc
                delay = self.retry.delay(attempt - 1, retry_after(exc))
                logger.warning("%s failed (%s); retrying in %.1f s", what, describe(exc), delay)
                time.sleep(delay)

    def get_json(self, path: str, what: str, *, params: Any = None, timeout: float = 30.0) -> Any:
        def call() -> Any:
            response = self.http.get(
                path,
                params=params,
                headers=READ_HEADERS,
                timeout=self._timeout(timeout),
            )
            return _json(self._ok(response, what), what, self.base_url)

        return self.with_retries(what, call)

    def find_dataset(self, name: str) -> dict[str, Any] | None:
        what = f"looking up dataset {name!r}"
        body = self.get_json("v1/datasets", what, params={"name": name})
        matches = [d for d in _data(body, what) if d.get("name") == name]
        return dict(matches[0]) if matches else None

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        what = "reading the dataset"

        def call() -> dict[str, Any]:
            response = self.http.get(
                f"v1/datasets/{quote(dataset_id, safe='')}",
                headers=READ_HEADERS,
                timeout=self._timeout(30.0),
            )
            if response.status_code == 500:
                # Phoenix answers 500 for a dataset that never had examples; its list of
                # datasets has it. (A 500 for other reasons is retried as usual.)
                listed = self._find_listed(dataset_id)
                if listed is not None:
                    return listed
            return dict(_data(_json(self._ok(response, what), what, self.base_url), what))

        try:
            info = self.with_retries(what, call)
        except ServerError as e:
            if e.status_code in (404, 422):
                raise DatasetNotFoundError(
                    f"no dataset with id {dataset_id!r} on {self.base_url}",
                    status_code=e.status_code,
                    detail=e.detail,
                ) from e
            raise
        if str(info.get("id")) != dataset_id and (
            global_id(dataset_id) is None or global_id(info.get("id")) != global_id(dataset_id)
        ):
            # A proxy or cache answering for another dataset: writing on would overwrite it.
            raise ServerError(
                f"{what}: asked for dataset {dataset_id!r}, {self.base_url} answered with "
                f"dataset {info.get('id')!r} ({info.get('name')!r}); is a cache or proxy in "
                "front of Phoenix answering for the wrong URL?"
            )
        return info

    def _find_listed(self, dataset_id: str) -> dict[str, Any] | None:
        """The dataset with this id from the list of all datasets (page by page)."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            body = self.get_json("v1/datasets", "listing datasets", params=params)
            for d in _data(body, "listing datasets"):
                if d.get("id") == dataset_id:
                    return dict(d)
            cursor = body.get("next_cursor")
            if not cursor:
                return None

    def versions(self, dataset_id: str, limit: int) -> list[dict[str, Any]]:
        body = self.get_json(
            f"v1/datasets/{quote(dataset_id, safe='')}/versions",
            "listing dataset versions",
            params={"limit": limit},
        )
        versions = [dict(v) for v in _data(body, "listing dataset versions")]
        # Newest first, as Phoenix lists them (by row id): never trust the order an
        # intermediary passed on.
        versions.sort(key=version_number, reverse=True)
        return versions

    def export_jsonl(
        self, dataset_id: str, version_id: str, *, expected_examples: int, progress: Any
    ) -> bytes:
        """The examples of one version as Phoenix's JSONL export (ids, node ids, splits);
        ``progress`` is told of each example (line) read."""
        what = "downloading the dataset"

        def call() -> bytes:
            chunks = []
            with self.http.stream(
                "GET",
                f"v1/datasets/{quote(dataset_id, safe='')}/jsonl",
                params={"version_id": version_id},
                headers=READ_HEADERS,
                timeout=self._timeout(60.0 + 0.005 * expected_examples),
            ) as response:
                if not response.is_success:
                    response.read()
                self._ok(response, what)
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    progress.update(chunk.count(b"\n"))  # one line an example
            return b"".join(chunks)

        return self.with_retries(what, call)

    def examples(self, dataset_id: str, version_id: str, *, expected_examples: int) -> Any:
        what = "reading the dataset's examples"
        body = self.get_json(
            f"v1/datasets/{quote(dataset_id, safe='')}/examples",
            what,
            params={"version_id": version_id},
            timeout=60.0 + 0.005 * expected_examples,
        )
        return _data(body, what)


def _data(body: dict[str, Any], what: str) -> Any:
    if "data" not in body:
        raise ServerError(f"{what}: the answer has no 'data' (is this a Phoenix server?)")
    return body["data"]


def describe(exc: BaseException) -> str:
    if isinstance(exc, ServerError):
        return f"HTTP {exc.status_code}" if exc.status_code else str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
