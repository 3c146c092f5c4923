"""CSV files as sources, read as Phoenix reads the CSV phoenix-client's
``create_dataset(csv_file_path=...)`` uploads: the reference is Phoenix's own reader
(``_process_csv`` of the installed server), run in-process on the same bytes; local files,
gzip and zstd, an S3-compatible server and http(s) URLs; errors that name the file, the line
and the column, before anything is sent."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import random
import string
from pathlib import Path
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert._sources.csvfile import from_csv_bytes
from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert._sources.source import read_source

from .test_remote import S3Server, aws, http_server, private_tmp, s3, zst  # noqa: F401

datasets_router = pytest.importorskip("phoenix.server.api.routers.v1.datasets")

KW: dict[str, Any] = {"source_id_key": "id", "splits_key": "splits", "span_id_key": "span_id"}


def phoenix_reads(
    data: bytes,
    input_keys: list[str],
    output_keys: list[str] = (),  # type: ignore[assignment]
    metadata_keys: list[str] = (),  # type: ignore[assignment]
    split_keys: list[str] = (),  # type: ignore[assignment]
    split_key: str | None = None,
    span_id_key: str | None = None,
    example_id_key: str | None = None,
) -> list[Any]:
    """What Phoenix's upload endpoint makes of a CSV file (its own function, in-process)."""

    async def run() -> list[Any]:
        examples = await datasets_router._process_csv(
            content=gzip.compress(data),
            content_encoding=datasets_router.FileContentEncoding.GZIP,
            input_keys=frozenset(input_keys),
            output_keys=frozenset(output_keys),
            metadata_keys=frozenset(metadata_keys),
            split_keys=frozenset(split_keys),
            span_id_key=span_id_key,
            example_id_key=example_id_key,
            split_key=split_key,
        )
        return list(examples)

    return asyncio.run(run())


def expected_hashes(contents: list[Any]) -> list[str]:
    return [pu.content_hash(c.input, c.output, c.metadata) for c in contents]


def by_content(
    input_keys: list[str], output_keys: list[str], metadata_keys: list[str]
) -> SourceOptions:
    """Options for columns of each part, without ids, splits or span ids."""
    return SourceOptions(
        source_id_key=None,
        splits_key=None,
        span_id_key=None,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
    )


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


QA = csv_bytes(
    [
        ["id", "question", "context", "answer", "topic", "split", "span_id"],
        ["q1", "What is 2+2?", "", "4", "math", "train", "a1b2c3d4e5f60718"],
        ["q2", "  spaced  ", "  ", "four", "", "test", ""],
        ["q3", 'say "hi",\nthen go', "ctx", "1", "x", '["train", "hard"]', "nan"],
        ["q4", "ünïcödé ✓", "[1, 2]", "true", "{}", "", ""],
    ]
)


