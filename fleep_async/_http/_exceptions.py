"""Mapping httpx's exceptions to ours."""

from __future__ import annotations

from types import TracebackType

import httpx

from fleep_async.errors import DecodeError, FleepTimeoutError, TransportError

__all__ = ["detached", "wrap_httpx"]


def detached(exc: BaseException) -> BaseException:
    """``exc`` (and the exceptions it chains) without tracebacks, for use as a ``__cause__``.

    The frames of httpx, httpcore and h11 hold the request (a hook URL, an upload URL with its
    ticket, the body, the headers) in their locals, and an error reporter that captures locals
    would record them. The cause keeps its type and message, which is what tells what happened.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return exc


class wrap_httpx:  # lower case: used like the function it replaced
    """Turn httpx exceptions into ours; nothing from httpx crosses the public boundary.

    A class, not a generator-based context manager: it wraps every call, twice.
    """

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, httpx.HTTPError):
            return
        del traceback  # its frames (httpx's, holding the request) stay out of this frame
        endpoint = self.endpoint
        if isinstance(exc, httpx.TimeoutException):
            raise FleepTimeoutError(
                f"{type(exc).__name__} on {endpoint}", endpoint=endpoint
            ) from detached(exc)
        if isinstance(exc, httpx.DecodingError):
            raise DecodeError(
                "the response body could not be decompressed", endpoint=endpoint
            ) from detached(exc)
        if isinstance(exc, httpx.RequestError):
            detail = str(exc) or type(exc).__name__
            raise TransportError(
                f"{type(exc).__name__} on {endpoint}: {detail}", endpoint=endpoint
            ) from detached(exc)
