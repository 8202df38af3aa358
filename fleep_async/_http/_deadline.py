"""The total deadline of one request: connect, send and the full answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio

from fleep_async.errors import FleepTimeoutError

__all__ = ["deadline"]


@contextlib.contextmanager
def deadline(seconds: float | None, *, endpoint: str) -> Iterator[None]:
    """Give the body ``seconds`` in all; past that, cancel it and raise ``FleepTimeoutError``.

    httpx's timeouts are per operation: a server that trickles one byte every half second never
    trips a 2 s read timeout, and holds a call for as long as it likes. ``None`` means no
    deadline (the long poll, which has the engine's watchdog instead).

    Raises:
        FleepTimeoutError: the deadline passed.
    """
    if seconds is None:
        yield
        return
    with anyio.move_on_after(seconds) as scope:
        yield
    if scope.cancelled_caught:
        raise FleepTimeoutError(
            f"no complete answer on {endpoint} within the {seconds:g} s deadline",
            endpoint=endpoint,
        )
