"""Sources where users keep them: s3:// (a real S3-compatible server on loopback: moto's
server mode, in a process of its own, with IAM credentials enforced), http(s)://, file://,
and gzip/zstd-compressed JSONL, local or remote; then Parquet, Arrow tables and polars
DataFrames. Syncs run end to end into a real Phoenix (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert._sources import remote as _remote
from phoenix_upsert._sources.source import read_source
from phoenix_upsert.testing import LocalPhoenix, free_port

from ..conftest import Recorder, server_rows, stored_hashes

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
zstandard = pytest.importorskip("zstandard")

BUCKET = "datasets"
AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


class S3Server:
    """moto's S3-compatible server (``moto.server``) on a free loopback port, in a process
    of its own. Authentication is enforced (``INITIAL_NO_AUTH_ACTION_COUNT``): the first
    three requests make an IAM user, its access key and a policy that lets it use S3;
    every request after that must be signed with that key."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        self.log = (work / "moto.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=2)
                break
            except httpx.TransportError as e:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto's server did not start: see {work / 'moto.log'}"
                    ) from e
                time.sleep(0.1)
        anyone = {
            "endpoint_url": self.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "nobody",
            "aws_secret_access_key": "nothing",
        }
        iam = boto3.client("iam", **anyone)
        iam.create_user(UserName="ci")
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="ci", PolicyName="s3", PolicyDocument=json.dumps(policy))
        self.key_id = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )
        self.s3.create_bucket(Bucket=BUCKET)

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS variables a CI job would set for this store."""
        env = {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            # nothing from this machine's ~/.aws
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env.update(overrides)
        return env

    def put(self, key: str, data: bytes) -> str:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return f"s3://{BUCKET}/{key}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto"))
    yield server
    server.close()


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The process environment of a CI job that may read the bucket."""
    for var in AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in s3.env().items():
        monkeypatch.setenv(var, value)
    return s3


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the temporary copies of sources go during a test (checked empty after)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


def examples(n: int, *, tag: str = "v1") -> list[dict[str, Any]]:
    return [
        {
            "id": f"q{i}",
            "input": {"question": f"What is {i} + {i}?", "lang": "en", "é": "ü"},
            "output": {"answer": str(2 * i), "tag": tag},
            "metadata": {"difficulty": i % 3},
            "splits": ["train" if i % 4 else "test"],
        }
        for i in range(n)
    ]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def zst(data: bytes) -> bytes:
    return bytes(zstandard.ZstdCompressor().compress(data))


def holds_exactly(client: Client, name: str, rows: list[dict[str, Any]]) -> bool:
    got = server_rows(client, name)
    return set(got) == {r["id"] for r in rows} and all(
        got[r["id"]]["input"] == r["input"]
        and got[r["id"]]["output"] == r["output"]
        and got[r["id"]]["metadata"] == r["metadata"]
        and sorted(got[r["id"]].get("splits") or []) == r["splits"]
        for r in rows
    )


KW: dict[str, Any] = {"source_id_key": "id", "splits_key": "splits", "span_id_key": "span_id"}


# -- end to end from s3:// ------------------------------------------------------------------


def test_sync_from_s3_plain_gzip_and_zstd(
    aws: S3Server,
    client: Client,
    phoenix: LocalPhoenix,
    recorder: Recorder,
    name: str,
    tmp_path: Path,
    private_tmp: Path,
) -> None:
    v1, v2 = examples(300), examples(320, tag="v2")
    v2[5]["output"]["answer"] = "changed"
    del v2[9]
    plain = aws.put(f"{name}/v1.jsonl", jsonl(v1))
    gz = aws.put(f"{name}/v2.jsonl.gz", gzip.compress(jsonl(v2)))
    zs = aws.put(f"{name}/v2.jsonl.zst", zst(jsonl(v2)))

    ds1 = client.datasets.upsert_dataset(dataset=name, examples=plain, manifest=False)
    assert ds1.plan.action == "create" and ds1.summary.added == 300
    assert holds_exactly(client, name, v1)
    assert list(private_tmp.iterdir()) == [], "the temporary copy is removed after the sync"

    ds2 = client.datasets.upsert_dataset(dataset=name, examples=gz, manifest=False)
    assert ds2.summary == pu.SyncSummary(added=20, updated=299, deleted=1, unchanged=0)
    assert holds_exactly(client, name, v2)

    recorder.clear()
    ds3 = client.datasets.upsert_dataset(dataset=name, examples=zs, manifest=False)
    assert ds3.summary.unchanged == len(v2) and ds3.plan.action == "none"
    assert recorder.count("POST") == 0
    assert list(private_tmp.iterdir()) == []

    # What Phoenix stored is what the native core computes of the same lines.
    local = tmp_path / "v2.jsonl"
    local.write_bytes(jsonl(v2))
    assert stored_hashes(phoenix, name) == dict(zip([r["id"] for r in v2], pu.hash_jsonl(local)))


