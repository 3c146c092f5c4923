"""Run a real Phoenix server locally, for tests and demos.

    with LocalPhoenix() as phoenix:
        client = Client(base_url=phoenix.base_url)

Needs the ``arize-phoenix`` package (the server) in the same environment. The server gets
free ports on 127.0.0.1 and its own working directory (SQLite lives there), and is stopped
on exit. Nothing is reached beyond loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

__all__ = ["LocalPhoenix", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPhoenix:
    """A ``phoenix serve`` subprocess on free loopback ports.

    Args:
        working_dir: where Phoenix keeps its SQLite database (default: a new temporary
            directory, removed on exit).
        env: extra environment variables for the server (e.g. ``PHOENIX_ENABLE_AUTH``).
        startup_timeout: seconds to wait for the server to answer.
        port: the HTTP port (default: a free one).
    """

    def __init__(
        self,
        *,
        working_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120.0,
        port: int | None = None,
    ) -> None:
        self._own_dir = working_dir is None
        self.working_dir = Path(working_dir or tempfile.mkdtemp(prefix="phoenix-"))
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = port or free_port()
        self.grpc_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.working_dir / "phoenix-server.log"

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.working_dir / "phoenix.db"

    def start(self) -> LocalPhoenix:
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": str(self.working_dir),
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            **self.extra_env,
        }
        for key in ("PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_API_KEY", "PHOENIX_CLIENT_HEADERS"):
            if key not in self.extra_env:
                env.pop(key, None)
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
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
        """Stop the server (``kill=True``: SIGKILL at once, as a crash would)."""
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
        """Stop and start again on the same ports and database."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> LocalPhoenix:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.working_dir, ignore_errors=True)
