"""Fuzz the native core through its Python API with atheris (libFuzzer's engine).

    python tests/fuzz/fuzz_native.py TARGET [libFuzzer flags, e.g. -max_total_time=60]

Targets:
  canonicalize_json  arbitrary bytes as JSON text
  scan_jsonl         arbitrary bytes as a JSONL file (small line limits included)
  values             arbitrary Python values (NaN, surrogates, huge ints, odd types, cycles)
  diff               arbitrary previous/incoming examples

A crash is anything but the documented errors: a panic, a hang, an untyped exception, or
(for accepted values) bytes that differ from Phoenix's own canonicalizer. CI runs each target
for a bounded time (tests/native/test_fuzz.py); longer runs are for people.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import atheris
from phoenix.vendor.json_canonicalization_scheme import canonicalize as phoenix_canonicalize

with atheris.instrument_imports(include=["phoenix_upsert"]):
    import phoenix_upsert as pu

EXPECTED = (pu.InvalidInputError,)


def canonicalize_json(data: bytes) -> None:
    try:
        out = pu.canonicalize_json(data)
    except EXPECTED:
        return
    # Canonical output is a fixed point, and valid JSON for Python too.
    assert pu.canonicalize_json(out) == out
    value = json.loads(out)
    try:
        expected = phoenix_canonicalize(value)
    except (ValueError, OverflowError):
        return
    assert out == expected, (data, out, expected)


def scan_jsonl(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    limit = fdp.ConsumeIntInRange(1, 4096)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    for kwargs in ({}, {"max_line_bytes": limit}):
        try:
            scan = pu.scan_jsonl(body, id_key="id", splits_key="splits", **kwargs)
        except EXPECTED:
            continue
        assert len(scan.hashes) == len(scan.offsets) == len(scan.line_numbers)
        for offset, length in zip(scan.offsets, scan.lengths):
            assert 0 <= offset and offset + length <= len(body)


def _value(fdp: Any, depth: int) -> Any:
    kind = fdp.ConsumeIntInRange(0, 12 if depth < 6 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind == 3:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 160))
    if kind in (4, 5):
        return fdp.ConsumeUnicodeNoSurrogates(12) if fdp.ConsumeBool() else fdp.ConsumeUnicode(6)
    if kind == 6:
        return fdp.ConsumeBytes(3)
    if kind == 7:
        return {1, 2} if fdp.ConsumeBool() else 1j
    if kind in (8, 9):
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 10:
        return tuple(_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    d: dict[Any, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        key: Any = fdp.ConsumeUnicode(5) if fdp.ConsumeIntInRange(0, 9) else fdp.ConsumeInt(2)
        d[key] = _value(fdp, depth + 1)
    if fdp.ConsumeIntInRange(0, 30) == 0:
        d["self"] = d  # a cycle
    return d


def values(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    value = _value(fdp, 0)
    try:
        ours = pu.canonicalize(value)
    except EXPECTED:
        return
    assert ours == phoenix_canonicalize(value)
    example = {"input": {"v": value}, "output": {}}
    assert pu.hash_examples([example]) == [pu.content_hash({"v": value}, {}, {})]


def diff(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    hashes = [f"{i:032x}" for i in range(4)]
    ids = ["a", "b", "c", "RGF0YXNldEV4YW1wbGU6MQ==", "RGF0YXNldEV4YW1wbGU6Mg==", None]
    previous = [
        (
            f"RGF0YXNldEV4YW1wbGU6{fdp.ConsumeIntInRange(0, 9)}",
            ids[fdp.ConsumeIntInRange(0, 5)],
            hashes[fdp.ConsumeIntInRange(0, 3)],
        )
        for _ in range(fdp.ConsumeIntInRange(0, 8))
    ]
    incoming = [
        (ids[fdp.ConsumeIntInRange(0, 5)], hashes[fdp.ConsumeIntInRange(0, 3)])
        for _ in range(fdp.ConsumeIntInRange(0, 8))
    ]
    try:
        d = pu.diff(previous, incoming, merge=fdp.ConsumeBool())
    except EXPECTED:
        return
    matched = {i for i, _ in d.updated} | {i for i, _ in d.unchanged}
    assert matched.isdisjoint(d.added)
    assert matched | set(d.added) == set(range(len(incoming)))


TARGETS = {f.__name__: f for f in (canonicalize_json, scan_jsonl, values, diff)}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
