"""Mapping httpx's exceptions to ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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


@contextlib.contextmanager
def wrap_httpx(endpoint: str) -> Iterator[None]:
    """Turn httpx exceptions into ours; nothing from httpx crosses the public boundary."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FleepTimeoutError(
            f"{type(exc).__name__} on {endpoint}", endpoint=endpoint
        ) from detached(exc)
    except httpx.DecodingError as exc:
        raise DecodeError(
            "the response body could not be decompressed", endpoint=endpoint
        ) from detached(exc)
    except httpx.RequestError as exc:
        detail = str(exc) or type(exc).__name__
        raise TransportError(
            f"{type(exc).__name__} on {endpoint}: {detail}", endpoint=endpoint
        ) from detached(exc)
