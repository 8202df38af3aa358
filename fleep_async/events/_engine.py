"""The event engine: poll, decode, dispatch, checkpoint; with delivery guarantees.

Guarantees:

- **At-least-once.** The horizon is committed only once every record at or below it has been
  handled or dead-lettered (a low watermark over the batches in flight), and written to the
  store after that. A crash re-delivers what was not committed; nothing is lost.
- **Exactly-once effect** with ``dedup=True``: records are marked after their handler finished,
  and the marks are saved in the same atomic write as the horizon, so a restart skips what was
  handled. (After ``SIGKILL`` the marks of the last instants before the kill may be lost with the
  process: those records run again. A cancelled or stopped engine saves everything on exit.)
- **Order per conversation.** Records of one conversation are handled one after another, its
  messages in flow order (a poll answer whose records arrive shuffled is put back in order);
  different conversations run concurrently up to ``max_concurrency``. Records without a
  conversation are ordered per entity (contact) or per kind.
- **Resync.** When the server answers a poll with horizon 0 it has lost the client's place, and
  the initial sync that follows brings only each conversation's latest messages. One rule: a
  resync never delivers what precedes the engine's starting point, and delivers exactly once
  what follows the last handled position of each conversation. The engine keeps a position per
  conversation (listed with ``conversation/list`` when it skips the backlog, raised as messages
  are handled, saved in the checkpoint): the sync's messages at or below it are dropped, and
  the older messages above it that the sync leaves out are fetched with ``conversation/sync``
  and handled first, in order.
- **Backpressure.** At most ``queue_size`` records are admitted and not yet finished; when the
  queue is full the engine stops polling until there is room.
- **Isolation.** A failing handler never stops the engine: the error goes to ``router.error``
  handlers and the log, the record is retried ``retry_budget`` times with backoff, then handed to
  ``on_dead_letter`` and skipped.
"""

from __future__ import annotations

import asyncio
import operator
import random as _random
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from fleep_async._converter import LAYOUT_DECODERS, parse_record
from fleep_async._retry import RetryPolicy
from fleep_async.errors import (
    DecodeError,
    FleepError,
    StoreLockedError,
    UsageError,
)
from fleep_async.events._cache import EventCache
from fleep_async.events._context import Context, ErrorEvent, record_context
from fleep_async.events._dedup import (
    Deduplicator,
    flow_position,
    snapshot_state,
)
from fleep_async.events._dispatcher import (
    UNHANDLED,
    Dispatcher,
    HandlerTimeoutError,
    TimeoutGuard,
)
from fleep_async.events._items import (
    BATCH,
    CONVERSATION,
    ERROR,
    KEY,
    KIND,
    LANE,
    POSITION,
    RAW,
    RECORD,
    Item,
    call_hook,
    lane_of,
)
from fleep_async.events._poller import DEFAULT_POLL_BACKOFF, PollBatch, Poller
from fleep_async.events._positions import Positions
from fleep_async.events._resync import backfill, beyond_positions
from fleep_async.events._router import Router, SkipHandler
from fleep_async.events._store import Checkpoint, HorizonStore, MemoryStore
from fleep_async.events._stream import EventStream, check_kinds
from fleep_async.events._types import Backlog, Clock, RandomSource, Requester, Sleep, logger
from fleep_async.events._watermark import Batch, Watermark
from fleep_async.models.records import RecordKind

__all__ = ["DEFAULT_HANDLER_TIMEOUT", "DEFAULT_RETRY_BACKOFF", "EngineHealth", "EventEngine"]

ClientT = TypeVar("ClientT", bound=Requester)

DEFAULT_RETRY_BACKOFF = RetryPolicy(base_delay=0.5, max_delay=30.0)
"""Backoff between attempts of a failing handler: 0.5 s doubling to 30 s, full jitter."""

DEFAULT_HANDLER_TIMEOUT = 300.0
"""Seconds a handler may run by default before it counts as failed (``HandlerTimeoutError``).

Five minutes: well above what a handler that calls the API needs even through the client's own
retries (30 s per request, 4 attempts with backoff: about two minutes), and short enough that a
handler stuck on a dead socket or a lost lock frees its conversation within minutes instead of
holding it (and, through the low watermark, the committed horizon) forever. A timed-out attempt
is a failure like any other: retried ``retry_budget`` times, then dead-lettered.
"""

_BACKLOGS = ("resume", "skip", "full")
# What became of a failed attempt (see EventEngine._failed).
_RETRY: Final = object()
_DONE: Final = object()
_ABANDON: Final = object()
_LANE_BURST = 32
_BASE_LOOP_TIME: Final = asyncio.BaseEventLoop.time


def _loop_primitives() -> tuple[Callable[[], float], Callable[[], Awaitable[None]]]:
    """The running event loop's clock and cancellation check, chosen once per worker.

    anyio's ``current_time`` and ``lowlevel.checkpoint_if_cancelled`` find the backend on every
    call (a sniffio look-up); the clock is read for every record with a handler timeout. The
    backend is told apart by anyio's public ``get_cancelled_exc_class``: on asyncio the clock
    is the loop's (what anyio's scope deadlines are in), on trio both are trio's own public
    functions. Any other backend gets anyio's.
    """
    cancelled = anyio.get_cancelled_exc_class()
    if cancelled is asyncio.CancelledError:
        loop = asyncio.get_running_loop()
        # asyncio's own loops tell time with time.monotonic (BaseEventLoop.time): the same
        # clock without a Python-level method call per record. Other loops (uvloop) keep theirs.
        clock = time.monotonic if type(loop).time is _BASE_LOOP_TIME else loop.time
        return clock, _backend_check()
    trio = sys.modules.get("trio")
    if trio is not None and cancelled is trio.Cancelled:
        return trio.current_time, trio.lowlevel.checkpoint_if_cancelled
    return anyio.current_time, anyio.lowlevel.checkpoint_if_cancelled


