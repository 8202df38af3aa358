"""Retry policy: which failures are retried, and how long to wait in between.

The policy is pure: :meth:`RetryPolicy.delay` is a function of the attempt number, the server's
``Retry-After`` and an injected random source, and the waiting itself goes through an injected
:class:`Sleep`. Tests therefore record the delays instead of sleeping through them.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from typing import Protocol

import anyio
import attrs

from fleep_async.errors import RateLimitError, ServerError, TransportError, UsageError

__all__ = ["RetryPolicy", "Sleep", "default_sleep"]


class Sleep(Protocol):
    """An awaitable pause of ``seconds``; ``anyio.sleep`` by default, injected in tests."""

    async def __call__(self, seconds: float, /) -> None:
        """Wait ``seconds``."""


default_sleep: Sleep = anyio.sleep
"""The sleep used when none is injected."""


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:  # also refuses NaN
        raise UsageError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise UsageError(f"RetryPolicy.{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many times to try a request and how long to wait between tries.

    Only transport errors (including timeouts), 5xx and 429 are retried, and only for calls that
    are safe to repeat (idempotent endpoints, or calls whose ``client_req_id`` was fixed before the
    first attempt). The wait is exponential backoff with full jitter, capped at ``max_delay``; a
    ``Retry-After`` from the server is the floor of the wait, honoured up to ``max_retry_after``.

    Attributes:
        max_attempts: total attempts including the first one (1 = never retry).
        base_delay: the jitter ceiling of the first retry, in seconds; doubles per attempt.
        max_delay: the largest jitter ceiling, in seconds.
        max_retry_after: the largest ``Retry-After`` honoured, in seconds.
        random: returns a float in ``[0, 1)``; inject a fixed function for deterministic tests.
    """

    max_attempts: int = attrs.field(default=4, validator=_positive_int)
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    random: Callable[[], float] = attrs.field(default=_random.random, repr=False, eq=False)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt number ``attempt`` (1-based) failed.

        Args:
            attempt: the number of the attempt that just failed (1 for the first).
            retry_after: the server's ``Retry-After`` in seconds, if it sent one.

        Returns:
            ``uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))``, raised to
            ``min(retry_after, max_retry_after)`` when the server asked for a longer wait.
        """
        # Cap the exponent before computing it: 2 ** 10_000 would overflow a float.
        exponent = min(max(attempt, 1) - 1, 64)
        ceiling = min(self.max_delay, self.base_delay * 2.0**exponent)
        wait = self.random() * ceiling
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait

    def should_retry(self, exc: BaseException, *, idempotent: bool) -> bool:
        """Whether the failure ``exc`` of a call is worth another attempt.

        The attempt budget is the caller's business (``attempt < max_attempts``); this only
        judges the failure. A request that is not safe to repeat is never retried: after a
        timeout we cannot know whether the server acted on it.
        """
        if not idempotent:
            return False
        return isinstance(exc, TransportError | ServerError | RateLimitError)
