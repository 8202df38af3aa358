"""The ``account/poll`` loop: horizon tracking, initial sync, resync, pacing and backoff.

The poller knows nothing of handlers: it turns the server's answers into :class:`PollBatch`
objects and keeps going through transient failures. Its rules:

- A poll is sent with ``wait=true`` once the horizon is positive; during an initial sync (horizon
  0, or the non-positive cursor horizons the server hands out meanwhile) with ``wait=false``.
- An answer that brings no record, whatever its horizon (unmoved, moved by one, a new negative
  cursor each time), and an error are followed by at least ``min_interval`` before the next
  poll, measured from the start of the previous one, so neither instant empty answers nor a
  failing server can turn into a tight loop. Answers that bring records and move the horizon
  are followed at once (the server may have more).
- A positive horizon never goes backwards without an explicit resync: an answer whose horizon
  is below the one sent (200, then 150) is logged, its records are delivered, and the poller
  keeps the horizon it had (the server's only way to move a client back is a resync, horizon
  0).
- Transient failures (transport, timeouts, 5xx, 429, undecodable answers) are retried forever
  with capped exponential backoff and full jitter, never shorter than ``Retry-After``; the
  backoff resets after a success. :class:`~fleep_async.errors.AuthenticationError` (the client
  could not log in again) and other API errors end the loop: retrying them cannot help.
- A returned horizon of 0 is the server asking for a resync: the poller restarts from 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Final

import anyio
import attrs

from fleep_async._retry import RetryPolicy
from fleep_async.errors import (
    AuthenticationError,
    DecodeError,
    FleepAPIError,
    FleepTimeoutError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from fleep_async.events._dedup import message_position
from fleep_async.events._types import Clock, Requester, Sleep, logger

__all__ = ["DEFAULT_POLL_BACKOFF", "PollBatch", "Poller"]

DEFAULT_POLL_BACKOFF: Final = RetryPolicy(base_delay=1.0, max_delay=60.0, max_retry_after=600.0)
"""Backoff of the poll loop: 1 s doubling to 60 s, full jitter; ``max_attempts`` is unused."""

_TRANSIENT: Final = (
    TransportError,
    ServerError,
    RateLimitError,
    DecodeError,
    ResponseTooLargeError,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FleepTimeoutError):
        return "timeout"
    if isinstance(exc, TransportError):
        return "transport"
    if isinstance(exc, RateLimitError):
        return "rate_limit"
    if isinstance(exc, ServerError):
        return "server"
    if isinstance(exc, DecodeError | ResponseTooLargeError):
        return "decode"
    if isinstance(exc, TimeoutError):
        return "stall"
    return type(exc).__name__


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


@attrs.frozen(kw_only=True)
class PollBatch:
    """One successful poll answer.

    Attributes:
        sent_horizon: the horizon the poll was sent with.
        horizon: the horizon the server returned (to commit once the records are handled).
        stream: the raw records, in the server's order.
        resync: the server answered horizon 0: it asks the client to sync again from scratch.
        syncing: the poll was part of an initial sync (sent with a non-positive horizon).
        sync_progress: the server's ``sync_progress`` (0.0 - 1.0), when it sent one.
    """

    sent_horizon: int
    horizon: int
    stream: Sequence[dict[str, Any]] = attrs.field(repr=lambda s: f"<{len(s)} records>")
    resync: bool = False
    syncing: bool = False
    sync_progress: float | None = None

    @property
    def progressed(self) -> bool:
        """Whether the horizon moved (the server may have more right away)."""
        return self.horizon != self.sent_horizon


class Poller:
    """Polls ``account/poll`` through a :class:`~fleep_async.events.Requester`.

    Args:
        requester: the client.
        backoff: the retry policy for transient failures (only ``delay`` is used).
        min_interval: the least time between the starts of two polls when the previous one
            brought nothing new or failed, in seconds.
        poll_timeout: a watchdog over each request, above the transport's own timeouts
            (``None`` to rely on them alone).
        poll_flags: ``poll_flags`` sent during an initial sync; by default
            ``("skip_hidden",)``, as Fleep's own clients send; ``()`` for none.
        sleep: awaitable pause (injected in tests).
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        requester: Requester,
        *,
        backoff: RetryPolicy = DEFAULT_POLL_BACKOFF,
        min_interval: float = 0.5,
        poll_timeout: float | None = 300.0,
        poll_flags: Sequence[str] = ("skip_hidden",),
        sleep: Sleep,
        clock: Clock,
    ) -> None:
        self.requester = requester
        self.backoff = backoff
        self.min_interval = min_interval
        self.poll_timeout = poll_timeout
        self.poll_flags = tuple(poll_flags)
        self._sleep = sleep
        self._clock = clock
        self.horizon = 0
        """The horizon the next poll is sent with."""
        self.sync_cursor: str | None = None
        self.sync_progress: float | None = None
        self.polls = 0
        self.last_success: float | None = None
        self.retries: Counter[str] = Counter()
        self.resyncs = 0
        self.rewinds = 0
        """Answers whose positive horizon was below the one sent (ignored, logged)."""
        self.state = "idle"
        self._not_before: float | None = None
        self._started = 0.0
        self._failures = 0

    async def _pace(self) -> None:
        if self._not_before is None:
            return
        wait = self._not_before - self._clock()
        self._not_before = None
        if wait > 0:
            await self._sleep(wait)

    async def _call(self, path: str, body: dict[str, Any], *, long_poll: bool) -> dict[str, Any]:
        """One request, retried through transient failures; fatal ones propagate."""
        while True:
            await self._pace()
            started = self._clock()
            try:
                if self.poll_timeout is not None:
                    with anyio.fail_after(self.poll_timeout):
                        answer = await self.requester.request(
                            path, dict(body), idempotent=True, long_poll=long_poll
                        )
                else:
                    answer = await self.requester.request(
                        path, dict(body), idempotent=True, long_poll=long_poll
                    )
                if not isinstance(answer, dict):
                    raise DecodeError(f"{path} answered {type(answer).__name__}, not an object")
            except (*_TRANSIENT, TimeoutError) as exc:
                await self._back_off(path, exc)
                continue
            self._started = started
            return answer

    async def _back_off(self, path: str, exc: BaseException) -> None:
        self._failures += 1
        reason = _reason(exc)
        self.retries[reason] += 1
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        delay = max(self.backoff.delay(self._failures, retry_after), self.min_interval)
        previous_state = self.state
        self.state = "backing_off"
        logger.warning(
            "%s failed (%s, attempt %d): %s; retrying in %.2fs",
            path,
            reason,
            self._failures,
            exc,
            delay,
        )
        await self._sleep(delay)
        self.state = previous_state

    async def current_horizon(self) -> int:
        """Ask ``account/sync`` for the account's current horizon (to skip the backlog)."""
        self.state = "starting"
        answer = await self._call("account/sync", {}, long_poll=False)
        self._failures = 0
        horizon = _int(answer.get("event_horizon"))
        if horizon is None:
            # Not transient in any useful sense, but harmless: fall back to a full sync.
            logger.warning("account/sync returned no event_horizon; starting from 0")
            return 0
        return horizon

    async def conversation_positions(self) -> dict[str, int] | None:
        """Every conversation's latest flow position now (``conversation/list``, paged).

        The engine's starting point when it skips the backlog: a resync later delivers nothing
        at or below these positions. Returns ``None`` when the server cannot list
        conversations (an API error other than authentication): the engine then starts
        without them (see ``docs/reliability.md``).

        Raises:
            AuthenticationError: the session is gone and could not be renewed.
        """
        found: dict[str, int] = {}
        offset = 0
        while True:
            try:
                answer = await self._call(
                    "conversation/list", {"sync_horizon": offset}, long_poll=False
                )
            except AuthenticationError:
                raise
            except FleepAPIError as exc:
                logger.warning(
                    "conversation/list failed (%s): starting without per-conversation "
                    "positions; a resync may deliver messages older than this start",
                    exc,
                )
                return None
            self._failures = 0
            page = answer.get("conversations")
            if not isinstance(page, list) or not page:
                return found
            for header in page:
                if not isinstance(header, dict):
                    continue
                conversation_id = header.get("conversation_id")
                number = _int(header.get("last_message_nr"))
                if isinstance(conversation_id, str) and number is not None:
                    found[conversation_id] = max(number, found.get(conversation_id, 0))
            following = _int(answer.get("sync_horizon"))
            if following is None or following <= offset:
                return found  # no usable cursor: what was listed is all we can know
            offset = following

    async def backfill(
        self, conversation_id: str, after: int, *, before: int | None = None
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The records of a conversation's messages changed after flow position ``after``.

        Used after a server resync: the initial sync brings only each conversation's latest
        messages, so the older ones the engine has not seen yet are fetched with a forward
        ``conversation/sync`` (``from_message_nr``), page by page, in flow order; each page is
        yielded as it comes (so that the caller can apply backpressure). Records of messages
        numbered ``before`` or later are left out (the sync brings those).

        Raises:
            FleepAPIError: the conversation cannot be read (the caller skips it).
        """
        position = after
        while True:
            answer = await self._call(
                f"conversation/sync/{conversation_id}",
                {"from_message_nr": position},
                long_poll=False,
            )
            stream = answer.get("stream")
            page = [r for r in stream if isinstance(r, dict)] if isinstance(stream, list) else []
            newest = position
            records: list[dict[str, Any]] = []
            for raw in page:
                found = message_position(raw)
                if found is not None and found[0] == conversation_id:
                    newest = max(newest, found[1])
                number = _int(raw.get("message_nr"))
                if raw.get("conversation_id") != conversation_id or number is None:
                    continue
                if before is None or number < before:
                    records.append(raw)
            if records:
                yield records
            if newest <= position:
                return  # an empty page, or one without progress: the gap is filled
            position = newest

    def _parse(self, answer: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        horizon = _int(answer.get("event_horizon"))
        if horizon is None:
            raise DecodeError("account/poll answer has no integer event_horizon")
        stream = answer.get("stream")
        if stream is None:
            stream = []
        if not isinstance(stream, list):
            raise DecodeError("account/poll answer has a stream that is not a list")
        records = [item for item in stream if isinstance(item, dict)]
        if len(records) != len(stream):
            logger.warning(
                "account/poll: ignored %d stream items that are not objects",
                len(stream) - len(records),
            )
        return horizon, records

    async def poll(self) -> PollBatch:
        """Poll once (retrying transient failures) and advance the horizon.

        Raises:
            AuthenticationError: the session is gone and could not be renewed.
            FleepAPIError: any other API error (not retried).
        """
        while True:
            sent = self.horizon
            syncing = sent <= 0
            body: dict[str, Any] = {"event_horizon": sent, "wait": not syncing}
            if syncing and self.poll_flags:
                body["poll_flags"] = list(self.poll_flags)
            self.state = "syncing" if syncing else "polling"
            answer = await self._call("account/poll", body, long_poll=not syncing)
            try:
                parsed = self._parse(answer)
            except DecodeError as exc:
                await self._back_off("account/poll", exc)
                continue
            break
        horizon, stream = parsed
        self._failures = 0
        self.polls += 1
        self.last_success = self._clock()
        cursor = answer.get("sync_cursor")
        if isinstance(cursor, str):
            self.sync_cursor = cursor
        progress = answer.get("sync_progress")
        sync_progress = (
            float(progress)
            if isinstance(progress, int | float)
            and not isinstance(progress, bool)
            and math.isfinite(progress)
            else None
        )
        resync = horizon == 0 and sent != 0
        if sent > 0 and 0 < horizon < sent:
            # Committing it would re-deliver everything after it on the next start, and a server
            # that keeps rewinding would keep the engine replaying: only a resync may go back.
            self.rewinds += 1
            logger.warning(
                "account/poll: the server answered horizon %d after %d; keeping %d "
                "(only a resync, horizon 0, moves a client back)",
                horizon,
                sent,
                sent,
            )
            horizon = sent
        if resync:
            self.resyncs += 1
            logger.warning(
                "account/poll: the server requested a resync (horizon 0 after %d); "
                "syncing again from scratch",
                sent,
            )
        if resync:
            self.sync_progress = 0.0  # a new sync starts from nothing
        elif syncing:
            self.sync_progress = 1.0 if horizon > 0 else sync_progress
        batch = PollBatch(
            sent_horizon=sent,
            horizon=horizon,
            stream=stream,
            resync=resync,
            syncing=syncing or resync,
            sync_progress=self.sync_progress if (syncing or resync) else None,
        )
        self.horizon = horizon
        # No record (whatever the horizon did) or no progress: keep the next poll at least
        # min_interval after this one started. Judging by the horizon alone let a server that
        # moves it by one on every empty answer drive hundreds of polls a second.
        busy = batch.progressed and bool(stream)
        self._not_before = None if busy else self._started + self.min_interval
        return batch
