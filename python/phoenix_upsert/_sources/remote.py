"""Sources given by path or URL: local files, compressed files, and any fsspec URL.

A path or URL names JSONL (one example per line), CSV or Parquet, any of them possibly
compressed with gzip or zstd; the content says which (its first bytes), except for CSV,
which its name says (``.csv``, ``.csv.gz``, ``.csv.zst``), or keys naming columns
(``input_keys``…) given for a source whose text does not start as JSONL does (``csvfile``):

- A plain local JSONL file is scanned where it is, natively (``source.from_jsonl``).
- Anything else that must be decompressed or fetched — ``data.jsonl.gz``, ``data.jsonl.zst``,
  ``s3://bucket/key.jsonl``, ``https://…``, any URL fsspec knows (the convention pandas
  follows) — is streamed, in chunks of :data:`CHUNK` bytes and decompressed on the way, into
  a private temporary file (a directory only this user can read), which is then scanned
  natively. Memory stays bounded whatever the size. That copy is also what the upload reads
  again, so an object rewritten in the store while the sync runs cannot change what is sent;
  it is removed when the :class:`~phoenix_upsert._sources.source.Source` read from it goes away (as
  the sync ends), or at once if reading it fails.
- Parquet (local, or the temporary copy) is read column-wise (``tables``); CSV is read
  whole (``csvfile``).

Every failure to read a URL is a :class:`~phoenix_upsert.errors.SourceReadError` naming the
URL (without its password or query string): :class:`SourceNotFoundError` for a missing
object, :class:`SourceAccessError` for refused credentials. Reading happens before anything
is sent to Phoenix.

fsspec (and the package of the URL's protocol, e.g. s3fs), zstandard and pyarrow are
optional: each is imported only when a source needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from phoenix_upsert import _progress
from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert.errors import (
    InvalidInputError,
    SourceAccessError,
    SourceChangedError,
    SourceNotFoundError,
    SourceReadError,
    SourceUnreachableError,
)

if TYPE_CHECKING:
    from phoenix_upsert._sources.source import Source

#: Bytes read (and, decompressed, written) at a time while copying a source.
CHUNK = 1 << 20

#: Called between chunks while copying a source; raises to stop the copy (the async client
#: sets it to its cancellation check).
STOP_CHECK: ContextVar[Callable[[], None] | None] = ContextVar(
    "phoenix_upsert_stop_check", default=None
)

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"

Kind = Literal["jsonl", "parquet", "gzip", "zstd"]

EXTRAS = {
    "remote": "pip install 'phoenix-upsert[remote]' (fsspec and s3fs, for s3:// and https://)",
    "zstd": "pip install 'phoenix-upsert[zstd]' (zstandard)",
    "parquet": "pip install 'phoenix-upsert[parquet]' (pyarrow)",
}


def url_scheme(source: str) -> str | None:
    """The scheme of a URL (``s3``, ``https``, ``file``…), lowercase; ``None`` for a path."""
    m = _URL.match(source)
    return m.group(1).lower() if m else None


def display_url(url: str) -> str:
    """A URL as errors and results show it: without a password or a query string (a
    presigned URL's signature lives there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else netloc
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def sniff(head: bytes) -> Kind:
    """What the first bytes of a source say it is. No JSONL text starts with these bytes
    (0x1F and 0x28 ``(``, ``P`` cannot begin a JSON value)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "jsonl"


def read_path(examples: str | os.PathLike[str], options: SourceOptions) -> Source:
    """A source given by path or URL (see the module docs)."""
    from phoenix_upsert._sources import csvfile as _csv
    from phoenix_upsert._sources import tables as _tables

    text = os.fspath(examples)
    if not isinstance(text, str):
        raise TypeError(f"examples: a path must be str, not {type(text).__name__}")
    scheme = url_scheme(text) if isinstance(examples, str) else None

    named_csv = _csv.is_csv_name(text)
    if scheme is None or scheme == "file":
        local = Path(text) if scheme is None else _file_url_path(text)
        kind = _sniff_file(local)
        if kind == "jsonl" and _is_csv(named_csv, options, local):
            return _csv.from_csv_file(local, options, name=text)
        if kind == "jsonl":
            options.no_column_keys("a JSONL file")
            return _jsonl(examples if scheme is None else local, options, name=text)
        if kind == "parquet":
            return _tables.from_parquet(local, options, name=text)
        name = text
        size: int | None = _local_size(local)
        opened: Callable[[], Any] = lambda: _open_local(local, text)  # noqa: E731
    else:
        name = display_url(text)
        size = None
        opened = lambda: _open_url(text, name)  # noqa: E731

    copy = Spool(name)
    try:
        with opened() as raw:
            with _progress.byte_bar(
                options.progress,
                total=getattr(raw, "size", None) or size,
                desc=f"reading {name}",
                long=True,
            ) as bar:
                kind = copy.fill(raw, bar.update)
        if kind == "parquet" or _is_csv(named_csv, options, copy.path):
            # read whole into the source: the copy is not needed after
            try:
                if kind == "parquet":
                    return _tables.from_parquet(copy.path, options, name=name)
                return _csv.from_csv_file(copy.path, options, name=name)
            finally:
                copy.remove()
        else:
            options.no_column_keys("a JSONL source")
            source = _jsonl(copy.path, options, name=name)
    except BaseException:
        copy.remove()
        raise
    # The copy lives as long as the source read from it: the upload reads its lines again.
    weakref.finalize(source, copy.remove)
    return source


def _is_csv(named_csv: bool, options: SourceOptions, path: Path) -> bool:
    """Whether a (decompressed) source that is not Parquet is CSV: its name says so, or keys
    naming columns were given and its text does not start as JSONL does."""
    if named_csv:
        return True
    if not options.wants_columns:
        return False
    from phoenix_upsert._sources.csvfile import looks_like_csv

    try:
        with path.open("rb") as f:
            return looks_like_csv(f.read(4096))
    except OSError:
        return False


def _jsonl(path: str | os.PathLike[str], options: SourceOptions, *, name: str) -> Source:
    from phoenix_upsert._sources.source import from_jsonl

    return from_jsonl(
        path,
        source_id_key=options.source_id_key,
        splits_key=options.splits_key,
        span_id_key=options.span_id_key,
        progress=options.progress,
        name=name,
    )


def _local_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL (``file:///data/x.jsonl``, ``file://localhost/…``)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceReadError(
            f"{display_url(url)}: a file:// URL must name a local file (file:///path)",
            url=display_url(url),
        )
    from urllib.request import url2pathname

    return Path(url2pathname(unquote(parts.path)))


def _sniff_file(path: Path) -> Kind:
    """The kind of a local file by its first bytes; ``jsonl`` if it cannot be opened (the
    JSONL reader then says why, as it always has)."""
    try:
        with path.open("rb") as f:
            return sniff(f.read(4))
    except OSError:
        return "jsonl"


@contextmanager
def _open_local(path: Path, name: str) -> Iterator[IO[bytes]]:
    try:
        f = path.open("rb")
    except FileNotFoundError as e:
        raise SourceNotFoundError(f"{name}: no such file", url=name) from e
    except PermissionError as e:
        raise SourceAccessError(f"{name}: permission denied", url=name) from e
    with f:
        yield f


def _credentials_hint(url: str) -> str:
    scheme = url_scheme(url) or ""
    if scheme in ("s3", "s3a"):
        return (
            "check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE; AWS_SESSION_TOKEN for temporary ones) and, for a store other than "
            "AWS, AWS_ENDPOINT_URL"
        )
    if scheme in ("gs", "gcs"):
        return "check the credentials (GOOGLE_APPLICATION_CREDENTIALS)"
    return "check the credentials"


def _translate(error: BaseException, url: str, name: str) -> InvalidInputError:
    """A store's error (fsspec and its backends raise builtin OSErrors) as ours."""
    if isinstance(error, InvalidInputError):
        return error
    if type(error).__name__ == "FileExpired":  # s3fs: reads are pinned to the object's ETag
        return SourceChangedError(
            f"{name}: the object changed while it was read; nothing was written — run the "
            "sync again"
        )
    if isinstance(error, FileNotFoundError):
        # fsspec's HTTP filesystem says "not found" for any failure to get the file: its
        # cause tells a refused request or an unreachable server from a missing file.
        cause = error.__cause__
        status = getattr(cause, "status", None)
        if status in (401, 403):
            return SourceAccessError(
                f"{name}: access denied (HTTP {status}): {_credentials_hint(url)}", url=name
            )
        if isinstance(status, int) and status not in (404, 410):
            return SourceReadError(f"{name}: cannot read it (HTTP {status})", url=name)
        if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            return SourceUnreachableError(
                f"{name}: cannot reach it ({type(cause).__name__}: {cause})", url=name
            )
        return SourceNotFoundError(f"{name}: no such object (or bucket)", url=name)
    if isinstance(error, PermissionError):
        detail = str(error) or type(error).__name__
        return SourceAccessError(
            f"{name}: access denied ({detail}): {_credentials_hint(url)}", url=name
        )
    if isinstance(error, IsADirectoryError):
        return SourceReadError(f"{name}: is a directory, not a file", url=name)
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if _is_unreachable(error):
        return SourceUnreachableError(f"{name}: cannot reach it ({detail})", url=name)
    if type(error).__name__ == "NoCredentialsError":
        return SourceAccessError(f"{name}: {detail}: {_credentials_hint(url)}", url=name)
    return SourceReadError(f"{name}: cannot read it ({detail})", url=name)


#: Errors of the libraries under fsspec (botocore, aiohttp, urllib3) that mean the store could
#: not be reached, by class name (the libraries are optional, so not imported here).
_UNREACHABLE = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectTimeout"}
)


