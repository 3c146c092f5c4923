"""A small fault-injecting HTTP/1.1 proxy on loopback, in front of a real Phoenix server.

Each request is read whole (Content-Length or chunked body), then either forwarded to the
server or answered with a fault by the first matching rule:

- ``status(code, headers)``: answer at once with that status (500, 502, 503, 429...);
- ``drop_request()``: close the connection after the request headers, sending nothing back;
- ``drop_response()``: forward (the server does the work), then send back half of the
  answer and close — the write landed, its answer is lost;
- ``delay(seconds)``: forward after a pause (a slow server);
- ``rewrite(function)``: forward, then pass the answer's body through ``function`` and send
  it with a matching content-length (a proxy that cuts a body short at a line, a cache that
  answers for another URL, an intermediary that reorders a list).

``cache=True`` makes it a shared cache in front of Phoenix: a GET is answered from the first
answer to the same URL, unless the request says ``Cache-Control: no-cache`` (or ``Pragma:
no-cache``), as HTTP caches do.

The proxy answers with ``Connection: close``, so every request comes on a new connection
and faults stay tied to single requests. ``stop()`` makes the port refuse connections.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Fault:
    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: bytes = b'{"detail":"injected fault"}'
    function: Callable[[bytes], bytes] | None = None


def status(code: int, headers: dict[str, str] | None = None, body: bytes | None = None) -> Fault:
    fault = Fault("status", status=code, headers=headers or {})
    if body is not None:
        fault.body = body
    return fault


def drop_request() -> Fault:
    return Fault("drop_request")


def drop_response() -> Fault:
    return Fault("drop_response")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def rewrite(function: Callable[[bytes], bytes]) -> Fault:
    return Fault("rewrite", function=function)


def drop_last_line(body: bytes) -> bytes:
    """A JSONL body without its last line, cut where a line ends (nothing shows the cut)."""
    lines = body.splitlines(keepends=True)
    return b"".join(lines[:-1])


@dataclass
class Rule:
    method: str
    path: str  # regular expression, searched in the path
    fault: Fault
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and re.search(self.path, path) is not None


def _read_until(sock: socket.socket, buf: bytearray, marker: bytes) -> int:
    while (i := buf.find(marker)) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("client closed")
        buf += chunk
    return i


def _read_exact(sock: socket.socket, buf: bytearray, n: int) -> None:
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("client closed")
        buf += chunk


def read_request(sock: socket.socket) -> tuple[str, str, list[tuple[str, str]], bytes]:
    buf = bytearray()
    end = _read_until(sock, buf, b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    rest = bytearray(buf[end + 4 :])
    method, target, _ = head[0].split(" ", 2)
    headers = [tuple(h.split(":", 1)) for h in head[1:] if ":" in h]
    headers = [(k.strip(), v.strip()) for k, v in headers]
    lower = {k.lower(): v for k, v in headers}
    if lower.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            i = _read_until(sock, rest, b"\r\n")
            size = int(bytes(rest[:i]).split(b";")[0], 16)
            del rest[: i + 2]
            _read_exact(sock, rest, size + 2)
            body += rest[:size]
            del rest[: size + 2]
            if size == 0:
                break
        return method, target, headers, bytes(body)
    length = int(lower.get("content-length", "0"))
    _read_exact(sock, rest, length)
    return method, target, headers, bytes(rest[:length])


class FaultProxy:
    def __init__(self, upstream_port: int, *, cache: bool = False) -> None:
        self.upstream_port = upstream_port
        self.cache: dict[str, bytes] | None = {} if cache else None
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []  # (method, path, what happened)
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.port = 0
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: connections are refused until ``start()``."""
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def add(self, method: str, path: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self.rules.append(Rule(method, path, fault, times))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()

    def count(self, method: str, pattern: str = "", what: str = "") -> int:
        return sum(1 for m, p, w in self.log if m == method and re.search(pattern, p) and what in w)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    return rule.fault
        return None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                method, target, headers, body = read_request(conn)
            except (ConnectionError, OSError, ValueError):
                return
            path = target.split("?", 1)[0]
            fault = self._take(method, path)
            what = fault.kind if fault else "forwarded"
            with self._lock:
                self.log.append((method, path, what))
            if fault is not None and fault.kind == "drop_request":
                conn.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "status":
                extra = "".join(f"{k}: {v}\r\n" for k, v in fault.headers.items())
                text = fault.body
                conn.sendall(
                    f"HTTP/1.1 {fault.status} Injected\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(text)}\r\nconnection: close\r\n{extra}\r\n".encode()
                    + text
                )
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.seconds)
            lower = {k.lower(): v.lower() for k, v in headers}
            cached = None
            if self.cache is not None and method == "GET":
                fresh = "no-cache" in lower.get("cache-control", "") or "no-cache" in lower.get(
                    "pragma", ""
                )
                cached = None if fresh else self.cache.get(target)
                if cached is not None:
                    with self._lock:
                        self.log.append((method, path, "cached"))
            try:
                if fault is not None and fault.kind == "rewrite":
                    # The body is rewritten as text: ask the server for it uncompressed.
                    headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
                response = cached or self._forward(method, target, headers, body)
            except OSError:
                return  # upstream is down: the client sees its connection closed
            if self.cache is not None and method == "GET" and cached is None:
                self.cache[target] = response
            if fault is not None and fault.kind == "rewrite":
                assert fault.function is not None
                response = _with_body(response, fault.function)
            if fault is not None and fault.kind == "drop_response":
                conn.sendall(response[: max(1, len(response) // 2)])
                conn.shutdown(socket.SHUT_RDWR)
                return
            try:
                conn.sendall(response)
            except OSError:
                pass

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        skip = {"transfer-encoding", "content-length", "connection", "keep-alive"}
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
        lines += [f"content-length: {len(body)}", "connection: close"]
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=600) as up:
            up.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            chunks = []
            while chunk := up.recv(65536):
                chunks.append(chunk)
        return _with_connection_close(b"".join(chunks))


def _with_body(response: bytes, function: Callable[[bytes], bytes]) -> bytes:
    """A response (as ``_forward`` returns it) with its body rewritten."""
    end = response.find(b"\r\n\r\n")
    head, body = response[:end].decode("latin-1").split("\r\n"), response[end + 4 :]
    new = function(body)
    kept = [h for h in head if not h.lower().startswith("content-length:")]
    kept.append(f"content-length: {len(new)}")
    return ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1") + new


def _with_connection_close(response: bytes) -> bytes:
    """Re-frame an upstream response: de-chunk it, set content-length and connection: close."""
    end = response.find(b"\r\n\r\n")
    if end < 0:
        return response
    head = response[:end].decode("latin-1").split("\r\n")
    body = response[end + 4 :]
    headers = [h for h in head[1:] if ":" in h]
    lower = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in headers}
    if lower.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        rest = bytearray(body)
        while rest:
            i = rest.find(b"\r\n")
            size = int(bytes(rest[:i]).split(b";")[0], 16)
            del rest[: i + 2]
            out += rest[:size]
            del rest[: size + 2]
            if size == 0:
                break
        body = bytes(out)
    skip = {"transfer-encoding", "content-length", "connection", "keep-alive"}
    kept = [h for h in headers if h.split(":", 1)[0].strip().lower() not in skip]
    kept += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join([head[0], *kept]) + "\r\n\r\n").encode("latin-1") + body
