"""Odd and lying servers: one table of cases for both SDKs.

Each case puts a fault-injecting proxy (``faultproxy``) in front of a real Phoenix that
answers what an intermediary might: an export cut short where a line ends, a shared cache
that serves old reads, a list of versions in another order, a duplicated export line, the
record of another dataset. Both SDKs run the same flow against it (``tests/sync/
test_odd_servers.py``, ``js/test/odd-servers.test.mjs``):

1. seed the dataset with ``SEED`` directly (no proxy), then sync ``SEED`` through the proxy
   (a no-op; it warms a cache);
2. another writer, directly, edits the first example and appends ``OTHER``;
3. sync ``SEED`` through the proxy again.

The promise: step 3 leaves the dataset holding exactly ``SEED`` (never "up to date" on the
other writer's content), or fails with the error the case names, having written nothing.

Run as a program (``python -m tests.sync.odd_servers CASE UPSTREAM_PORT``, or
``fault:NAME`` for one of ``TRANSIENT_FAULTS``), it starts that proxy, prints its port and
serves until its standard input closes: the TypeScript tests start it so.
``python -m tests.sync.odd_servers --list`` prints the tables as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import faultproxy as fp

SEED: list[dict[str, Any]] = [
    {"id": f"e{i}", "input": {"q": f"question {i}"}, "output": {"a": i}} for i in range(6)
]
OTHER: dict[str, Any] = {"id": "other", "input": {"q": "another writer's"}, "output": {"a": -1}}
EDITED_FIRST: dict[str, Any] = {**SEED[0], "output": {"a": "edited by another writer"}}

#: A dataset id of no dataset here (``Dataset:987654``).
FOREIGN_ID = "RGF0YXNldDo5ODc2NTQ="


def _json_data(function: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        doc = json.loads(body)
        doc["data"] = function(doc["data"])
        return json.dumps(doc).encode()

    return rewrite


def _duplicate_first_line(body: bytes) -> bytes:
    lines = body.splitlines(keepends=True)
    return b"".join(lines[:1] + lines) if lines else body


def _foreign(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "id": FOREIGN_ID, "name": "someone else's dataset"}


@dataclass(frozen=True)
class Case:
    """``expect``: ``"exact"`` (the dataset holds SEED afterwards) or the name of the error
    class the second sync must raise, having written nothing."""

    name: str
    what: str
    expect: str
    #: A regular expression the error's message must match (for an error ``expect``).
    message: str = ""
    cache: bool = False
    faults: tuple[tuple[str, str, Callable[[bytes], bytes]], ...] = ()


CASES = (
    Case(
        "export-cut-short",
        "every export loses its last line (a proxy cutting the body where a line ends)",
        "exact",
        faults=(("GET", r"/jsonl$", fp.drop_last_line),),
    ),
    Case(
        "export-duplicated-line",
        "every export holds its first line twice",
        "exact",
        faults=(("GET", r"/jsonl$", _duplicate_first_line),),
    ),
    Case(
        "shared-cache",
        "a shared HTTP cache in front of Phoenix: GETs answered from the first answer",
        "exact",
        cache=True,
    ),
    Case(
        "versions-reversed",
        "the list of versions comes oldest first",
        "exact",
        faults=(("GET", r"/versions$", _json_data(lambda d: list(reversed(d)))),),
    ),
    Case(
        "another-datasets-record",
        "GET /v1/datasets/{id} answers with another dataset's record",
        "ServerError",
        message="answered with dataset",
        faults=(("GET", r"/v1/datasets/[^/]+$", _json_data(_foreign)),),
    ),
    Case(
        "phoenix-14",
        "the server says it is Phoenix 14.17 (no example ids, no declarative updates)",
        "ServerTooOldError",
        message="too old",
        faults=(("GET", r"/arize_phoenix_version$", lambda _: b"14.17.0"),),
    ),
)

BY_NAME = {c.name: c for c in CASES}

#: Faults a sync must survive, each injected once into one request (``tests/sync/
#: test_faults.py`` and the TypeScript tests run them alike): the sync of ``FAULT_V2`` over a
#: dataset holding ``FAULT_V1`` ends exact, with one new version, and a re-sync is a no-op.
TRANSIENT_FAULTS: dict[str, tuple[str, str, fp.Fault]] = {
    "500 on the upload": ("POST", "/upload", fp.status(500)),
    "502 on the upload": ("POST", "/upload", fp.status(502)),
    "503 on a read": ("GET", "/versions", fp.status(503)),
    "429 with Retry-After": ("POST", "/upload", fp.status(429, {"Retry-After": "1"})),
    "connection dropped mid-request": ("POST", "/upload", fp.drop_request()),
    "connection dropped mid-response (write landed)": ("POST", "/upload", fp.drop_response()),
    "dropped while reading the dataset": ("GET", "/jsonl", fp.drop_response()),
}

FAULT_V1: list[dict[str, Any]] = [
    {"id": f"e{i}", "input": {"i": i}, "output": {"tag": "v1"}} for i in range(20)
]
#: One edit, one deletion, one addition.
FAULT_V2: list[dict[str, Any]] = [
    {**FAULT_V1[0], "output": {"tag": "edited"}},
    *FAULT_V1[2:],
    {"id": "added", "input": {"new": True}, "output": {}},
]


def start(case: Case, upstream_port: int) -> fp.FaultProxy:
    proxy = fp.FaultProxy(upstream_port, cache=case.cache)
    for method, path, function in case.faults:
        proxy.add(method, path, fp.rewrite(function), times=1_000_000)
    return proxy


def main(argv: list[str]) -> int:
    if argv == ["--list"]:
        table = [
            {"name": c.name, "what": c.what, "expect": c.expect, "message": c.message}
            for c in CASES
        ]
        shared = {
            "seed": SEED,
            "other": OTHER,
            "editedFirst": EDITED_FIRST,
            "cases": table,
            "faults": list(TRANSIENT_FAULTS),
            "faultV1": FAULT_V1,
            "faultV2": FAULT_V2,
        }
        print(json.dumps(shared))
        return 0
    port = int(argv[1])
    if argv[0].startswith("fault:"):
        proxy = fp.FaultProxy(port)
        method, path, fault = TRANSIENT_FAULTS[argv[0][len("fault:") :]]
        proxy.add(method, path, fault)
    else:
        proxy = start(BY_NAME[argv[0]], port)
    print(proxy.port, flush=True)
    sys.stdin.read()  # serve until the parent closes our input
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