def _is_unreachable(error: BaseException) -> bool:
    """Whether ``error``, or what caused it, says the store could not be reached."""
    seen: BaseException | None = error
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, (ConnectionError, TimeoutError)) or any(
            cls.__name__ in _UNREACHABLE for cls in type(seen).__mro__
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def _open_url(url: str, name: str) -> Iterator[_Guarded]:
    """The object at ``url``, opened for reading in chunks through fsspec. A new filesystem
    object each time (no instance cache): credentials are read from the environment now,
    and concurrent syncs share nothing."""
    try:
        import fsspec
    except ImportError as e:
        raise SourceReadError(
            f"{name}: reading a URL needs fsspec: {EXTRAS['remote']}", url=name
        ) from e
    try:
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except ImportError as e:
        raise SourceReadError(f"{name}: {e} ({EXTRAS['remote']})", url=name) from e
    except ValueError as e:
        raise SourceReadError(f"{name}: not a URL fsspec can read ({e})", url=name) from e
    try:
        f = fs.open(path, "rb", block_size=4 * CHUNK)
    except Exception as e:
        raise _translate(e, url, name) from e
    try:
        yield _Guarded(f, url, name)
    finally:
        try:
            f.close()
        except Exception:  # closing a read-only file cannot lose data
            pass


class _Guarded:
    """A file whose read errors become ours."""

    def __init__(self, f: IO[bytes], url: str, name: str) -> None:
        self._f, self._url, self._name = f, url, name

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._f.read(size))
        except Exception as e:
            raise _translate(e, self._url, self._name) from e

    @property
    def size(self) -> int | None:
        """The object's size, if the filesystem said (for progress)."""
        size = getattr(self._f, "size", None)
        return size if isinstance(size, int) else None

    def __enter__(self) -> _Guarded:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Counted:
    """``raw``, telling ``on_read`` how many bytes each read returned."""

    def __init__(self, raw: Any, on_read: Callable[[int], object]) -> None:
        self._raw, self._on_read = raw, on_read

    def read(self, size: int = -1) -> bytes:
        data = bytes(self._raw.read(size))
        self._on_read(len(data))
        return data


