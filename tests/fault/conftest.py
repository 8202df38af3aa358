"""Shared fixtures of the fault suite: an in-process FakeFleep, a request recorder, and a raw
socket server for the responses no ASGI app can send (100 MB bodies, oversized headers).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import httpx
import pytest

from fleep_async.testing import FakeFleep

GUARD = 30.0
"""Seconds before a wait in this suite fails as a hang (a guard, never a timing assertion)."""


@pytest.fixture
def fake() -> FakeFleep:
    """An in-process FakeFleep with a short long-poll hold and a fixed seed."""
    return FakeFleep(hold_seconds=0.2, seed=8)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps an httpx transport and keeps every request that reaches it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


Responder = Callable[[anyio.abc.SocketStream, bytes], Awaitable[None]]
"""Answers one request on a raw connection: ``(stream, request_head)``."""


async def _read_request(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    # Read the whole body: closing with unread input would reset the connection under the client.
    while len(body) < length:
        body += await stream.receive()
    return head


@contextlib.asynccontextmanager
async def serve_raw(respond: Responder) -> AsyncIterator[str]:
    """Serve ``respond`` on a loopback port; yields the base URL (``http://127.0.0.1:<port>``)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            # The client hanging up early is the point of most of these tests.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                await respond(stream, await _read_request(stream))

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


@pytest.fixture
def raw_server() -> Callable[[Responder], contextlib.AbstractAsyncContextManager[str]]:
    """:func:`serve_raw`, as a fixture."""
    return serve_raw
