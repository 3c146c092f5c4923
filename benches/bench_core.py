"""Native core vs Phoenix's own hashing, on the same ~50k realistic examples."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from phoenix.utilities.content_hashing import compute_example_content_hash

import phoenix_upsert as pu

from ._data import _sentence, make_examples, write_jsonl
from .conftest import scaled

N = scaled(50_000)


@pytest.fixture(scope="module")
def examples() -> list[dict[str, Any]]:
    return make_examples(N)


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory, examples: list[dict[str, Any]]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("core") / "examples.jsonl", examples)


def phoenix_hashes(examples: list[dict[str, Any]]) -> list[str]:
    return [
        compute_example_content_hash(
            input=e["input"], output=e["output"], metadata=e["metadata"]
        ).hex()
        for e in examples
    ]


@pytest.mark.benchmark(group="hash examples (Python objects)")
def test_hash_examples_phoenix(benchmark: Any, examples: list[dict[str, Any]]) -> None:
    benchmark.extra_info["role"] = "reference"
    benchmark.pedantic(phoenix_hashes, args=(examples,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="hash examples (Python objects)")
def test_hash_examples_native(benchmark: Any, examples: list[dict[str, Any]]) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(pu.hash_examples, args=(examples,), rounds=10, iterations=1)
    assert hashes[:100] == phoenix_hashes(examples[:100])


def phoenix_hash_file(path: Path) -> list[str]:
    out = []
    with path.open("rb") as f:
        for line in f:
            e = json.loads(line)
            out.append(
                compute_example_content_hash(
                    input=e["input"], output=e["output"], metadata=e.get("metadata", {})
                ).hex()
            )
    return out


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.benchmark(group="hash JSONL file")
def test_hash_jsonl_phoenix(benchmark: Any, jsonl: Path) -> None:
    benchmark.extra_info["role"] = "reference"
    benchmark.pedantic(phoenix_hash_file, args=(jsonl,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="hash JSONL file")
def test_hash_jsonl_sha256_raw_bytes(benchmark: Any, jsonl: Path) -> None:
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(sha256_file, args=(jsonl,), rounds=10, iterations=1)


@pytest.mark.benchmark(group="hash JSONL file")
def test_hash_jsonl_native(benchmark: Any, jsonl: Path, examples: list[dict[str, Any]]) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(pu.hash_jsonl, args=(jsonl,), rounds=10, iterations=1)
    assert hashes[:100] == phoenix_hashes(examples[:100])


DIFF_N = scaled(1_000_000)


def _node(row: int) -> str:
    return base64.b64encode(f"DatasetExample:{row}".encode()).decode()


@pytest.fixture(scope="module")
def diff_inputs() -> tuple[list[tuple[str, str | None, str]], list[tuple[str | None, str]]]:
    previous = [(_node(i), f"id{i}", f"{i:032x}") for i in range(DIFF_N)]
    # 1% edited, 1% deleted, 1% added.
    incoming: list[tuple[str | None, str]] = [
        (f"id{i}", f"{i + (i % 100 == 1):032x}") for i in range(DIFF_N) if i % 100 != 2
    ]
    incoming += [(f"new{i}", f"{i:032x}") for i in range(DIFF_N // 100)]
    return previous, incoming


@pytest.mark.benchmark(group="diff 1M x 1M")
def test_diff_native(benchmark: Any, diff_inputs: Any) -> None:
    benchmark.extra_info["role"] = "ours"
    previous, incoming = diff_inputs
    d = benchmark.pedantic(pu.diff, args=(previous, incoming), rounds=5, iterations=1)
    assert len(d.deleted) == DIFF_N // 100


def python_diff(previous: Any, incoming: Any) -> tuple[int, int, int, int]:
    """What a careful pure-Python client would write (dicts and a set), for scale."""
    by_ext = {ext: (p, h) for p, (_, ext, h) in enumerate(previous)}
    matched = set()
    added = updated = unchanged = 0
    for source_id, h in incoming:
        m = by_ext.get(source_id)
        if m is None:
            added += 1
        else:
            matched.add(m[0])
            if m[1] == h:
                unchanged += 1
            else:
                updated += 1
    return added, updated, unchanged, len(previous) - len(matched)


@pytest.mark.benchmark(group="diff 1M x 1M")
def test_diff_pure_python(benchmark: Any, diff_inputs: Any) -> None:
    benchmark.extra_info["role"] = "reference"
    previous, incoming = diff_inputs
    benchmark.pedantic(python_diff, args=(previous, incoming), rounds=3, iterations=1)


RSS_BYTES = int(1_000_000_000 * float(__import__("os").environ.get("PU_BENCH_SCALE", "1.0")))


@pytest.mark.benchmark(group="peak RSS hashing a 1 GB JSONL")
def test_peak_rss_hashing_1gb(benchmark: Any, jsonl: Path, tmp_path: Path) -> None:
    """Hash a ~1 GB file in a fresh interpreter and record its peak RSS (not a timing)."""
    benchmark.extra_info["role"] = "memory"
    big = tmp_path / "big.jsonl"
    chunk = jsonl.read_bytes()
    with big.open("wb") as f:
        written = 0
        while written < RSS_BYTES:
            f.write(chunk)
            written += len(chunk)
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
    script = textwrap.dedent(
        f"""
        import re, time, phoenix_upsert as pu
        def hwm_kb():
            status = open("/proc/self/status").read()
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
        before = hwm_kb()
        t = time.perf_counter()
        n = len(pu.hash_jsonl({str(big)!r}))
        print(n, before, hwm_kb(), time.perf_counter() - t)
        """
    )

    def run() -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", script], check=True, capture_output=True, text=True
        ).stdout.split()

    n, before_kb, peak_kb, seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        file_mb=round(big.stat().st_size / 1e6),
        examples=int(n),
        rss_after_import_mb=round(int(before_kb) / 1024),
        peak_rss_mb=round(int(peak_kb) / 1024),
        seconds=round(float(seconds), 2),
    )
    print(
        f"\npeak RSS hashing {big.stat().st_size / 1e6:,.0f} MB ({n} examples): "
        f"{int(peak_kb) / 1024:,.0f} MB (after import: {int(before_kb) / 1024:,.0f} MB), "
        f"{float(seconds):.2f} s"
    )
    assert int(peak_kb) / 1024 <= 256


BODY_SCRIPT = textwrap.dedent(
    """
    import re, sys, time
    sys.path.insert(0, sys.argv[4])
    from benches._data import make_examples
    from phoenix_upsert._engine.driver import body
    from phoenix_upsert._native import SyncMachine
    from phoenix_upsert._sources.source import from_examples, from_jsonl

    def kb(field):
        status = open("/proc/self/status").read()
        return int(re.search(field + r":\\s+(\\d+) kB", status).group(1))

    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "jsonl":
        source = from_jsonl(path, source_id_key="id", splits_key=None, span_id_key=None)
    else:
        examples = make_examples(n)
        source = from_examples(examples, source_id_key="id", splits_key=None, span_id_key=None)
    # The core's engine plans a create of every example; its upload step holds the body's
    # layout, which the driver streams.
    m = SyncMachine(
        name="bench", dataset_id=None, merge=False, dry_run=False, description=None,
        allow_empty=False, manifest=False, server="http://bench", retries=1, timeout=None,
        server_version=[20, 26, 1], credentials="", source_name="bench", seed=0,
        scan=source.scan, lines=source.line_override,
    )
    m.poll()  # looking up the dataset by name: there is none
    m.handle_response(200, [], b'{"data": []}')
    step = m.poll()
    while step[0] == "log":
        step = m.poll()
    segments, indices = step[11]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak RSS (VmHWM) starts again from here
    base = kb("VmRSS")
    t = time.perf_counter()
    size = 0
    for chunk in body(segments, indices, source):
        size += len(chunk)
    print(size, time.perf_counter() - t, kb("VmHWM") - base)
    """
)


@pytest.mark.parametrize("n", [scaled(20_000), scaled(100_000)], ids=["20k", "100k"])
@pytest.mark.parametrize("kind", ["jsonl", "list"])
@pytest.mark.benchmark(group="upload body")
def test_upload_body(benchmark: Any, kind: str, n: int, tmp_path: Path) -> None:
    """Build the whole upload body of ``n`` examples (all of them, as a create sends) in a
    fresh interpreter: the time, and the peak RSS above the RSS before (the source already
    read), from /proc (Rust's allocations count; tracemalloc would miss them)."""
    benchmark.extra_info["role"] = "memory"
    path = tmp_path / "body.jsonl"
    if kind == "jsonl":
        write_jsonl(path, make_examples(n))
    root = str(Path(__file__).resolve().parent.parent)

    def run() -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", BODY_SCRIPT, kind, str(n), str(path), root],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()

    size, seconds, peak_kb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        examples=n,
        body_mb=round(int(size) / 1e6, 1),
        seconds=round(float(seconds), 3),
        peak_rss_above_start_mb=round(int(peak_kb) / 1024, 1),
    )
    print(
        f"\nupload body of {n:,} examples from a {kind}: {int(size) / 1e6:,.1f} MB in "
        f"{float(seconds):.2f} s, peak RSS +{int(peak_kb) / 1024:,.1f} MB"
    )


