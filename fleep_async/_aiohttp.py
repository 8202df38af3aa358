"""An optional faster HTTP transport: httpx's API over aiohttp's connection pool (asyncio only).

httpx's own pool (httpcore) is pure Python; aiohttp parses HTTP in C. Plugged in underneath the
same :class:`~fleep_async._http.Transport`, nothing else changes: URLs, headers, timeouts,
size limits, errors and retries are the transport's. JSON calls (every service call and the long
poll) go to aiohttp directly, under httpx's client layer (see ``fleep_async._http._wire``);
uploads, hook posts and downloads go through httpx over the same aiohttp pool. Needs the
``aiohttp`` extra (``pip install fleep-async[aiohttp]``)::

    client = FleepClient(
        email, password,
        transport=aiohttp_transport(),       # normal calls
        poll_transport=aiohttp_transport(),  # long polls: a pool of their own
    )
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from fleep_async.errors import UsageError

__all__ = ["aiohttp_transport"]


def aiohttp_transport(
    *,
    max_connections: int = 100,
    keepalive_expiry: float = 15.0,
) -> httpx.AsyncBaseTransport:
    """An httpx transport backed by aiohttp, for ``FleepClient(transport=...)`` (asyncio only).

    The aiohttp session is created on the first request (inside the running loop) with a cookie
    jar that keeps nothing: the client sends the session cookie with every call itself, and an
    aiohttp jar would otherwise add the cookies of earlier answers to later requests (another
    account's, when accounts share the transport).

    Args:
        max_connections: connections open at once.
        keepalive_expiry: seconds an idle connection is kept.

    Raises:
        UsageError: the ``aiohttp`` extra is not installed.
    """
    try:
        import aiohttp

        from fleep_async._http._aiohttp import AiohttpTransport
    except ImportError as exc:
        raise UsageError(
            "aiohttp_transport() needs the aiohttp extra: pip install 'fleep-async[aiohttp]'"
        ) from exc

    def new_session() -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError("aiohttp_transport() works on asyncio only (not trio)") from None
        connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=keepalive_expiry)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    transport: httpx.AsyncBaseTransport = AiohttpTransport(new_session)
    return transport
