"""A direct path for the transport's JSON calls, under httpx's client layer.

:class:`~fleep_async._http.Transport` sends through an ``httpx.AsyncClient``: request building,
header and cookie merging, URL parsing, event hooks, the redirect and auth loops. Over httpx's
own pool that is a small share of a call; over aiohttp, whose HTTP parser is C, it was most of
what a call cost the client (P3: 0.63x bare aiohttp). An httpx transport that is also a
:class:`Wire` offers a direct path: the transport hands it the finished POST (URL, body,
headers, timeouts) and gets back a :class:`WireResponse`, read and closed like an
``httpx.Response`` (the same size limits, inflating, cookie and error rules apply to it).

Only JSON API calls (``post_json``: every service call and the long poll) take the direct
path; uploads, hook posts and downloads stay on httpx (their URLs may hold secrets, and a
download hands the caller an ``httpx.Response``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

__all__ = ["HeaderView", "Wire", "WireResponse"]


class HeaderView(Protocol):
    """The header lookups the transport makes (``httpx.Headers`` has them)."""

    def get(self, key: str, default: str | None = None) -> str | None:
        """The (first) value of header ``key``, or ``default``."""

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        """Every value of header ``key``."""


class WireResponse(Protocol):
    """An open response, as the transport reads it (``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def headers(self) -> HeaderView:
        """The response headers."""

    @property
    def is_success(self) -> bool:
        """A 2xx status."""

    @property
    def is_redirect(self) -> bool:
        """A redirect status with a ``Location``."""

    @property
    def is_stream_consumed(self) -> bool:
        """Whether the body was already read (a response built from bytes in memory)."""

    @property
    def content(self) -> bytes:
        """The body, once read (only used when :attr:`is_stream_consumed`)."""

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they came (no content decoding)."""

    async def aclose(self) -> None:
        """Release the connection (closed if the body was not read to its end)."""


class Wire(abc.ABC):
    """An HTTP client the transport can hand a finished POST to, skipping httpx's client.

    Implementations map their own network errors to httpx's exception classes (a timeout to
    ``httpx.TimeoutException``, any other failure to an ``httpx.TransportError``), so that the
    transport's one error mapping applies; they follow no redirects, keep no cookies and do
    not decode content.
    """

    @abc.abstractmethod
    async def post(
        self,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> WireResponse:
        """Send ``POST url`` with ``content`` and ``headers``; the open response.

        Raises:
            httpx.TimeoutException: connecting or reading took longer than allowed.
            httpx.TransportError: any other network failure.
        """
