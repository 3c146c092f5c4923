"""Run a synchronous sync in a worker thread while every request it makes goes through an
``httpx.AsyncClient`` on the caller's event loop.

The sync engine is synchronous code (reads, plans, one write, proof). The async client runs
it, unchanged, in a thread of its own — where reading and hashing the source (the native
core releases the GIL) cannot hold up the event loop — over an ``httpx.Client`` whose
transport is a :class:`LoopBridge`: each request is handed to the event loop and sent by the
user's own ``httpx.AsyncClient``, with its base URL, headers, authentication, event hooks,
transport, proxies and connection pool. Request bodies are produced off the loop (a JSONL
source's lines are read again and re-hashed for the upload); response bodies are streamed
back chunk by chunk.

Cancelling the awaiting task stops the sync: the bridge refuses every further request, the
request in flight is cancelled on the loop (its connection closed; an upload cut short is
rejected whole by the server), and a source being copied stops at its next chunk. The
worker thread may finish the hash it is in, but sends nothing more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx

from phoenix_upsert._sources import remote as _remote

T = TypeVar("T")

_END: Any = object()


class LoopBridge(httpx.BaseTransport):
    """A synchronous transport over an ``httpx.AsyncClient`` running on ``loop``; used
    from threads other than the loop's."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._loop_thread = threading.get_ident()  # made on the loop's thread
        self._stopped = threading.Event()
        # Touched on the loop's thread only.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._responses: set[httpx.Response] = set()

    # -- worker side ---------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`asyncio.CancelledError` if the sync was cancelled."""
        if self._stopped.is_set():
            raise asyncio.CancelledError("the sync was cancelled")

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the loop and wait for its result (from a worker thread)."""
        self.check()
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "phoenix-upsert: a blocking request on the event loop's own thread would "
                "never finish (await the async client's methods instead)"
            )
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            if self._stopped.is_set():
                done.cancel()
                return
            task = self._loop.create_task(_awaited(make))
            self._tasks.add(task)
            task.add_done_callback(lambda t: self._settle(t, done))

        try:
            self._loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop is closed
            raise asyncio.CancelledError("the event loop is closed") from None
        try:
            return done.result()
        except concurrent.futures.CancelledError:
            raise asyncio.CancelledError("the sync was cancelled") from None

    def _settle(self, task: asyncio.Task[T], done: concurrent.futures.Future[T]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())
        else:
            done.set_result(task.result())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.stream

        async def send() -> httpx.Response:
            forwarded = httpx.Request(
                request.method,
                request.url,
                headers=request.headers,
                stream=_AsyncBody(body),
                extensions=request.extensions,
            )
            response = await self._client.send(forwarded, stream=True)
            self._responses.add(response)
            return response

        response = self.run(send)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncBody(response, self),
            extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
        )

    # -- loop side -----------------------------------------------------------------------

    async def stop(self) -> None:
        """Refuse every further request, cancel the one in flight and close open
        responses; returns when they are gone."""
        self._stopped.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for response in list(self._responses):
            await self.close_response(response)

    async def close_response(self, response: httpx.Response) -> None:
        self._responses.discard(response)
        await response.aclose()

    def start_thread(self, work: Callable[[], T]) -> asyncio.Future[tuple[bool, Any]]:
        """Run ``work`` in a new thread; the future (on the loop) gets ``(True, result)`` or
        ``(False, exception)``. During ``work``, a source being copied checks for
        cancellation between chunks."""
        loop = self._loop
        outcome: asyncio.Future[tuple[bool, Any]] = loop.create_future()

        def settle(value: tuple[bool, Any]) -> None:
            if not outcome.done():
                outcome.set_result(value)

        def main() -> None:
            _remote.STOP_CHECK.set(self.check)
            value: tuple[bool, Any]
            try:
                value = (True, work())
            except BaseException as e:
                value = (False, e)
            try:
                loop.call_soon_threadsafe(settle, value)
            except RuntimeError:  # the loop is closed: nobody waits for the outcome
                pass

        threading.Thread(target=main, name="phoenix-upsert sync", daemon=True).start()
        return outcome


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class _AsyncBody(httpx.AsyncByteStream):
    """A request body for the async client. A streamed body (an upload, whose lines are read
    again and re-hashed) is produced in the loop's default executor, chunk by chunk."""

    def __init__(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if isinstance(self._stream, httpx.AsyncByteStream):
            async for chunk in self._stream:
                yield chunk
            return
        loop = asyncio.get_running_loop()
        chunks: Iterator[bytes] = iter(self._stream)
        while True:
            chunk = await loop.run_in_executor(None, next, chunks, _END)
            if chunk is _END:
                return
            yield chunk


class _SyncBody(httpx.SyncByteStream):
    """A response body read, chunk by chunk, from the async client's response."""

    def __init__(self, response: httpx.Response, bridge: LoopBridge) -> None:
        self._response = response
        self._bridge = bridge
        self._chunks: AsyncIterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._response.aiter_raw()

        async def step() -> Any:
            try:
                return await chunks.__anext__()
            except StopAsyncIteration:
                return _END

        while True:
            chunk = self._bridge.run(step)
            if chunk is _END:
                return
            yield chunk

    def close(self) -> None:
        response = self._response

        async def close() -> None:
            await self._bridge.close_response(response)

        try:
            self._bridge.run(close)
        except asyncio.CancelledError:
            pass  # stopping closes every open response
