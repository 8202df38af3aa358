"""The one generic call path every service method goes through.

:func:`call` turns a request object into a result: path and body from the request class, flags
from its registry entry, the raw call through a :class:`Requester` (``FleepClient`` is one),
decoding with the core converter. No service method contains endpoint-specific logic; they only
build the request object and hand it here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol, TypeVar

import attrs

from fleep_async._http import UploadFile
from fleep_async._http._secret import Secret
from fleep_async.endpoints import Endpoint
from fleep_async.errors import DecodeError, UsageError
from fleep_async.models import Record
from fleep_async.models.results import decode_result, result_records

__all__ = [
    "DEFAULT_MAX_PAGES",
    "ByteStream",
    "Requester",
    "Service",
    "call",
    "paginate",
]

logger = logging.getLogger("fleep_async.services")

_R = TypeVar("_R")

DEFAULT_MAX_PAGES: Final = 1000
"""How many pages an ``iter_*`` method fetches at most before it stops (with a warning)."""


class ByteStream(Protocol):
    """A streaming download response (``httpx.Response`` is one)."""

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body, chunk by chunk."""
        ...


class Requester(Protocol):
    """What the services need from a client: the raw calls. ``FleepClient`` satisfies it.

    A requester may also have ``on_records(records: list[Record])`` (plain or async): every
    call then hands it the stream records of its result, e.g. to update a cache.
    """

    async def request(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> Any:
        """``POST /api/{path}`` with ``body``; the decoded JSON answer (usually an object)."""
        ...

    async def upload(self, path: str, files: UploadFile | Sequence[UploadFile]) -> Any:
        """Multipart upload of ``files`` to ``/api/{path}``."""
        ...

    def download(self, url_or_path: str) -> AbstractAsyncContextManager[ByteStream]:
        """``GET`` a file URL with the session cookie, streamed."""
        ...

    async def post_hook(
        self,
        url: str | Secret[str],
        data: Mapping[str, Any],
        *,
        files: Sequence[UploadFile] | None = None,
    ) -> None:
        """``POST`` to a hook URL, without authentication."""
        ...


async def _feed(requester: object, records: list[Record]) -> None:
    sink: Callable[[list[Record]], Any] | None = getattr(requester, "on_records", None)
    if sink is None or not records:
        return
    outcome = sink(records)
    if inspect.isawaitable(outcome):
        await outcome


async def call(requester: Requester, endpoint: Endpoint[_R]) -> _R:
    """Send one request object and decode its answer into the endpoint's result type.

    Raises:
        FleepAPIError: the server refused the call (a subclass by status / ``error_id``).
        TransportError: the network failed (after the retries the endpoint allows).
        DecodeError: the answer does not fit the result type.
        UsageError: the request cannot be sent as built.
    """
    cls = type(endpoint)
    path = endpoint.path()
    if cls.MULTIPART:
        files: Sequence[UploadFile] = getattr(endpoint, "files", ())
        raw = await requester.upload(path, files)
    else:
        raw = await requester.request(
            path,
            endpoint.body(),
            idempotent=endpoint.is_retry_safe(),
            long_poll=cls.LONG_POLL,
            auth=cls.AUTH,
        )
    try:
        result: _R = decode_result(cls.RESULT, raw)
    except DecodeError as exc:
        if exc.endpoint is None:
            exc.endpoint = cls.PATH  # the template: the filled path may carry ids only
        raise
    await _feed(requester, result_records(result))
    return result


async def paginate(
    requester: Requester,
    first: Endpoint[Any],
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncGenerator[Any, None]:
    """Yield the items of every page of a paged endpoint, starting with ``first``.

    Stops at the endpoint's documented end (see its ``PAGER``), when the cursor stops moving,
    or after ``max_pages`` pages (logged as a warning: a server that never ends).

    Raises:
        UsageError: the endpoint is not paged, or ``max_pages`` is below 1.
    """
    pager = type(first).PAGER
    if pager is None:
        raise UsageError(f"{type(first).PATH} is not a paged endpoint")
    if max_pages < 1:
        raise UsageError("max_pages must be at least 1")
    request = first
    # Records already yielded, by kind and identity. The sources do not say in which direction
    # some cursors run (file_horizon, pin_weight), and a server that ignores a cursor answers
    # the same page again: yielding each record once, and stopping at a page with nothing
    # new, keeps the walk correct either way.
    seen: set[tuple[type, Any]] = set()
    for _ in range(max_pages):
        result = await call(requester, request)
        items = pager.items(result)
        fresh = 0
        for item in items:
            identity = getattr(item, "identity", None)
            if identity is not None:
                key = (type(item), identity)
                if key in seen:
                    continue
                seen.add(key)
            fresh += 1
            yield item
        if items and not fresh:
            return
        current = getattr(request, pager.cursor)
        following = pager.next_cursor(request, result)
        if following is None or following == current:
            return
        request = attrs.evolve(request, **{pager.cursor: following})  # type: ignore[misc]
    logger.warning(
        "stopped paging %s after max_pages=%d pages: the server kept answering more",
        type(first).PATH,
        max_pages,
    )


class Service:
    """Base of the per-area service classes (``client.message`` is a ``MessageService``)."""

    __slots__ = ("_requester",)

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    async def _call(self, endpoint: Endpoint[_R]) -> _R:
        return await call(self._requester, endpoint)

    def _paginate(self, first: Endpoint[Any], max_pages: int) -> AsyncGenerator[Any, None]:
        return paginate(self._requester, first, max_pages=max_pages)
