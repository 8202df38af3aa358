"""``async for record in engine.events()``: the stream as an async iterator, no handlers."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from fleep_async.errors import FleepError, UsageError
from fleep_async.events._items import ERROR, KIND, RAW, RECORD, Item, call_hook
from fleep_async.events._types import Requester, logger
from fleep_async.models.records import RECORD_KINDS, Record, RecordKind

if TYPE_CHECKING:
    from fleep_async.events._poller import PollBatch, Poller
    from fleep_async.events._watermark import Batch, Watermark

__all__ = ["EventStream", "StreamHost", "check_kinds"]


def check_kinds(kinds: Iterable[RecordKind] | None) -> frozenset[str] | None:
    """``kinds`` as a set, checked: a misspelt kind would otherwise filter out everything.

    Raises:
        UsageError: a kind is not a modelled ``mk_rec_type`` (the message lists the valid ones),
            or ``kinds`` is a single string.
    """
    if kinds is None:
        return None
    if isinstance(kinds, str):
        raise UsageError(f"kinds must be a list of record kinds, e.g. [{kinds!r}], not a string")
    chosen = frozenset(kinds)
    unknown = sorted(repr(k) for k in chosen if k not in RECORD_KINDS)
    if unknown:
        raise UsageError(
            f"unknown record kind {', '.join(unknown)}: valid kinds are "
            f"{', '.join(repr(k) for k in RECORD_KINDS)}"
        )
    return chosen


class StreamHost(Protocol):
    """What an :class:`EventStream` uses of its engine (:class:`EventEngine` is one).

    The dependency runs one way: the engine module imports this one, never the reverse. The
    members are the engine's internal run lifecycle, admission and bookkeeping, shared with
    its handler path so that a stream keeps the same delivery guarantees.
    """

    @property
    def requester(self) -> Requester: ...

    on_dead_letter: Callable[[Any, BaseException], Any] | None
    _poll_scope: anyio.CancelScope | None
    _stop_requested: bool
    _poller: Poller | None
    _watermark: Watermark
    _handled: int
    _dead_lettered: int

    def _enter(self) -> None: ...
    async def _begin(self) -> None: ...
    async def _leave(self) -> None: ...
    async def _save(self, *, final: bool = False) -> bool: ...
    def _check_account(self, own: str | None) -> None: ...
    async def _on_batch(self, batch: PollBatch) -> None: ...
    async def _admit_batch(
        self,
        batch: PollBatch,
        mark: Batch,
        wanted: frozenset[str] | None,
        admit: Callable[[list[Item]], Awaitable[None]],
    ) -> None: ...
    def _track(self, items: list[Item]) -> None: ...
    def _finish(self, item: Item) -> None: ...
    def _mark_handled(self, item: Item) -> None: ...
    def _mark_dirty(self) -> None: ...


class EventStream:
    """Records of the engine's stream, one at a time, in stream order (a conversation's
    messages in flow order, and after a resync the messages it skipped first, as for handlers).

    A record counts as handled when the loop asks for the next one; then, once a whole poll
    batch is handled, its horizon is committed and the checkpoint written. The record being
    processed when the loop ends (``break``, an exception, cancellation) is not committed: the
    next run delivers it again (with ``dedup=True`` the ones before it are not).

    Prefer ``async with engine.events() as stream: async for record in stream: ...``: the
    checkpoint is then written whichever way the block is left. A plain ``async for`` also
    works; the stream closes itself when it ends, fails or is cancelled inside the iterator, but
    a ``break`` leaves it open until :meth:`aclose`.

    Handlers of the engine's router are not called for these records; the cache is fed as usual.
    """

    def __init__(self, engine: StreamHost, kinds: frozenset[str] | None) -> None:
        self._engine = engine
        self._kinds = kinds
        self._buffer: deque[Item] = deque()
        self._current: Item | None = None
        self._opened = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._opened else "new"
        return f"EventStream({state}, buffered={len(self._buffer)})"

    async def __aenter__(self) -> EventStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> EventStream:
        return self

    async def _open(self) -> None:
        if self._opened:
            return
        if self._closed:
            raise UsageError("this event stream is closed; call engine.events() again")
        engine = self._engine
        engine._enter()
        self._opened = True
        try:
            with anyio.CancelScope() as scope:
                engine._poll_scope = scope
                if engine._stop_requested:
                    scope.cancel()
                await engine._begin()
            engine._poll_scope = None
        except BaseException:
            await self.aclose()
            raise

    async def __anext__(self) -> Record:
        if self._closed:
            raise StopAsyncIteration
        try:
            await self._open()
            return await self._next()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException:
            # An error or a cancellation: what was handled so far is still checkpointed.
            await self.aclose()
            raise

    async def _next(self) -> Record:
        engine = self._engine
        if self._current is not None:
            item, self._current = self._current, None
            engine._handled += 1
            engine._mark_handled(item)
            engine._finish(item)
        while True:
            while not self._buffer:
                await engine._save()
                if engine._stop_requested:
                    raise StopAsyncIteration
                batch = await self._poll()
                if batch is not None:
                    await self._admit(batch)
            item = self._buffer.popleft()
            if item[ERROR] is not None:
                logger.error("a %s record could not be decoded: %s", item[KIND], item[ERROR])
                engine._dead_lettered += 1
                engine._mark_handled(item)
                await call_hook("on_dead_letter", engine.on_dead_letter, item[RAW], item[ERROR])
                engine._finish(item)
                continue
            self._current = item
            record: Record = item[RECORD]  # decoded by the engine's converter
            return record

    async def _poll(self) -> PollBatch | None:
        engine = self._engine
        poller = engine._poller
        assert poller is not None
        batch: PollBatch | None = None
        with anyio.CancelScope() as scope:
            engine._poll_scope = scope
            if engine._stop_requested:
                scope.cancel()
            try:
                batch = await poller.poll()
                engine._check_account(engine.requester.account_id)
            except (FleepError, UsageError) as exc:
                # Raised to the caller, who reports it: logging it as an error too would show
                # the same failure twice (the CLI's `listen` did).
                logger.info("the event stream ends: %s", exc)
                raise
        engine._poll_scope = None
        return batch

    async def _admit(self, batch: PollBatch) -> None:
        engine = self._engine
        await engine._on_batch(batch)
        mark = engine._watermark.open(batch.horizon, resync=batch.resync)

        async def admit(items: list[Item]) -> None:
            engine._track(items)
            self._buffer.extend(items)

        # The same order and resync rules as the handler engine.
        await engine._admit_batch(batch, mark, self._kinds, admit)
        if engine._watermark.seal(mark):
            engine._mark_dirty()

    async def aclose(self) -> None:
        """Stop the stream and write the checkpoint (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._current = None
        if self._opened:
            await self._engine._leave()
