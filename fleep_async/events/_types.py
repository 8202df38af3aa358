"""The small protocols the event engine depends on, so that it stays decoupled from the client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, Protocol, TypeAlias

__all__ = ["Backlog", "Clock", "RandomSource", "Requester", "Sleep", "logger"]

logger: Final = logging.getLogger("fleep_async.events")

Backlog: TypeAlias = Literal["resume", "skip", "full"]
"""Where the engine starts: the stored horizon, the current horizon, or a full initial sync."""

Clock: TypeAlias = Callable[[], float]
"""Monotonic seconds; ``time.monotonic`` unless injected."""

RandomSource: TypeAlias = Callable[[], float]
"""A float in ``[0, 1)``; ``random.random`` unless injected (jitter)."""

Sleep: TypeAlias = Callable[[float], Awaitable[None]]
"""An awaitable pause; ``anyio.sleep`` unless injected."""


class Requester(Protocol):
    """What the engine needs from a client: the raw call and the own account id.

    :class:`fleep_async.FleepClient` satisfies it; tests pass a scripted fake.
    """

    @property
    def account_id(self) -> str | None:
        """The logged-in account's id (``None`` before the first login)."""

    async def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        """Call ``path`` with the JSON ``body`` and return the decoded JSON object."""