def _backend_check() -> Callable[[], Awaitable[None]]:
    """The running backend's own ``checkpoint_if_cancelled``, found once per worker.

    ``anyio.lowlevel.checkpoint_if_cancelled`` looks the backend up (sniffio) on every call,
    a third of its cost on asyncio; ``current_token().backend_class`` (public since anyio 4.11)
    is the same backend class, found once.
    """
    current_token = getattr(anyio.lowlevel, "current_token", None)
    if current_token is None:  # anyio < 4.11
        return anyio.lowlevel.checkpoint_if_cancelled
    check: Callable[[], Awaitable[None]] = current_token().backend_class.checkpoint_if_cancelled
    return check


_NO_PARENT: Final = object()


def _cancel_chain(scope: anyio.CancelScope) -> tuple[Any, ...] | None:
    """``scope`` and the scopes enclosing it up to the first shielded one: those whose
    cancellation reaches code running in ``scope``. ``None`` where they cannot be listed.

    Reading their cancelled flag before each record costs a tenth of anyio's
    ``checkpoint_if_cancelled`` on asyncio, which finds the task's innermost scope and walks the
    same chain through properties at every call; the backend's own check then runs only when a
    scope of the chain is cancelled, and delivers the cancellation exactly as before. anyio has
    no public way to list enclosing scopes, and its ``cancel_called`` property costs more than
    the rest of the test: the chain relies on its asyncio scopes' ``_parent_scope`` and
    ``_cancel_called`` slots. Where either is missing (trio's scopes, whose own check is cheap;
    a future anyio), ``None`` tells the caller to use the backend's check every time.
    """
    chain: list[Any] = []
    current: Any = scope
    while current is not None:
        if not hasattr(current, "_cancel_called"):
            return None
        chain.append(current)
        if current.shield:
            break
        current = getattr(current, "_parent_scope", _NO_PARENT)
        if current is _NO_PARENT:
            return None
    return tuple(chain)


def _restore_flow_order(items: list[Item], disordered: set[str]) -> None:
    """Put the messages of the ``disordered`` conversations back in flow order, in place.

    A server (or a proxy) may send one answer's records shuffled; handling them in that order
    would break the order within a conversation. Only those conversations' message items move,
    among the places they held; every other item stays put. Stable: duplicates keep their order.
    """
    slots: dict[str, list[int]] = {conversation_id: [] for conversation_id in disordered}
    for index, item in enumerate(items):
        position = item[POSITION]
        if position is not None:
            slot = slots.get(position[0])
            if slot is not None:
                slot.append(index)
    for indexes in slots.values():
        # One conversation's positions: ordered by (conversation, flow) is ordered by flow.
        by_flow = sorted([items[i] for i in indexes], key=_by_position)
        for index, item in zip(indexes, by_flow, strict=True):
            items[index] = item


_by_position: Final = operator.itemgetter(POSITION)


@attrs.frozen(kw_only=True)
class EngineHealth:
    """A snapshot of the engine's state, for health checks and metrics.

    Attributes:
        state: ``idle``, ``starting``, ``syncing``, ``polling``, ``backing_off``, ``draining``
            or ``stopped``.
        running: whether ``run()`` (or an ``events()`` stream) is active.
        last_poll_ok: the clock time of the last successful poll, or ``None``.
        seconds_since_poll: how long ago that was (the watchdog signal), or ``None``.
        horizon: the horizon of the next poll.
        committed_horizon: the horizon whose records are all handled (what a restart resumes
            from), or ``None``.
        lag: ``horizon - committed_horizon`` when both are positive (events received and not
            yet committed), else 0.
        queue_depth: records admitted and not finished (waiting or being handled).
        in_flight: handlers running right now.
        polls: successful polls.
        retries: failed polls by reason (``transport``, ``timeout``, ``server``,
            ``rate_limit``, ``decode``, ``stall``).
        resyncs: times the server asked for a resync (horizon 0).
        handled: records a handler took and finished.
        handler_errors: failed handler attempts (each retry counts).
        dead_lettered: records given up after their retry budget (or undecodable).
        deduplicated: records skipped as already handled.
        skipped: records no handler wanted (not decoded).
        sync_progress: progress of an initial sync (0.0 - 1.0), or ``None``.
    """

    state: str
    running: bool
    last_poll_ok: float | None
    seconds_since_poll: float | None
    horizon: int
    committed_horizon: int | None
    lag: int
    queue_depth: int
    in_flight: int
    polls: int
    retries: Mapping[str, int]
    resyncs: int
    handled: int
    handler_errors: int
    dead_lettered: int
    deduplicated: int
    skipped: int
    sync_progress: float | None