def test_the_same_examples_and_hashes_as_phoenix_reads(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(QA)
    source = read_source(
        str(path),
        **{**KW, "splits_key": "split"},
        input_keys=["question", "context"],
        output_keys=["answer"],
        metadata_keys=["topic"],
    )
    reference = phoenix_reads(
        QA,
        ["question", "context"],
        ["answer"],
        ["topic"],
        split_key="split",
        span_id_key="span_id",
        example_id_key="id",
    )
    assert source.hashes == expected_hashes(reference)
    assert source.ids == [c.external_id for c in reference] == ["q1", "q2", "q3", "q4"]
    assert source.splits == [tuple(sorted(c.splits)) for c in reference]
    assert source.splits == [("train",), ("test",), ("hard", "train"), ()]
    assert source.span_ids == [c.span_id for c in reference]
    assert source.span_ids == ["a1b2c3d4e5f60718", None, None, None]
    # every cell is a string, kept exactly; blank cells are left out
    assert [c.input for c in reference][1] == {"question": "  spaced  "}
    assert source.lines == [2, 3, 4, 6]  # q3's quoted cell spans two lines
    assert source.where(3) == "line 6 (id 'q4')"


def test_split_keys_and_inferred_keys_as_phoenix_client_does(tmp_path: Path) -> None:
    data = csv_bytes(
        [
            ["id", "question", "Answers", "note", "fold", "level"],
            ["a", "q?", "yes", "n1", "train", "easy"],
            ["b", "q2?", "no", "", "", "hard"],
        ]
    )
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    # split_keys: each column's cell is a split name
    source = read_source(
        str(path),
        **KW,
        input_keys=["question"],
        output_keys=["Answers"],
        split_keys=["fold", "level"],
    )
    reference = phoenix_reads(data, ["question"], ["Answers"], split_keys=["fold", "level"])
    assert source.hashes == expected_hashes(reference)
    assert source.splits == [("easy", "train"), ("hard",)]
    # no keys: the first column ending in answer(s)/response(s)/output(s) is the output, the
    # ones before it the input, after it the metadata — the id column left out
    inferred = read_source(str(path), **KW)
    reference = phoenix_reads(data, ["question"], ["Answers"], ["note", "fold", "level"])
    assert inferred.hashes == expected_hashes(reference)
    # without an id key, the id column is content, as phoenix-client infers it
    no_ids = read_source(str(path), source_id_key=None, splits_key=None, span_id_key=None)
    reference = phoenix_reads(data, ["id", "question"], ["Answers"], ["note", "fold", "level"])
    assert no_ids.hashes == expected_hashes(reference)
    no_output = csv_bytes([["question", "topic"], ["q", "t"]])
    (tmp_path / "n.csv").write_bytes(no_output)
    assert read_source(
        str(tmp_path / "n.csv"), source_id_key=None, splits_key=None, span_id_key=None
    ).hashes == [pu.content_hash({"question": "q", "topic": "t"}, {}, {})]


def test_dotted_columns_nest_and_parse_json_as_phoenix_does() -> None:
    data = csv_bytes(
        [
            ["input.q.text", "input.q.lang", "input.tags", "output.answer", "metadata.m", "plain"],
            ["hi", "en", '["a", "b"]', '{"x": 1}', "[bad json", "p"],
            ["", "fr", "", "", " ", ""],
        ]
    )
    keys = (
        ["input.q.text", "input.q.lang", "input.tags", "plain"],
        ["output.answer"],
        ["metadata.m"],
    )
    source = from_csv_bytes(data, by_content(*keys), name="d.csv")
    reference = phoenix_reads(data, *keys)
    assert reference[0].input == {
        "q": {"text": "hi", "lang": "en"},
        "tags": ["a", "b"],
        "plain": "p",
    }
    assert source.hashes == expected_hashes(reference)


def test_random_files_hash_as_phoenix_reads_them() -> None:
    rng = random.Random(15)
    alphabet = string.ascii_letters + ' ,"\n\r\t{}[]:0123456789éü✓'
    for trial in range(60):
        ncols = rng.randint(1, 6)
        header = [f"c{i}" for i in range(ncols)]
        rows = [header]
        for _ in range(rng.randint(1, 12)):
            row = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in header]
            if rng.random() < 0.2:
                row = row[: rng.randint(1, ncols)]  # a short row: the rest is missing
            rows.append(row)
        data = csv_bytes(rows)
        cols = header[:]
        rng.shuffle(cols)
        cut1, cut2 = sorted(rng.randint(1, ncols) for _ in range(2))
        parts = (cols[:cut1], cols[cut1:cut2], cols[cut2:])
        source = from_csv_bytes(data, by_content(*parts), name="r.csv")
        assert source.hashes == expected_hashes(phoenix_reads(data, *parts)), (trial, data)


def test_gzip_zstd_s3_and_http(
    aws: S3Server,  # noqa: F811
    tmp_path: Path,
    private_tmp: Path,  # noqa: F811
) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(QA)
    keys: dict[str, Any] = {"input_keys": ["question"], "output_keys": ["answer"]}
    expected = read_source(str(path), **KW, **keys)
    (tmp_path / "qa.csv.gz").write_bytes(gzip.compress(QA))
    (tmp_path / "qa.csv.zst").write_bytes(zst(QA))
    (tmp_path / "export.dat").write_bytes(gzip.compress(QA))  # the keys say it is CSV
    sources = [str(tmp_path / n) for n in ("qa.csv.gz", "qa.csv.zst", "export.dat")]
    sources += [(tmp_path / "qa.csv").as_uri(), aws.put("csv/qa.csv.gz", gzip.compress(QA))]
    sources.append(aws.put("csv/qa.csv", QA))
    for src in sources:
        source = read_source(src, **KW, **keys)
        assert (source.ids, source.hashes, source.splits) == (
            expected.ids,
            expected.hashes,
            expected.splits,
        ), src
        del source
        assert list(private_tmp.iterdir()) == [], src
    pytest.importorskip("aiohttp")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "qa.csv.gz").write_bytes(gzip.compress(QA))
    with http_server(tmp_path / "www") as base:
        assert read_source(f"{base}/qa.csv.gz?sig=secret", **KW, **keys).hashes == expected.hashes
    with pytest.raises(pu.SourceNotFoundError, match=r"csv/missing\.csv"):
        read_source("s3://datasets/csv/missing.csv", **KW, **keys)


