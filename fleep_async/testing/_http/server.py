"""Serving FakeFleep over a real loopback socket with uvicorn, inside an anyio task group."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from fleep_async.testing._http.faults import SERVED_KEY

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from fleep_async.testing._fake import FakeFleep


@attrs.frozen(kw_only=True)
class FakeFleepServer:
    """A running, socket-served FakeFleep."""

    fake: FakeFleep
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """``http://host:port`` (an IPv6 host in brackets: ``http://[::1]:port``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def chat_url(self) -> str:
        """The web chat page (a small Fleep web client for talking to a bot by hand)."""
        from fleep_async.testing._http.web import CHAT_PATH

        return self.base_url + CHAT_PATH


class _Served:
    """Marks requests as socket-served, so a ``drop`` fault closes the socket instead of raising."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), SERVED_KEY: True}
        await self.app(scope, receive, send)


def _make_server(config: Any) -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """A uvicorn server that leaves signal handling to the host program."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

        def install_signal_handlers(self) -> None:  # uvicorn < 0.29
            return

    return QuietServer(config)


@contextlib.asynccontextmanager
async def serve_fake(
    cls: type[FakeFleep],
    host: str,
    port: int,
    *,
    fake: FakeFleep | None,
    backlog: int,
    **kwargs: Any,
) -> AsyncIterator[FakeFleepServer]:
    """Bind, start uvicorn in a task group, yield, then shut down cleanly."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "FakeFleep.serve needs asyncio (uvicorn); on trio use the in-process app"
        ) from None
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit proto 0 otherwise; uvicorn then writes headers and body apart and
    # Nagle holds the body for the client's delayed ACK (~40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before uvicorn starts: early connections wait in the backlog, so callers
        # may use the URL at once without polling for "server started".
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    real_port = sock.getsockname()[1]
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    if fake is None:
        kwargs.setdefault("base_url", f"http://{url_host}:{real_port}")
        fake = cls(**kwargs)
    elif kwargs:
        raise TypeError("pass either fake= or FakeFleep options, not both")
    else:
        fake.set_base_url(f"http://{url_host}:{real_port}")
    fake.reopen()
    config = uvicorn.Config(
        _Served(fake.app),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=backlog,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    server = _make_server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                yield FakeFleepServer(fake=fake, host=host, port=real_port)
            finally:
                fake.release_polls()
                server.should_exit = True
    finally:
        fake.reopen()
        sock.close()