class EventEngine(Generic[ClientT]):
    """Polls the account's event stream and hands every record to the router's handlers.

    Args:
        requester: the client (anything with ``request(...)`` and ``account_id``).
        router: the root router (a new empty one if not given; see :attr:`router`).
        store: where the checkpoint lives (:class:`MemoryStore` if not given).
        backlog: where to start: ``"resume"`` from the stored horizon (or like ``"skip"`` when
            the store has none), ``"skip"`` from the current horizon (no history), ``"full"``
            with an initial sync from 0 (progress to ``on_sync_progress``).
        dedup: skip records already handled, across restarts (see the module docs).
        dedup_size: exact keys the deduplicator keeps (plus per-conversation floors).
        max_conversations: conversations whose state the engine keeps (the position a resync's
            backfill starts from, the dedup floor), most recently active first; older ones are
            forgotten, so memory stays bounded however many conversations the stream brings.
        max_concurrency: handlers running at once (across conversations).
        queue_size: records admitted and not finished before polling pauses.
        handler_timeout: seconds a handler may run (:data:`DEFAULT_HANDLER_TIMEOUT`, 300 s;
            ``None``: no limit); per handler with ``@router.message(timeout=...)``. A handler
            that runs longer fails with :class:`HandlerTimeoutError` and is retried, then
            dead-lettered, like any failure.
        retry_budget: retries of a failing record before it is dead-lettered.
        retry_backoff: backoff between those retries.
        min_poll_interval: least seconds between two polls after an empty answer or an error.
        poll_backoff: backoff of the poll loop on transient failures.
        poll_timeout: watchdog over each poll request (above the transport's own timeouts).
        poll_flags: ``poll_flags`` for the initial sync; by default ``("skip_hidden",)``, as
            Fleep's own clients send (hidden conversations come later, when they change);
            ``()`` syncs them too.
        shutdown_deadline: default seconds :meth:`stop` lets running handlers finish.
        cache: the conversation/contact cache (a new one if not given).
        on_dead_letter: ``(record, exc)``, sync or async: a record given up. ``record`` is the
            raw dict when it could not be decoded.
        on_resync: ``()``, sync or async: the server asked for a resync.
        on_sync_progress: ``(progress)``, sync or async: initial sync progress, 0.0 - 1.0.
        sleep: awaitable pause for backoff and pacing (injected in tests).
        random: ``[0, 1)`` source for jitter (injected in tests).
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        requester: ClientT,
        router: Router | None = None,
        *,
        store: HorizonStore | None = None,
        backlog: Backlog = "resume",
        dedup: bool = False,
        dedup_size: int = 4096,
        max_conversations: int = 10_000,
        max_concurrency: int = 16,
        queue_size: int = 1000,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
        retry_budget: int = 2,
        retry_backoff: RetryPolicy = DEFAULT_RETRY_BACKOFF,
        min_poll_interval: float = 0.5,
        poll_backoff: RetryPolicy = DEFAULT_POLL_BACKOFF,
        poll_timeout: float | None = 300.0,
        poll_flags: Sequence[str] = ("skip_hidden",),
        shutdown_deadline: float = 10.0,
        cache: EventCache | None = None,
        on_dead_letter: Callable[[Any, BaseException], Any] | None = None,
        on_resync: Callable[[], Any] | None = None,
        on_sync_progress: Callable[[float], Any] | None = None,
        sleep: Sleep | None = None,
        random: RandomSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        if backlog not in _BACKLOGS:
            raise UsageError(f"backlog must be one of {', '.join(_BACKLOGS)}, got {backlog!r}")
        if max_concurrency < 1:
            raise UsageError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        if max_conversations < 1:
            raise UsageError(f"max_conversations must be >= 1, got {max_conversations!r}")
        if queue_size < 1:
            raise UsageError(f"queue_size must be >= 1, got {queue_size!r}")
        if retry_budget < 0:
            raise UsageError(f"retry_budget must be >= 0, got {retry_budget!r}")
        if handler_timeout is not None and not handler_timeout > 0:
            raise UsageError(f"handler_timeout must be > 0 or None, got {handler_timeout!r}")
        if not min_poll_interval >= 0:
            raise UsageError(f"min_poll_interval must be >= 0, got {min_poll_interval!r}")
        if not shutdown_deadline >= 0:
            raise UsageError(f"shutdown_deadline must be >= 0, got {shutdown_deadline!r}")
        if router is not None and not isinstance(router, Router):
            raise UsageError(f"router must be a Router, got {type(router).__name__}")
        self.requester = requester
        self.router = router if router is not None else Router(name="root")
        self.store: HorizonStore = store if store is not None else MemoryStore()
        self.backlog = backlog
        self.dedup = dedup
        self.dedup_size = dedup_size
        self.max_conversations = max_conversations
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.handler_timeout = handler_timeout
        self.retry_budget = retry_budget
        self.min_poll_interval = min_poll_interval
        self.poll_timeout = poll_timeout
        self.poll_flags = tuple(poll_flags)
        self.shutdown_deadline = shutdown_deadline
        self.cache = cache if cache is not None else EventCache()
        self.on_dead_letter = on_dead_letter
        self.on_resync = on_resync
        self.on_sync_progress = on_sync_progress
        self._sleep: Sleep = sleep if sleep is not None else anyio.sleep
        self._clock: Clock = clock if clock is not None else time.monotonic
        rnd = random if random is not None else _random.random
        self._retry_backoff = attrs.evolve(retry_backoff, random=rnd)
        self._poll_backoff = attrs.evolve(poll_backoff, random=rnd)
        self._dispatcher = Dispatcher(self.router, handler_timeout=handler_timeout)

        # Per-run state, (re)built by _begin().
        self._running = False
        self._stop_requested = False
        self._stop_deadline = shutdown_deadline
        self._poll_scope: anyio.CancelScope | None = None
        self._stopped: anyio.Event | None = None
        self._fatal: BaseException | None = None
        self._poller: Poller | None = None
        self._watermark = Watermark()
        self._dedup: Deduplicator | None = None
        self._checkpoint_account: str | None = None
        self._saved: tuple[int | None, int, int] | None = None
        self._dirty: anyio.Event | None = None
        # Whether _dirty is set already (the writer has not taken it yet): a handled record
        # then skips setting it again, which cost two calls per record with dedup on.
        self._dirty_raised = False
        self._room: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._workers: anyio.abc.TaskGroup | None = None
        # Lanes with records waiting: one deque per ordering lane (see lane_of). A lane is
        # either queued on _ready or held by exactly one worker, never both: that is what keeps
        # a conversation's records in order.
        self._lanes: dict[str, deque[Item]] = {}
        self._ready: deque[tuple[str, deque[Item]]] = deque()
        self._worker_count = 0
        self._worker_starting = False
        self._pending_keys: set[str] = set()
        self._depth = 0
        self._in_flight = 0
        self._draining = False
        self._state = "idle"
        self._handled = 0
        self._handler_errors = 0
        self._dead_lettered = 0
        self._deduplicated = 0
        self._skipped = 0
        # Per conversation, the highest message flow position admitted (or handled before a
        # restart, from the checkpoint): where a backfill after a resync starts, and at or below
        # which a resync's sync delivers nothing. Bounded: the max_conversations most recently
        # active conversations.
        self._positions = Positions(max_conversations)
        # Per conversation, the flow position at or below which every message is finished, or
        # preceded the starting point (captured when the backlog is skipped). Saved with the
        # checkpoint: what _positions starts from after a restart. Bounded like _positions.
        self._floors = Positions(max_conversations)
        self._floors_version = 0
        self._backfill_due = False

    def __repr__(self) -> str:
        return f"EventEngine(router={self.router!r}, store={self.store!r}, state={self._state!r})"

    # -- public -----------------------------------------------------------------------------

    @property
    def health(self) -> EngineHealth:
        """A frozen snapshot of the engine's state and counters."""
        poller = self._poller
        horizon = poller.horizon if poller is not None else 0
        committed = self._watermark.committed
        last_ok = poller.last_success if poller is not None else None
        state = self._state
        if poller is not None and self._state in ("polling", "syncing", "starting"):
            state = poller.state
        lag = horizon - committed if committed is not None and committed > 0 < horizon else 0
        return EngineHealth(
            state=state,
            running=self._running,
            last_poll_ok=last_ok,
            seconds_since_poll=None if last_ok is None else self._clock() - last_ok,
            horizon=horizon,
            committed_horizon=committed,
            lag=max(lag, 0),
            queue_depth=self._depth,
            in_flight=self._in_flight,
            polls=poller.polls if poller is not None else 0,
            retries=MappingProxyType(dict(poller.retries) if poller is not None else {}),
            resyncs=poller.resyncs if poller is not None else 0,
            handled=self._handled,
            handler_errors=self._handler_errors,
            dead_lettered=self._dead_lettered,
            deduplicated=self._deduplicated,
            skipped=self._skipped,
            sync_progress=poller.sync_progress if poller is not None else None,
        )

    @property
    def running(self) -> bool:
        """Whether ``run()`` or an ``events()`` stream is active."""
        return self._running

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll and dispatch until :meth:`stop` is called or the task is cancelled.

        With ``await task_group.start(engine.run)``, returns to the caller once the starting
        horizon is known (stored, or fetched with ``account/sync``): events after that moment
        are not missed.

        On exit (stop, cancellation or error) the checkpoint is written.

        Raises:
            AuthenticationError: the session expired and could not be renewed.
            FleepAPIError: the poll failed in a way retrying cannot fix.
            UsageError: already running, or the store holds another account's checkpoint.
            StoreLockedError: another engine owns the checkpoint store (at start), or took it
                over (then polling stops and running handlers are cancelled).
        """
        if self._stop_requested and not self._running:
            self._stop_requested = False
            return
        self._enter()
        try:
            with anyio.CancelScope() as scope:
                self._poll_scope = scope
                if self._stop_requested:
                    scope.cancel()
                await self._begin()
            if scope.cancelled_caught:
                if self._fatal is not None:
                    raise self._fatal
                return
            self._poll_scope = None
            task_status.started()
            # Workers take ready lanes from _ready; they are started one at a time while lanes
            # wait (see _spawn_worker), up to max_concurrency, and each leaves when no lane is
            # ready. So a busy page reuses a few workers across lanes (starting a task costs
            # more than a cheap handler), and an idle engine holds no worker at all (many idle
            # bots in one process stay small).
            async with anyio.create_task_group() as services:
                services.start_soon(self._checkpoint_writer)
                async with anyio.create_task_group() as workers:
                    self._workers = workers
                    await self._poll_loop()
                    await self._drain()
                services.cancel_scope.cancel()
            if self._fatal is not None:
                raise self._fatal
        finally:
            await self._leave()

    def stop(self, deadline: float | None = None) -> None:
        """Ask :meth:`run` (or an ``events()`` stream) to stop; returns at once.

        Polling stops; handlers already running get ``deadline`` seconds (default:
        ``shutdown_deadline``) to finish, then are cancelled; records not started are left for
        the next run (they are not committed). Then the checkpoint is written and ``run()``
        returns. Calling it before ``run()`` makes that ``run()`` return at once.
        """
        self._stop_requested = True
        self._stop_deadline = self.shutdown_deadline if deadline is None else deadline
        if self._running:
            # At once, not when run() gets to drain: a handler that stops its engine and
            # never suspends would otherwise let its worker start the records after it.
            self._draining = True
        if self._poll_scope is not None:
            self._poll_scope.cancel()

    async def shutdown(self, deadline: float | None = None) -> None:
        """:meth:`stop`, then wait until ``run()`` has returned (checkpoint written)."""
        self.stop(deadline)
        if self._running and self._stopped is not None:
            await self._stopped.wait()

    def events(self, *, kinds: Sequence[RecordKind] | None = None) -> EventStream:
        """Iterate over records instead of using handlers: ``async for record in engine.events()``.

        Delivery is the same as with handlers: a record counts as handled (and its horizon may
        be committed) when the loop asks for the next one. Use ``async with engine.events() as
        stream`` so that the checkpoint is written whatever way the loop ends.

        Args:
            kinds: only these ``mk_rec_type`` values (others are not decoded); all if ``None``.

        Raises:
            UsageError: an unknown kind (a typo would otherwise silently filter out everything).
        """
        return EventStream(self, check_kinds(kinds))

    async def feed(self, record: Any) -> bool:
        """Dispatch one record (or raw dict) to the handlers now, without polling (for tests).

        Handler exceptions propagate. Returns whether a handler took the record.
        """
        raw = record if isinstance(record, Mapping) else None
        if raw is not None:
            record = parse_record(raw)
        kind = str(record.mk_rec_type)
        ctx = self._context(record, kind, identity=None, raw=raw)
        result = await self._dispatcher.feed(record, ctx)
        return result is not UNHANDLED

    # -- run lifecycle ------------------------------------------------------------------------

    def _enter(self) -> None:
        if self._running:
            raise UsageError("the engine is already running (run() or events())")
        self._running = True
        self._stop_deadline = self.shutdown_deadline
        self._stopped = anyio.Event()
        self._fatal = None
        self._draining = False
        self._state = "starting"

    async def _leave(self) -> None:
        try:
            with anyio.CancelScope(shield=True):
                self._state = "stopping"
                with anyio.move_on_after(max(self._stop_deadline, 5.0)):
                    await self._save(final=True)
                try:
                    await self.store.aclose()
                except Exception:
                    logger.exception("closing the checkpoint store failed")
        finally:
            self._running = False
            self._stop_requested = False
            self._poll_scope = None
            self._workers = None
            self._ready.clear()
            self._worker_count = 0
            self._worker_starting = False
            self._lanes.clear()
            self._pending_keys.clear()
            self._depth = 0
            self._in_flight = 0
            self._watermark.abandon()
            self._state = "stopped"
            if self._stopped is not None:
                self._stopped.set()

    async def _begin(self) -> None:
        """Load the checkpoint, restore dedup, and choose the starting horizon."""
        self._dirty = anyio.Event()
        self._dirty_raised = False
        # Created by whoever waits (the admission, _drain): until then a finished record has
        # no event to set, which matters at one set per record.
        self._room = None
        self._idle = None
        checkpoint = await self.store.load()
        own = self.requester.account_id
        self._checkpoint_account = checkpoint.account_id if checkpoint is not None else None
        self._check_account(own)
        self._dedup = None
        if self.dedup:
            self._dedup = Deduplicator(
                max_keys=self.dedup_size, max_conversations=self.max_conversations
            )
            if checkpoint is not None and checkpoint.dedup is not None:
                self._dedup.restore(checkpoint.dedup)
        stored_floors = checkpoint.positions if checkpoint is not None else None
        self._floors = Positions(self.max_conversations)
        if stored_floors and self.backlog != "full":
            self._floors.update_many(stored_floors)
        self._floors_version = 0
        self._positions = Positions(self.max_conversations)
        if self._dedup is not None:
            self._positions.update_many(self._dedup.positions())
        self._positions.update_many(self._floors.as_dict())
        self._backfill_due = False
        stored = checkpoint.horizon if checkpoint is not None else None
        self._watermark = Watermark(stored)
        self._saved = (stored, self._dedup.version if self._dedup is not None else 0, 0)
        poller = Poller(
            self.requester,
            backoff=self._poll_backoff,
            min_interval=self.min_poll_interval,
            poll_timeout=self.poll_timeout,
            poll_flags=self.poll_flags,
            sleep=self._sleep,
            clock=self._clock,
        )
        self._poller = poller
        if self.backlog == "full":
            poller.horizon = 0
            logger.info("starting with a full initial sync")
        elif self.backlog == "resume" and stored is not None and stored > 0:
            poller.horizon = stored
            logger.info("resuming from the stored horizon %d", stored)
        else:
            # The starting point, per conversation: a resync later delivers nothing at or below
            # it (the backlog skipped here stays skipped). Listed before the horizon is taken,
            # so that nothing posted in between can be skipped and never delivered.
            captured = await poller.conversation_positions()
            if captured:
                self._floors.update_many(captured)
                self._floors_version += 1
                self._positions.update_many(captured)
            current = await poller.current_horizon()
            poller.horizon = current
            if current > 0:
                self._watermark.committed = current
                self._mark_dirty()
                # Saved before run() reports started: a process that dies right after must
                # resume from here, not skip again what was posted meanwhile.
                await self._save()
            logger.info("skipping the backlog: starting at horizon %d", current)
        self._state = "polling"

    def _check_account(self, own: str | None) -> None:
        stored = self._checkpoint_account
        if own is not None and stored is not None and own != stored:
            raise UsageError(
                "the checkpoint store holds the horizon of another account; "
                "use one store (or SQLiteStore name) per account"
            )

    # -- polling and admission ----------------------------------------------------------------

    async def _poll_loop(self) -> None:
        poller = self._poller
        assert poller is not None
        with anyio.CancelScope() as scope:
            self._poll_scope = scope
            if self._stop_requested:
                scope.cancel()
            while True:
                await self._wait_for_room()
                try:
                    batch = await poller.poll()
                    self._check_account(self.requester.account_id)
                except (FleepError, UsageError) as exc:
                    logger.error("the event stream cannot continue: %s", exc)
                    self._fatal = exc
                    return
                await self._admit(batch)
        self._poll_scope = None

    async def _wait_for_room(self) -> None:
        while self._depth >= self.queue_size:
            if self._room is None or self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()

    async def _on_batch(self, batch: PollBatch) -> None:
        if batch.resync:
            await call_hook("on_resync", self.on_resync)
        if batch.syncing and batch.sync_progress is not None:
            await call_hook("on_sync_progress", self.on_sync_progress, batch.sync_progress)

    def _prepare_page(
        self, records: Sequence[dict[str, Any]], batch: Batch, wanted: frozenset[str] | None
    ) -> list[Item]:
        """One pass over a page: what to dispatch, in order, with everything computed once.

        Per record: merge conversation headers and contacts into the cache (raw, no decoding),
        skip unwanted kinds, take a message's flow position and the dedup key once, drop
        duplicates, decode what a handler wants, and name its ordering lane. A conversation
        whose messages came out of flow order gets them put back in order (its other records
        stay where they were). Also keeps the per-conversation positions (for a resync's
        backfill) up to date, once per conversation per page.
        """
        mergers = self.cache.raw_mergers
        decoders = LAYOUT_DECODERS
        dedup = self._dedup
        pending = self._pending_keys
        items: list[Item] = []
        append = items.append
        page_positions: dict[str, int] = {}
        disordered: set[str] | None = None
        skipped = 0
        duplicates = 0
        for raw in records:
            kind = raw.get("mk_rec_type")
            if kind.__class__ is not str:
                kind = "?"
            merge = mergers.get(kind)
            if merge is not None:
                merge(raw)
            if wanted is not None and kind not in wanted:
                skipped += 1
                continue
            conversation_id = raw.get("conversation_id")
            if conversation_id.__class__ is not str:
                conversation_id = None
            position: tuple[str, int] | None = None
            if kind == "message" and conversation_id is not None:
                flow = flow_position(raw)
                if flow is not None:
                    position = (conversation_id, flow)
                    last = page_positions.get(conversation_id)
                    if last is None or flow >= last:
                        page_positions[conversation_id] = flow
                    else:
                        if disordered is None:
                            disordered = set()
                        disordered.add(conversation_id)
            key: str | None = None
            if dedup is not None:
                key = dedup.key_of(kind, raw, position)
                if key in pending or dedup.seen(key, position):
                    duplicates += 1
                    continue
                pending.add(key)
            error: DecodeError | None = None
            # parse_record's own first step, inline: the function for this kind and key layout
            # (for a plain dict only: it reads the values by position).
            layouts = decoders.get(kind)
            decode = (
                layouts.get(tuple(raw)) if layouts is not None and raw.__class__ is dict else None
            )
            try:
                record: Any = decode(raw) if decode is not None else parse_record(raw)
            except DecodeError as exc:
                record = None
                error = exc
            lane = conversation_id if conversation_id is not None else lane_of(kind, raw)
            append((batch, raw, kind, record, error, key, position, lane, conversation_id))
        self._skipped += skipped
        self._deduplicated += duplicates
        if page_positions:
            self._positions.update_many(page_positions)
        if disordered:
            _restore_flow_order(items, disordered)
        return items

    async def _admit(self, batch: PollBatch) -> None:
        await self._on_batch(batch)
        mark = self._watermark.open(batch.horizon, resync=batch.resync)
        wanted = self.router.wanted_kinds()
        self._dispatcher.prepare()  # the router tree as it is now, for this page's records
        await self._admit_batch(batch, mark, wanted, self._enqueue)
        if self._watermark.seal(mark):
            self._mark_dirty()

    async def _admit_batch(
        self,
        batch: PollBatch,
        mark: Batch,
        wanted: frozenset[str] | None,
        admit: Callable[[list[Item]], Awaitable[None]],
    ) -> None:
        """Prepare a batch's records and give them to ``admit``, after a resync's gap.

        Shared by the handler engine and :class:`EventStream`, which admit records differently.
        """
        if batch.resync:
            self._backfill_due = True
        stream = batch.stream
        # Resync backfills matter only to message handlers.
        if self._backfill_due and batch.syncing and (wanted is None or "message" in wanted):
            stream = self._beyond_positions(stream)

            async def admit_page(records: Sequence[dict[str, Any]]) -> None:
                await admit(self._prepare_page(records, mark, wanted))

            await self._backfill(stream, admit_page)
        await admit(self._prepare_page(stream, mark, wanted))
        if batch.horizon > 0:
            self._backfill_due = False  # the sync after the resync is complete

    def _beyond_positions(self, stream: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """A resync's sync page without the messages at or below the engine's positions."""
        return beyond_positions(stream, self._positions)

    async def _backfill(
        self,
        stream: Sequence[dict[str, Any]],
        admit: Callable[[Sequence[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        """Admit the messages a resync's initial sync skips, for the conversations in ``stream``."""
        poller = self._poller
        assert poller is not None
        await backfill(poller, self._positions, stream, admit)

    def _track(self, items: list[Item]) -> None:
        """Count admitted records: their batch and the queue depth (one page's items)."""
        if items:
            Watermark.add(items[0][BATCH], len(items))
            self._depth += len(items)

    async def _enqueue(self, items: list[Item]) -> None:
        """Put a page's items on their lanes, at most ``queue_size`` waiting at a time."""
        start = 0
        total = len(items)
        while start < total:
            room = self.queue_size - self._depth
            if room <= 0:
                await self._wait_for_room()
                continue
            chunk = items[start : start + room] if start or total > room else items
            start += len(chunk)
            self._track(chunk)
            lanes = self._lanes
            ready = self._ready
            new_lanes = 0
            for item in chunk:
                lane = lanes.get(item[LANE])
                if lane is None:
                    lane = lanes[item[LANE]] = deque()
                    ready.append((item[LANE], lane))
                    new_lanes += 1
                lane.append(item)
            if new_lanes:
                self._spawn_worker()

    def _spawn_worker(self) -> None:
        """Start one more worker, unless one is starting already or max_concurrency run.

        Workers multiply one at a time: a worker that takes a lane while others wait starts
        the next one. Handlers that never suspend are all run by the first worker (the next
        finds nothing left and leaves), so a page costs a task start or two, not one per lane;
        handlers that wait let the next worker run and start another, up to max_concurrency.
        """
        if self._worker_starting or self._worker_count >= self.max_concurrency:
            return
        workers = self._workers
        assert workers is not None
        self._worker_count += 1
        self._worker_starting = True
        workers.start_soon(self._lane_worker, name="fleep-worker")

    # -- handling -----------------------------------------------------------------------------

    async def _lane_worker(self) -> None:
        """Take ready lanes one after another, a burst each; leave when none is ready.

        One cancel scope serves all the worker's bursts (see TimeoutGuard): entering a scope
        and moving its deadline timer cost more than a burst of cheap handlers. A new scope is
        opened only after the scope fired: inside a handler (that attempt timed out: it is
        reported here, then the record is retried in the new scope or dead-lettered) or as a
        handler finished (no other record may start in a cancelled scope).
        """
        self._worker_starting = False
        ready = self._ready
        clock, checkpoint = _loop_primitives()
        # A lane whose first record timed out and is to be tried again, with that attempt.
        again: tuple[str, deque[Item], int] | None = None
        try:
            while again is not None or ready:
                inside = True  # whether the scope below fired inside a handler
                with anyio.CancelScope() as scope:
                    guard = TimeoutGuard(scope, clock)
                    # The scopes a cancellation could come from, tested before each record;
                    # None: the backend's own check every time (see _cancel_chain).
                    chain = _cancel_chain(scope)
                    while True:
                        if again is not None:
                            lane_key, lane, attempt = again
                            again = None
                        elif ready:
                            lane_key, lane = ready.popleft()
                            attempt = 1
                            if ready and not self._worker_starting:
                                self._spawn_worker()  # others wait: one more worker, if allowed
                        else:
                            return
                        if not await self._burst(lane, guard, checkpoint, chain, attempt):
                            return  # stopping: the lane's records stay uncommitted
                        self._requeue(lane_key, lane)
                        # chain[0] is the scope: its slot costs less than the property.
                        if chain[0]._cancel_called if chain is not None else scope.cancel_called:
                            inside = False  # a deadline passed as a handler finished
                            break
                if not inside:
                    continue
                # The scope fired inside a handler: that attempt of the lane's first record
                # timed out.
                item = lane[0]
                failure = HandlerTimeoutError(guard.handler, guard.limit)
                outcome = await self._failed(item, guard.ctx, failure, guard.attempt)
                if outcome is _ABANDON:
                    return
                if outcome is _RETRY:
                    again = (lane_key, lane, guard.attempt + 1)  # in a new scope
                    continue
                lane.popleft()  # dead-lettered
                if item[KEY] is not None:
                    self._pending_keys.discard(item[KEY])
                if item[POSITION] is not None:
                    self._raise_floor(*item[POSITION])
                self._finished(item[BATCH], 1)
                self._requeue(lane_key, lane)
        finally:
            # No await between the empty-queue check and this: a lane enqueued meanwhile
            # would otherwise find max_concurrency workers counted and none left to take it.
            self._worker_count -= 1

    def _requeue(self, lane_key: str, lane: deque[Item]) -> None:
        """After a burst: a lane with records left goes to the back of the queue (other
        conversations get a turn); an empty one is forgotten."""
        if lane:
            self._ready.append((lane_key, lane))
        elif self._lanes.get(lane_key) is lane:
            del self._lanes[lane_key]

    async def _burst(
        self,
        lane: deque[Item],
        guard: TimeoutGuard,
        checkpoint: Callable[[], Awaitable[None]],
        chain: tuple[Any, ...] | None,
        attempt: int,
    ) -> bool:
        """Handle up to ``_LANE_BURST`` records of ``lane``; False when the engine is stopping.

        ``guard``'s scope (the worker's) enforces the handlers' timeouts; a cancellation of it
        leaves this method, and the worker reports the timeout of ``lane[0]``, tried as
        ``guard.attempt``. ``attempt`` is the attempt ``lane[0]`` starts at. Before each record
        the scopes of ``chain`` are tested for a cancellation (``None``: ``checkpoint()`` is
        awaited instead). Finished records are counted per run of one batch (the watermark, the
        queue depth), not one by one. The worker counts as one handler in flight from its first
        record to the end of the burst (it never suspends in between but inside handlers),
        except while a failure is reported or backed off.
        """
        batch: Batch | None = None
        finished = 0
        # The lane's highest message position finished in this burst (a lane is one
        # conversation): its floor is raised once, when the burst ends.
        floor: tuple[str, int] | None = None
        flying = False
        scope: Any = guard.scope
        guard.attempt = attempt
        try:
            requester = self.requester
            own = requester.account_id
            cache = self.cache
            feed = self._dispatcher.feed
            begin = self._dispatcher.begin
            new_context = record_context
            dedup = self._dedup
            for _ in range(_LANE_BURST):
                # Per record, not per burst: a cancelled engine starts no new record. A
                # cancellation requested while the previous handler ran (by that handler, or by
                # another task while it awaited something that finished without reaching the
                # event loop, e.g. an in-process ASGI call) is delivered at the next suspension
                # only; a handler that never suspends would never see it, and a check per burst
                # would start up to _LANE_BURST - 1 more records (replies sent after the kill).
                # See "Cancellation" in docs/architecture.md.
                if chain is None:
                    await checkpoint()
                else:
                    for enclosing in chain:
                        if enclosing._cancel_called:
                            await checkpoint()  # the backend delivers it
                            break
                item = lane[0]
                if self._draining:
                    return False
                (
                    item_batch,
                    raw,
                    kind,
                    record,
                    error,
                    key,
                    position,
                    _lane,
                    conversation_id,
                ) = item
                if error is not None or attempt > 1:
                    if flying:
                        flying = False
                        self._land()
                    if not await self._process(item, guard, attempt):
                        return False
                    attempt = 1
                    guard.attempt = 1
                else:
                    if not flying:
                        flying = True
                        self._in_flight += 1
                    # The first attempt, inline (one await level less per record); failures
                    # go on in _process.
                    ctx = new_context(
                        requester, record, kind, conversation_id, own, cache, key, raw, guard
                    )
                    guard.ctx = ctx
                    try:
                        call = begin(record, ctx)
                        if call is None:
                            result = await feed(record, ctx)
                        elif call is UNHANDLED:
                            result = UNHANDLED
                        else:
                            result = await call  # type: ignore[misc]
                    except SkipHandler:  # from begin()'s call: its only handler passed
                        result = UNHANDLED
                    except Exception as exc:
                        flying = False
                        self._land()
                        guard.disarm()
                        if not await self._retry(item, guard, ctx, exc):
                            return False
                        guard.attempt = 1
                    else:
                        if result is not UNHANDLED:
                            self._handled += 1
                            if dedup is not None and key is not None:
                                dedup.mark(key, position)
                                # Per record: a handler that suspends lets the writer save
                                # this mark before the next record (after a SIGKILL, fewer
                                # records run twice).
                                if not self._dirty_raised:
                                    self._mark_dirty()
                lane.popleft()
                if key is not None:
                    self._pending_keys.discard(key)
                if position is not None and (floor is None or position[1] > floor[1]):
                    floor = position
                if item_batch is not batch:
                    if batch is not None:
                        self._finished(batch, finished)
                    batch = item_batch
                    finished = 0
                finished += 1
                if not lane:
                    return True
                if scope._cancel_called if chain is not None else scope.cancel_called:
                    # A deadline passed as a handler finished: no other record may start in
                    # this scope. (The property costs more than the slot _cancel_chain found.)
                    return True
            return True
        finally:
            if flying:
                self._land()
            # _raise_floor(), one call level less per burst.
            if floor is not None and self._floors.raise_one(*floor):
                self._floors_version += 1
            if batch is not None:
                self._finished(batch, finished)

    def _land(self) -> None:
        """A handler (or a worker's run of them) is no longer in flight."""
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()

    def _raise_floor(self, conversation_id: str, position: int) -> None:
        """Every message of the conversation up to ``position`` is finished."""
        if self._floors.raise_one(conversation_id, position):
            self._floors_version += 1

    def _finished(self, batch: Batch, count: int) -> None:
        """``count`` records of ``batch`` are done (handled, unwanted by every filter, or
        dead-lettered)."""
        self._depth -= count
        room = self._room
        if room is not None and self._depth < self.queue_size:
            self._room = None  # the waiter makes a new one if the queue fills up again
            room.set()
        if self._watermark.done(batch, count):
            self._mark_dirty()

    def _finish(self, item: Item) -> None:
        """One record is done (the event stream's path)."""
        if item[KEY] is not None:
            self._pending_keys.discard(item[KEY])
        if item[POSITION] is not None:
            self._raise_floor(*item[POSITION])
        self._finished(item[BATCH], 1)

    def _context(
        self,
        record: Any,
        kind: str,
        *,
        identity: str | None,
        raw: Mapping[str, Any] | None = None,
        attempt: int = 1,
    ) -> Context[ClientT]:
        conversation_id = getattr(record, "conversation_id", None)
        return Context(
            client=self.requester,
            record=record,
            kind=kind,
            conversation_id=conversation_id if isinstance(conversation_id, str) else None,
            own_account_id=self.requester.account_id,
            cache=self.cache,
            identity=identity,
            raw=raw,
            attempt=attempt,
        )

    async def _process(self, item: Item, guard: TimeoutGuard | None, attempt: int = 1) -> bool:
        """Handle one record: dispatch, retry on failure, dead-letter after the budget.

        Returns False when the record was abandoned because the engine is stopping (it is then
        not finished, so not committed, so re-delivered by the next run). A handler that runs
        past its timeout is cancelled by ``guard``'s scope: the cancellation leaves this method
        and the caller reports the timeout (see _burst).
        """
        if item[ERROR] is not None:
            if guard is not None:
                guard.disarm()  # the dead-letter hook has no handler timeout
            logger.error("a %s record could not be decoded: %s", item[KIND], item[ERROR])
            await self._dead_letter(item, item[RAW], item[ERROR])
            return True
        requester = self.requester
        while True:
            ctx = Context(
                client=requester,
                record=item[RECORD],
                kind=item[KIND],
                conversation_id=item[CONVERSATION],
                own_account_id=requester.account_id,
                cache=self.cache,
                identity=item[KEY],
                raw=item[RAW],
                attempt=attempt,
                timeout_guard=guard,
            )
            if guard is not None:
                guard.ctx = ctx
                guard.attempt = attempt
            self._in_flight += 1
            try:
                result = await self._dispatcher.feed(item[RECORD], ctx)
            except Exception as exc:
                failure: Exception | None = exc
            else:
                failure = None
            finally:
                self._land()
            if failure is None:
                if result is not UNHANDLED:
                    self._handled += 1
                    self._mark_handled(item)
                return True
            if guard is not None:
                guard.disarm()  # error handlers and the backoff have no handler timeout
            outcome = await self._failed(item, ctx, failure, attempt)
            if outcome is not _RETRY:
                return outcome is _DONE
            attempt += 1

    async def _retry(
        self, item: Item, guard: TimeoutGuard, ctx: Context[Any], failure: Exception
    ) -> bool:
        """The first attempt (made inline by _burst) failed: go on as _process does."""
        outcome = await self._failed(item, ctx, failure, 1)
        if outcome is not _RETRY:
            return outcome is _DONE
        return await self._process(item, guard, 2)

    async def _failed(
        self, item: Item, ctx: Context[Any] | None, failure: Exception, attempt: int
    ) -> object:
        """An attempt failed: log, tell the error handlers, then back off and return _RETRY,
        or dead-letter the record and return _DONE; _ABANDON when stopping meanwhile."""
        self._handler_errors += 1
        will_retry = attempt <= self.retry_budget
        handler = ctx.handler if ctx is not None else None
        logger.error(
            "handler %s failed on a %s record (attempt %d of %d)%s",
            handler.name if handler is not None else "(middleware)",
            item[KIND],
            attempt,
            self.retry_budget + 1,
            "" if will_retry else "; giving up",
            exc_info=failure,
        )
        event = ErrorEvent(
            record=item[RECORD], exception=failure, attempt=attempt, will_retry=will_retry
        )
        if ctx is not None:
            try:
                await self._dispatcher.notify_error(event, ctx)
            except Exception:
                logger.exception("an error handler failed")
        if not will_retry:
            await self._dead_letter(item, item[RECORD], failure)
            return _DONE
        await self._sleep(self._retry_backoff.delay(attempt))
        return _ABANDON if self._draining else _RETRY

    def _mark_handled(self, item: Item) -> None:
        if self._dedup is not None and item[KEY] is not None:
            self._dedup.mark(item[KEY], item[POSITION])
            self._mark_dirty()

    async def _dead_letter(self, item: Item, record: Any, exc: BaseException) -> None:
        self._dead_lettered += 1
        self._mark_handled(item)
        await call_hook("on_dead_letter", self.on_dead_letter, record, exc)

    async def _drain(self) -> None:
        """Stop starting records; let running handlers finish until the deadline; cancel."""
        self._draining = True
        self._state = "draining"
        workers = self._workers
        with anyio.move_on_after(self._stop_deadline):
            while self._in_flight > 0:
                self._idle = anyio.Event()
                await self._idle.wait()
        if workers is not None:
            workers.cancel_scope.cancel()

    # -- checkpoints --------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if self._dirty is not None:
            self._dirty_raised = True
            self._dirty.set()

    def _snapshot(self) -> tuple[Checkpoint, tuple[int | None, int, int]]:
        dedup = self._dedup
        version = dedup.version if dedup is not None else 0
        account = self.requester.account_id or self._checkpoint_account
        checkpoint = Checkpoint(
            horizon=self._watermark.committed,
            account_id=account,
            # Not export(): the snapshot holds the same JSON for a fraction of the copying.
            dedup=snapshot_state(dedup) if dedup is not None else None,
            # A copy: the store serialises it in a worker thread while handlers finish records.
            positions=self._floors.as_dict(),
        )
        return checkpoint, (self._watermark.committed, version, self._floors_version)

    async def _save(self, *, final: bool = False) -> bool:
        """Write the checkpoint if it changed since the last write; return success."""
        if self._saved is not None:
            dedup_version = self._dedup.version if self._dedup is not None else 0
            current = (self._watermark.committed, dedup_version, self._floors_version)
            if self._saved == current:
                return True
        if self._watermark.committed is None and self._dedup is None:
            return True
        checkpoint, saved = self._snapshot()
        try:
            await self.store.save(checkpoint)
        except StoreLockedError as exc:
            # Another engine owns the store now (an SQLiteStore row taken over): two engines
            # would handle every record twice. Stop at once; run() raises the error.
            logger.error("the checkpoint store has another owner; stopping: %s", exc)
            if self._fatal is None and not final:
                self._fatal = exc
                self.stop(0.0)
            return False
        except Exception:
            logger.exception("writing the checkpoint failed%s", " on exit" if final else "")
            return False
        self._saved = saved
        return True

    async def _checkpoint_writer(self) -> None:
        failures = 0
        while True:
            dirty = self._dirty
            assert dirty is not None
            await dirty.wait()
            self._dirty = anyio.Event()
            self._dirty_raised = False
            if await self._save():
                failures = 0
                continue
            failures += 1
            self._mark_dirty()
            await self._sleep(self._poll_backoff.delay(failures))