def test_the_copy_is_what_is_sent_even_if_the_object_changes_after_reading(
    aws: S3Server, client: Client, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload re-reads the local copy: rewriting the object after it was read (while the
    sync plans and writes) changes nothing of what is sent."""
    v1 = examples(50)
    url = aws.put(f"{name}/data.jsonl.gz", gzip.compress(jsonl(v1)))
    original = _remote.Spool.fill

    def fill_then_rewrite(self: _remote.Spool, raw: Any, on_read: Any = None) -> Any:
        kind = original(self, raw, on_read)
        aws.put(f"{name}/data.jsonl.gz", gzip.compress(jsonl(examples(50, tag="other"))))
        return kind

    monkeypatch.setattr(_remote.Spool, "fill", fill_then_rewrite)
    client.datasets.upsert_dataset(dataset=name, examples=url, manifest=False)
    assert holds_exactly(client, name, v1)


def test_an_object_rewritten_while_it_is_read_is_refused(
    aws: S3Server, client: Client, recorder: Recorder, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs pins every ranged read to the object's ETag: a rewrite in the middle of the copy
    is a SourceChangedError, before anything is sent."""
    data = jsonl(examples(6000))
    assert len(data) > 1_000_000
    url = aws.put(f"{name}/data.jsonl", data)
    monkeypatch.setattr(_remote, "CHUNK", 64 * 1024)  # blocks of 256 KiB
    rewritten: list[bool] = []

    def rewrite_once() -> None:
        if not rewritten:
            rewritten.append(True)
            aws.put(f"{name}/data.jsonl", jsonl(examples(6000, tag="v2")))

    token = _remote.STOP_CHECK.set(rewrite_once)
    try:
        with pytest.raises(pu.SourceChangedError, match=re.escape(f"{url}: the object changed")):
            client.datasets.upsert_dataset(dataset=name, examples=url, manifest=False)
    finally:
        _remote.STOP_CHECK.reset(token)
    assert recorder.requests == []


# -- errors before anything is written ------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"AWS_SECRET_ACCESS_KEY": "not-the-secret"},
        {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"},
    ],
    ids=["wrong secret", "unknown key id"],
)
def test_wrong_credentials_are_a_clear_error_before_anything_is_written(
    aws: S3Server,
    client: Client,
    recorder: Recorder,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    private_tmp: Path,
    overrides: dict[str, str],
) -> None:
    url = aws.put(f"{name}/data.jsonl", jsonl(examples(5)))
    for var, value in overrides.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(pu.SourceAccessError) as info:
        client.datasets.upsert_dataset(dataset=name, examples=url)
    message = str(info.value)
    assert message.startswith(f"{url}: access denied") and "AWS_ACCESS_KEY_ID" in message
    assert info.value.url == url
    assert isinstance(info.value, pu.InvalidInputError) and isinstance(info.value, PermissionError)
    assert recorder.requests == [], "nothing was sent to Phoenix"
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("where", ["missing object", "missing bucket"])
def test_a_missing_object_is_a_clear_error_before_anything_is_written(
    aws: S3Server, client: Client, recorder: Recorder, name: str, where: str
) -> None:
    url = (
        f"s3://{BUCKET}/{name}/nothing-here.jsonl.gz"
        if where == "missing object"
        else "s3://no-such-bucket-here/data.jsonl"
    )
    with pytest.raises(pu.SourceNotFoundError, match="no such object") as info:
        client.datasets.upsert_dataset(dataset=name, examples=url)
    assert str(info.value).startswith(url) and info.value.url == url
    assert isinstance(info.value, FileNotFoundError)
    assert recorder.requests == []


