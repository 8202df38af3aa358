"""Mapping httpx's exceptions to ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from fleep_async.errors import DecodeError, FleepTimeoutError, TransportError

__all__ = ["wrap_httpx"]


@contextlib.contextmanager
def wrap_httpx(endpoint: str) -> Iterator[None]:
    """Turn httpx exceptions into ours; nothing from httpx crosses the public boundary."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FleepTimeoutError(f"{type(exc).__name__} on {endpoint}", endpoint=endpoint) from exc
    except httpx.DecodingError as exc:
        raise DecodeError("the response body could not be decompressed", endpoint=endpoint) from exc
    except httpx.RequestError as exc:
        detail = str(exc) or type(exc).__name__
        raise TransportError(
            f"{type(exc).__name__} on {endpoint}: {detail}", endpoint=endpoint
        ) from exc
