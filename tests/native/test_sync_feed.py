"""The engine's binding takes an answer's body in chunks (``SyncMachine.feed``): what came
before a connection failed is never part of the next answer. Scripted, no server: a real
server cannot be made to fail after a chunk of its body reliably."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import phoenix_upsert as pu
from phoenix_upsert._native import SyncMachine


def machine(tmp_path: Path) -> SyncMachine:
    source = tmp_path / "source.jsonl"
    source.write_text('{"id": "a", "input": {"q": 1}, "output": {"a": 1}}\n')
    return SyncMachine(
        name="d",
        dataset_id=None,
        merge=False,
        dry_run=True,
        description=None,
        allow_empty=False,
        manifest=False,
        server="http://127.0.0.1:1",
        retries=3,
        timeout=None,
        server_version=None,
        credentials="set PHOENIX_API_KEY",
        source_name=str(source),
        seed=1,
        scan=pu.scan_jsonl(source, id_key="id"),
        lines=None,
    )


def next_request(m: SyncMachine) -> tuple[Any, ...]:
    """The next ``http`` step, past logs and sleeps."""
    for _ in range(10):
        step = m.poll()
        if step[0] == "http":
            return step
        assert step[0] in ("log", "sleep"), step
    raise AssertionError("no request")


def finish(m: SyncMachine) -> tuple[Any, ...]:
    """The ``done`` (or ``failed``) step, past logs."""
    for _ in range(10):
        step = m.poll()
        if step[0] in ("done", "failed"):
            return step
        assert step[0] == "log", step
    raise AssertionError("no end")


JSON = [("content-type", "application/json")]
TEXT = [("content-type", "text/plain")]


def test_a_body_cut_short_by_a_failed_connection_is_dropped(tmp_path: Path) -> None:
    m = machine(tmp_path)
    assert next_request(m)[2] == "arize_phoenix_version"
    m.feed(b"20.2")  # a chunk, then the connection fails
    m.handle_transport(False, "connection reset")
    assert next_request(m)[2] == "arize_phoenix_version"  # asked again
    m.feed(b"20.26")
    m.feed(b".1")
    m.handle_response(200, TEXT, None)
    assert next_request(m)[2] == "v1/datasets"  # the dataset, by name
    m.feed(b'{"data": [{"id": "RGF0YXNldDox", ')
    m.handle_transport(False, "incomplete chunked read")
    assert next_request(m)[2] == "v1/datasets"
    m.feed(b'{"data": [], ')
    m.feed(b'"next_cursor": null}')
    m.handle_response(200, JSON, None)
    step = finish(m)
    assert step[0] == "done", step
    assert step[1][3] == "create"  # no such dataset: the plan creates it
    assert step[3] == [20, 26, 1]  # the version as the second answer said


def test_a_body_given_whole_drops_chunks_fed_before(tmp_path: Path) -> None:
    m = machine(tmp_path)
    next_request(m)
    m.feed(b"garbage")
    m.handle_response(200, TEXT, b"20.26.1")
    next_request(m)
    m.handle_response(200, JSON, b'{"data": [], "next_cursor": null}')
    step = finish(m)
    assert step[0] == "done" and step[3] == [20, 26, 1], step