def test_without_fsspec_the_error_says_what_to_install(
    client: Client, recorder: Recorder, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec raises ImportError
    with pytest.raises(pu.SourceReadError, match=r"phoenix-upsert\[remote\]"):
        client.datasets.upsert_dataset(dataset=name, examples="s3://bucket/data.jsonl")
    with pytest.raises(pu.SourceReadError, match="fsspec"):
        read_source("gs://bucket/data.jsonl", **KW)
    assert recorder.requests == []


def test_an_unknown_protocol_names_the_url() -> None:
    with pytest.raises(pu.SourceReadError, match=re.escape("nosuchproto://x/y.jsonl")):
        read_source("nosuchproto://x/y.jsonl", **KW)


# -- the command line ------------------------------------------------------------------------


def test_the_command_line_syncs_from_s3(
    aws: S3Server, client: Client, phoenix: LocalPhoenix, name: str, tmp_path: Path
) -> None:
    rows = examples(40)
    url = aws.put(f"{name}/cli.jsonl.zst", zst(jsonl(rows)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PHOENIX_"))}
    env.update(aws.env(), PHOENIX_UPSERT_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "phoenix_upsert", "sync", url, "--dataset", name]
    command += ["--endpoint", phoenix.base_url, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert holds_exactly(client, name, rows)

    missing = f"s3://{BUCKET}/{name}/missing.jsonl"
    command[4] = missing
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{missing}: no such object" in done.stderr
    assert json.loads(done.stdout)["error"] == "SourceNotFoundError"


# -- http(s)://, file://, local compressed files ---------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; refuses everything under /private with 403."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/private"):
            self.send_error(403)
        else:
            super().do_GET()

    def do_HEAD(self) -> None:
        if self.path.startswith("/private"):
            self.send_error(403)
        else:
            super().do_HEAD()


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Python's own HTTP file server on a free loopback port, serving ``root``."""
    Quiet = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_urls_plain_and_compressed(tmp_path: Path, private_tmp: Path) -> None:
    pytest.importorskip("aiohttp")
    rows = examples(100)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "data.jsonl").write_bytes(jsonl(rows))
    (tmp_path / "www" / "data.jsonl.gz").write_bytes(gzip.compress(jsonl(rows)))
    expected = pu.hash_jsonl(tmp_path / "www" / "data.jsonl")
    with http_server(tmp_path / "www") as base:
        for path in ("data.jsonl", "data.jsonl.gz", "data.jsonl?token=secret"):
            source = read_source(f"{base}/{path}", **KW)
            assert source.hashes == expected
            assert "secret" not in source.name
            del source
            assert list(private_tmp.iterdir()) == []
        with pytest.raises(pu.SourceNotFoundError, match=re.escape(f"{base}/missing.jsonl")):
            read_source(f"{base}/missing.jsonl", **KW)
        with pytest.raises(pu.SourceAccessError, match=re.escape(f"{base}/private/a.jsonl")):
            read_source(f"{base}/private/a.jsonl", **KW)
    unreachable = f"http://127.0.0.1:{free_port()}/data.jsonl"
    with pytest.raises(pu.SourceUnreachableError, match=re.escape(f"{unreachable}: cannot reach")):
        read_source(unreachable, **KW)
    assert list(private_tmp.iterdir()) == []


def test_local_gzip_zstd_and_file_urls(tmp_path: Path, private_tmp: Path) -> None:
    rows = examples(500)
    plain = tmp_path / "data.jsonl"
    plain.write_bytes(jsonl(rows))
    (tmp_path / "data.jsonl.gz").write_bytes(gzip.compress(jsonl(rows)))
    (tmp_path / "data.jsonl.zst").write_bytes(zst(jsonl(rows)))
    # pzstd and `zstd -T` write several frames; gzip files can have several members
    half = len(rows) // 2
    (tmp_path / "frames.jsonl.zst").write_bytes(zst(jsonl(rows[:half])) + zst(jsonl(rows[half:])))
    (tmp_path / "members.gz").write_bytes(
        gzip.compress(jsonl(rows[:half])) + gzip.compress(jsonl(rows[half:]))
    )
    # named .jsonl but compressed: the content decides
    (tmp_path / "misnamed.jsonl").write_bytes(gzip.compress(jsonl(rows)))
    expected = read_source(plain, **KW)
    for name in (
        "data.jsonl.gz",
        "data.jsonl.zst",
        "frames.jsonl.zst",
        "members.gz",
        "misnamed.jsonl",
    ):
        source = read_source(str(tmp_path / name), **KW)
        assert (source.ids, source.hashes, source.splits) == (
            expected.ids,
            expected.hashes,
            expected.splits,
        ), name
        assert source.name == str(tmp_path / name)
        assert [json.loads(t) for t in source.rows([0, 499], 1)] == [
            rows[0]["output"],
            rows[499]["output"],
        ]
        del source
        assert list(private_tmp.iterdir()) == [], name
    for url in (plain.as_uri(), (tmp_path / "data.jsonl.gz").as_uri()):
        assert read_source(url, **KW).hashes == expected.hashes


def test_errors_in_compressed_sources_name_the_line(tmp_path: Path, private_tmp: Path) -> None:
    bad = jsonl(examples(10)) + b'{"id": "x", "input": {"a": NaN}, "output": {}}\n'
    (tmp_path / "bad.jsonl.gz").write_bytes(gzip.compress(bad))
    with pytest.raises(pu.JSONLSyntaxError) as info:
        read_source(tmp_path / "bad.jsonl.gz", **KW)
    assert info.value.line == 11
    assert list(private_tmp.iterdir()) == [], "the copy is removed when reading it fails"


def test_corrupt_and_truncated_compressed_files(tmp_path: Path, private_tmp: Path) -> None:
    data = gzip.compress(jsonl(examples(200)))
    (tmp_path / "truncated.jsonl.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.jsonl.gz").write_bytes(data[:20] + b"\x00" * 40 + data[60:])
    z = zst(jsonl(examples(200)))
    (tmp_path / "truncated.jsonl.zst").write_bytes(z[: len(z) // 2])
    for name, codec in [
        ("truncated.jsonl.gz", "gzip"),
        ("corrupt.jsonl.gz", "gzip"),
        ("truncated.jsonl.zst", "zstd"),
    ]:
        with pytest.raises(pu.SourceReadError, match=rf"cannot decompress it \({codec}\)") as info:
            read_source(tmp_path / name, **KW)
        assert str(info.value).startswith(str(tmp_path / name))
    assert list(private_tmp.iterdir()) == []


def test_zstd_without_zstandard_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data.jsonl.zst").write_bytes(zst(jsonl(examples(3))))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(pu.SourceReadError, match=r"phoenix-upsert\[zstd\]"):
        read_source(tmp_path / "data.jsonl.zst", **KW)


def test_the_temporary_copy_is_private(tmp_path: Path, private_tmp: Path) -> None:
    (tmp_path / "data.jsonl.gz").write_bytes(gzip.compress(jsonl(examples(3))))
    source = read_source(tmp_path / "data.jsonl.gz", **KW)
    (copy_dir,) = private_tmp.iterdir()
    assert copy_dir.stat().st_mode & 0o777 == 0o700
    assert (copy_dir / "source").stat().st_mode & 0o777 == 0o600
    del source
    assert not copy_dir.exists()


# -- bounded memory ---------------------------------------------------------------------------

PEAK_RSS = """
import sys
import phoenix_upsert._sources.remote, fsspec, s3fs, zstandard, gzip  # what reading needs, loaded
from phoenix_upsert._sources.source import read_source

def peak_mb():  # VmHWM: this process's peak resident set (ru_maxrss survives exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

base = peak_mb()
source = read_source(sys.argv[1], source_id_key="id", splits_key=None, span_id_key=None)
print(len(source), base, peak_mb())
"""


def big_jsonl(path: Path, megabytes: int) -> int:
    """Write ``megabytes`` MB of JSONL with 2 kB examples; return their number."""
    n = megabytes * 1_000_000 // 2_000
    filler = "lorem ipsum dolor sit amet " * 70
    with path.open("wb") as f:
        for i in range(n):
            row = {"id": f"q{i}", "input": {"text": f"{i} {filler}"[:1900]}, "output": {"i": i}}
            f.write(json.dumps(row).encode() + b"\n")
    return n


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
@pytest.mark.parametrize("where", ["s3 zstd", "local gzip"])
def test_a_200_mb_source_is_read_in_bounded_memory(
    aws: S3Server, tmp_path: Path, where: str
) -> None:
    plain = tmp_path / "big.jsonl"
    n = big_jsonl(plain, 200)
    size_mb = plain.stat().st_size / 1e6
    if where == "s3 zstd":
        compressed = tmp_path / "big.jsonl.zst"
        with plain.open("rb") as src, compressed.open("wb") as dst:
            zstandard.ZstdCompressor(level=1).copy_stream(src, dst)
        aws.s3.upload_file(str(compressed), BUCKET, "big.jsonl.zst")
        source = f"s3://{BUCKET}/big.jsonl.zst"
    else:
        compressed = tmp_path / "big.jsonl.gz"
        with plain.open("rb") as src, gzip.open(compressed, "wb", compresslevel=1) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        source = str(compressed)
    plain.unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(aws.env())
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, source],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    count, base_mb, peak_mb = map(int, done.stdout.split())
    print(
        f"\n{where}: {size_mb:.0f} MB decompressed ({compressed.stat().st_size / 1e6:.1f} MB "
        f"compressed), {count} examples: peak RSS {peak_mb} MB ({base_mb} MB after imports)"
    )
    assert count == n
    # Per example the source keeps its id, hash and line position (~0.4 kB), not its 2 kB;
    # holding the file whole would take more than its size.
    assert peak_mb - base_mb < 0.5 * size_mb, (base_mb, peak_mb)