def test_a_sync_from_csv(client: pu.Client, name: str, tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(QA)
    keys: dict[str, Any] = {"input_keys": ["question", "context"], "output_keys": ["answer"]}
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=str(path), splits_key="split", manifest=False, **keys
    )
    assert ds.summary.added == 4
    again = client.datasets.upsert_dataset(
        dataset=name, examples=path, splits_key="split", manifest=False, **keys
    )
    assert again.plan.action == "none" and again.version_id == ds.version_id


# -- errors, before anything is sent --------------------------------------------------------


def read(data: bytes, tmp_path: Path, filename: str = "bad.csv", **kw: Any) -> Any:
    path = tmp_path / filename
    path.write_bytes(data)
    return read_source(str(path), **{**KW, **kw})


def test_a_missing_column_names_the_file_the_part_and_the_columns(tmp_path: Path) -> None:
    with pytest.raises(
        pu.MissingColumnError,
        match=r"bad\.csv: output_keys: no column 'answr' \(the columns: 'id', 'question'",
    ):
        read(QA, tmp_path, input_keys=["question"], output_keys=["answr"])
    with pytest.raises(pu.MissingColumnError, match="split_keys: no column 'fold'"):
        read(QA, tmp_path, input_keys=["question"], split_keys=["fold"])
    with pytest.raises(pu.MissingSourceIdError, match="source_id_key 'key' is not a column"):
        read(QA, tmp_path, input_keys=["question"], source_id_key="key")
    with pytest.raises(pu.InvalidExampleError, match="input_keys and output_keys both name"):
        read(QA, tmp_path, input_keys=["question"], output_keys=["question"])


def test_empty_files_header_only_and_duplicate_columns(tmp_path: Path) -> None:
    with pytest.raises(pu.CSVSyntaxError, match=r"empty\.csv: no header row") as e:
        read(b"", tmp_path, "empty.csv", input_keys=["q"])
    assert e.value.line == 1
    header_only = read(b"id,q,a\n", tmp_path, input_keys=["q"], output_keys=["a"])
    assert len(header_only) == 0
    with pytest.raises(pu.CSVSyntaxError, match=r"line 1: columns named twice: \['q'\]"):
        read(b"id,q,q\n1,2,3\n", tmp_path, input_keys=["q"])


def test_bad_encoding_names_the_line_and_byte(tmp_path: Path) -> None:
    data = b"id,q\n1,ok\n2,caf" + b"\xe9\n"  # Latin-1, not UTF-8
    with pytest.raises(pu.CSVEncodingError, match=r"bad\.csv: line 3, byte 6: not UTF-8") as e:
        read(data, tmp_path, input_keys=["q"])
    assert (e.value.line, e.value.column) == (3, 6)
    gz = tmp_path / "bad.csv.gz"
    gz.write_bytes(gzip.compress(data))
    with pytest.raises(pu.CSVEncodingError, match=r"bad\.csv\.gz: line 3"):
        read_source(str(gz), **KW, input_keys=["q"])


def test_bad_values_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(
        pu.NullCharacterError, match=r"bad\.csv: line 3 \(id '2'\), input\.q: "
    ) as e:
        read(b"id,q\n1,ok\n2,a\x00b\n", tmp_path, input_keys=["q"])
    assert (e.value.line, e.value.index, e.value.path) == (3, 1, "input.q")
    with pytest.raises(pu.DuplicateSourceIdError) as dup:
        read(b"id,q\n1,a\n1,b\n", tmp_path, input_keys=["q"])
    assert dup.value.ids == ["1"]
    with pytest.raises(pu.InvalidExampleError, match=r"line 2: column 'input\.a\.b'"):
        read(
            b"input.a,input.a.b\nx,y\n",
            tmp_path,
            source_id_key=None,
            input_keys=["input.a", "input.a.b"],
        )


def test_column_keys_still_refused_for_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 1, "input": {}, "output": {}}\n')
    with pytest.raises(TypeError, match="apply to a CSV file"):
        read_source(str(path), **KW, input_keys=["q"])


def test_split_keys_of_a_dataframe_as_of_a_csv(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"id": ["a", "b"], "q": ["x", "y"], "fold": ["train", None], "level": [" easy ", "hard"]}
    )
    source = read_source(df, **KW, input_keys=["q"], split_keys=["fold", "level"])
    assert source.splits == [("easy", "train"), ("hard",)]
    path = tmp_path / "s.csv"
    df.to_csv(path, index=False)
    from_file = read_source(str(path), **KW, input_keys=["q"], split_keys=["fold", "level"])
    assert (from_file.hashes, from_file.splits) == (source.hashes, source.splits)
    with pytest.raises(pu.MissingColumnError, match="split_keys not among the columns"):
        read_source(df, **KW, input_keys=["q"], split_keys=["nope"])