class _Prefixed:
    """``head`` (bytes already read to sniff the stream) followed by the rest of ``raw``."""

    def __init__(self, head: bytes, raw: Any) -> None:
        self._head, self._raw = head, raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                out, self._head = self._head, b""
                more = bytes(self._raw.read(-1 if size < 0 else size - len(out)))
                return out + more
            out, self._head = self._head[:size], self._head[size:]
            return out
        return bytes(self._raw.read(size))

    def readable(self) -> bool:
        return True


def _read_head(raw: Any, n: int) -> bytes:
    head = b""
    while len(head) < n:
        chunk = raw.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _ZstdReader:
    """zstd frames decompressed as a stream, one after the other (``zstd -T`` and pzstd
    write several), fed :data:`FEED` compressed bytes at a time so that each step's output
    stays small. Unlike zstandard's ``stream_reader``, a stream that ends inside a frame
    (a truncated file) is an error, not a silent end."""

    FEED = 16 * 1024

    def __init__(self, raw: Any, decompressor: Any) -> None:
        self._raw = raw
        self._decompressor = decompressor
        self._frame = decompressor.decompressobj()
        self._in_frame = False
        self._buffer = bytearray()
        self._ended = False

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size and not self._ended:
            data = self._raw.read(self.FEED)
            if not data:
                self._ended = True
                if self._in_frame:
                    raise EOFError("the stream ends inside a zstd frame (a truncated file?)")
                break
            while data:
                if not self._in_frame:
                    self._frame = self._decompressor.decompressobj()
                    self._in_frame = True
                self._buffer += self._frame.decompress(data)
                data = b""
                if self._frame.eof:
                    self._in_frame = False
                    data = self._frame.unused_data
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class Spool:
    """A private temporary copy of a source, decompressed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir: Path | None = None
        self.path = Path()

    def remove(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def fill(self, raw: Any, on_read: Callable[[int], object] | None = None) -> Kind:
        """Copy ``raw`` here in bounded chunks, decompressing gzip or zstd on the way;
        return the kind of what was written (``jsonl`` or ``parquet``). ``on_read`` is told
        how many bytes of ``raw`` each read took (for progress)."""
        self.dir = Path(tempfile.mkdtemp(prefix="phoenix-upsert-"))  # mode 0700
        self.path = self.dir / "source"
        if on_read is not None:
            raw = _Counted(raw, on_read)
        head = _read_head(raw, 4)
        compression = sniff(head)
        stream: Any = _Prefixed(head, raw)
        if compression == "gzip":
            import gzip

            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        elif compression == "zstd":
            try:
                import zstandard
            except ImportError as e:
                raise SourceReadError(
                    f"{self.name}: it is zstd-compressed; reading it needs zstandard: "
                    f"{EXTRAS['zstd']}",
                    url=self.name,
                ) from e
            stream = _ZstdReader(stream, zstandard.ZstdDecompressor())
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        first = b""
        with os.fdopen(fd, "wb") as out:
            while True:
                check = STOP_CHECK.get()
                if check is not None:
                    check()
                try:
                    chunk = stream.read(CHUNK)
                except InvalidInputError:
                    raise
                except Exception as e:
                    raise self._failed(compression, e) from e
                if not chunk:
                    break
                if len(first) < 4:
                    first += chunk[: 4 - len(first)]
                out.write(chunk)
        return "parquet" if sniff(first) == "parquet" else "jsonl"

    def _failed(self, compression: Kind, error: Exception) -> InvalidInputError:
        if compression in ("gzip", "zstd") and _is_codec_error(error):
            return SourceReadError(
                f"{self.name}: cannot decompress it ({compression}): {error}", url=self.name
            )
        return _translate(error, self.name, self.name)


def _is_codec_error(error: Exception) -> bool:
    """gzip's and zlib's errors for corrupt data, EOFError for a truncated stream,
    zstandard's ZstdError."""
    import gzip
    import zlib

    if isinstance(error, (gzip.BadGzipFile, zlib.error, EOFError)):
        return True
    return type(error).__name__ == "ZstdError"
