"""The total deadline of one request: connect, send and the full answer."""

from __future__ import annotations

from types import TracebackType

import anyio

from fleep_async.errors import FleepTimeoutError

__all__ = ["deadline"]


class deadline:  # lower case: used like the function it replaced, `with deadline(...)`
    """Give the body ``seconds`` in all; past that, cancel it and raise ``FleepTimeoutError``.

    httpx's timeouts are per operation: a server that trickles one byte every half second never
    trips a 2 s read timeout, and holds a call for as long as it likes. ``None`` means no
    deadline (the long poll, which has the engine's watchdog instead). A class, not a
    generator-based context manager: every call enters one.

    Raises:
        FleepTimeoutError: the deadline passed.
    """

    __slots__ = ("_endpoint", "_scope", "_seconds")

    def __init__(self, seconds: float | None, *, endpoint: str) -> None:
        self._seconds = seconds
        self._endpoint = endpoint
        self._scope: anyio.CancelScope | None = None

    def __enter__(self) -> None:
        if self._seconds is not None:
            self._scope = anyio.move_on_after(self._seconds)
            self._scope.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        scope = self._scope
        if scope is None:
            return None
        self._scope = None
        swallowed = scope.__exit__(exc_type, exc, traceback)
        if scope.cancelled_caught:
            raise FleepTimeoutError(
                f"no complete answer on {self._endpoint} within the {self._seconds:g} s deadline",
                endpoint=self._endpoint,
            ) from None
        return swallowed