LLM_PIECES = [
    "Sure! Here's a step-by-step explanation:\n\n1. First, ",
    'the function returns "None" when the key is missing;\n',
    '```python\nprint("hello, world")\n```\n',
    "これは日本語の説明です。",
    "中文回答 模型的输出应该简洁明了。",
    "한국어 답변입니다. ",
    "🚀✨ Great question! 😊 ",
    "\tIndented line with a tab and a backslash \\ here.\n",
    "- bullet one\n- bullet two\n",
    "The answer is 42 — “quoted” text, café, naïve.\n",
]


def make_llm_examples(n: int, seed: int = 2) -> list[dict[str, Any]]:
    """Chat-model answers: newlines, quotes, code, emoji, CJK — text that needs escapes."""
    rnd = random.Random(seed)

    def text(k: int) -> str:
        return "".join(rnd.choice(LLM_PIECES) for _ in range(k))

    return [
        {
            "id": f"q{i}",
            "input": {"messages": [{"role": "user", "content": text(rnd.randint(1, 4))}]},
            "output": {"answer": text(rnd.randint(4, 20)), "tokens": rnd.randint(10, 900)},
            "metadata": {"model": "gpt-x", "temperature": 0.2},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def llm_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("llm") / "llm.jsonl"
    return write_jsonl(path, make_llm_examples(N))


@pytest.mark.benchmark(group="hash JSONL file, LLM-like text")
def test_hash_llm_jsonl_sha256_raw_bytes(benchmark: Any, llm_jsonl: Path) -> None:
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(sha256_file, args=(llm_jsonl,), rounds=10, iterations=1)


@pytest.mark.benchmark(group="hash JSONL file, LLM-like text")
def test_hash_llm_jsonl_native(benchmark: Any, llm_jsonl: Path) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(pu.hash_jsonl, args=(llm_jsonl,), rounds=10, iterations=1)
    assert hashes[:50] == phoenix_hash_file(llm_jsonl)[:50]


def make_embedding_examples(n: int, dim: int = 768, seed: int = 3) -> list[dict[str, Any]]:
    """Retrieval data: a short text and its embedding, floats as Python's ``repr`` writes
    them (mostly 16-17 significant digits)."""
    rnd = random.Random(seed)
    return [
        {
            "id": f"d{i}",
            "input": {
                "text": _sentence(rnd, rnd.randint(8, 30)),
                "embedding": [rnd.gauss(0.0, 0.05) for _ in range(dim)],
            },
            "output": {"label": rnd.choice(["relevant", "irrelevant"])},
            "metadata": {"model": "text-embedding-x", "dim": dim},
        }
        for i in range(n)
    ]


EMBED_N = scaled(5_000)


@pytest.fixture(scope="module")
def embedding_examples() -> list[dict[str, Any]]:
    return make_embedding_examples(EMBED_N)


@pytest.fixture(scope="module")
def embedding_jsonl(
    tmp_path_factory: pytest.TempPathFactory, embedding_examples: list[dict[str, Any]]
) -> Path:
    path = tmp_path_factory.mktemp("embedding") / "embedding.jsonl"
    return write_jsonl(path, embedding_examples)


@pytest.mark.benchmark(group="hash JSONL file, embeddings")
def test_hash_embedding_jsonl_sha256_raw_bytes(benchmark: Any, embedding_jsonl: Path) -> None:
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(sha256_file, args=(embedding_jsonl,), rounds=10, iterations=1)


@pytest.mark.benchmark(group="hash JSONL file, embeddings")
def test_hash_embedding_jsonl_native(
    benchmark: Any, embedding_jsonl: Path, embedding_examples: list[dict[str, Any]]
) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(pu.hash_jsonl, args=(embedding_jsonl,), rounds=10, iterations=1)
    assert hashes[:20] == phoenix_hashes(embedding_examples[:20])


@pytest.mark.benchmark(group="hash examples, embeddings (Python objects)")
def test_hash_embedding_examples_phoenix(
    benchmark: Any, embedding_examples: list[dict[str, Any]]
) -> None:
    benchmark.extra_info["role"] = "reference"
    benchmark.pedantic(phoenix_hashes, args=(embedding_examples,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="hash examples, embeddings (Python objects)")
def test_hash_embedding_examples_native(
    benchmark: Any, embedding_examples: list[dict[str, Any]]
) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(
        pu.hash_examples, args=(embedding_examples,), rounds=10, iterations=1
    )
    assert hashes[:20] == phoenix_hashes(embedding_examples[:20])


def make_scored_llm_examples(n: int, seed: int = 4) -> list[dict[str, Any]]:
    """The LLM-like examples with a few floats each, as evaluations carry them: scores,
    a latency, log-probabilities (as ``repr`` writes them, up to 17 digits)."""
    rnd = random.Random(seed)
    examples = make_llm_examples(n, seed)
    for e in examples:
        e["output"]["logprob"] = -rnd.expovariate(1.0)
        e["metadata"]["scores"] = {"relevance": rnd.random(), "faithfulness": rnd.random()}
        e["metadata"]["latency_s"] = round(rnd.uniform(0.1, 9.0), 3)
    return examples


@pytest.fixture(scope="module")
def scored_llm_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scored") / "scored.jsonl"
    return write_jsonl(path, make_scored_llm_examples(N))


@pytest.mark.benchmark(group="hash JSONL file, LLM-like text with floats")
def test_hash_scored_llm_jsonl_sha256_raw_bytes(benchmark: Any, scored_llm_jsonl: Path) -> None:
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(sha256_file, args=(scored_llm_jsonl,), rounds=10, iterations=1)


@pytest.mark.benchmark(group="hash JSONL file, LLM-like text with floats")
def test_hash_scored_llm_jsonl_native(benchmark: Any, scored_llm_jsonl: Path) -> None:
    benchmark.extra_info["role"] = "ours"
    hashes = benchmark.pedantic(pu.hash_jsonl, args=(scored_llm_jsonl,), rounds=10, iterations=1)
    assert hashes[:50] == phoenix_hash_file(scored_llm_jsonl)[:50]
