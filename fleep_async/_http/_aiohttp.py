"""The aiohttp transport: an httpx transport over aiohttp's pool, and a direct :class:`Wire`.

Imported only by :func:`fleep_async.aiohttp_transport` (it needs the ``aiohttp`` extra).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from functools import lru_cache

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport as _HttpxAiohttpTransport
from multidict import CIMultiDictProxy
from yarl import URL

from fleep_async._http._wire import Wire, WireResponse

__all__ = ["AiohttpTransport"]

_REDIRECTS = frozenset((301, 302, 303, 307, 308))


@lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    # Parsed once per API path: a poll's URL is the same on every call.
    return URL(url)


@lru_cache(maxsize=16)
def _timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    # As httpx-aiohttp maps httpx's timeouts: connect = waiting for a pooled connection.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)


def _mapped(exc: BaseException) -> httpx.TransportError:
    """The httpx exception the transport's error mapping turns into ours."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(detail)
    if isinstance(exc, TimeoutError):  # ServerTimeoutError, SocketTimeoutError
        return httpx.ReadTimeout(detail)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(detail)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(detail)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(detail)
    return httpx.TransportError(detail)


class _Headers:
    """aiohttp's response headers as the transport looks them up."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._headers.get(key, default)

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        return self._headers.getall(key, [])


class _Response:
    """An open aiohttp response, read like an ``httpx.Response`` by the transport."""

    __slots__ = ("_done", "_response", "headers", "status_code")

    is_stream_consumed = False
    content = b""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._done = False
        self.status_code = response.status
        self.headers = _Headers(response.headers)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECTS and "location" in self._response.headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc
        self._done = True

    def close_now(self) -> None:
        """Let the connection go (no await: the transport needs no shield around it)."""
        if self._done:
            self._response.release()  # read to its end: the connection goes back to the pool
        else:
            self._response.close()  # not read to its end: the connection is not reusable

    async def aclose(self) -> None:
        self.close_now()


class AiohttpTransport(_HttpxAiohttpTransport, Wire):
    """httpx-aiohttp's transport (downloads, uploads, hook posts) and a direct :class:`Wire`
    for JSON calls, over one aiohttp session made on the first request.

    Args:
        new_session: makes the session (inside the running loop; refuses trio).
    """

    def __init__(self, new_session: Callable[[], aiohttp.ClientSession]) -> None:
        super().__init__(client=new_session)

    def _session(self) -> aiohttp.ClientSession:
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        return session

    async def post(
        self,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> WireResponse:
        """Send ``POST url``; the open response (see :class:`Wire`)."""
        session = self._session()
        try:
            response = await session.request(
                "POST",
                _url(url),
                data=content,
                headers=headers,
                allow_redirects=False,
                auto_decompress=False,
                timeout=_timeout(connect_timeout, read_timeout),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc
        return _Response(response)

    def __repr__(self) -> str:
        return "AiohttpTransport()"
