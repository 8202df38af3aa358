"""The cluster worker: handles the records the pollers published, partition by partition.

A :class:`ClusterWorker` runs the same :class:`~fleep_async.events.Router`, filters, middleware
and :class:`~fleep_async.events.Context` as the single-process engine, on records it pulls from
the ``FLEEP_EVENTS`` stream. Any number of workers (processes, machines) share the work:

- **Membership.** Each worker keeps a key ``worker.<id>`` alive in the ``fleep_leases`` bucket
  (renewed every TTL/3; the bucket's TTL removes the key of a worker that died).
- **Partition leases.** Partition ``p`` of account ``a`` is handled by the worker holding the key
  ``partition.<a>.<p>``: a :class:`~fleep_async.cluster.Lease`, the pollers' mechanism (created
  if absent, renewed by a compare-and-set on its revision, TTL, released on hand-over). A
  worker takes at most ``ceil(partitions / live workers)``: when a worker joins, the others
  release what they hold beyond that (after the record in hand); when one dies its leases expire
  and the survivors take them. Which worker prefers which partition is decided by rendezvous
  hashing, so a change of membership moves few partitions.
- **Order.** A partition is consumed through one durable pull consumer (``w-<a>-<p>``) with
  ``max_ack_pending=1``: the server hands out the next record of the partition only once the
  previous one is acked, whoever fetches. The lease keeps the fetching to one worker; the
  consumer keeps the order even while two workers briefly both think they hold it.
- **Ack after success.** A record is acked only after its handler returned (or no handler
  wanted it). From the moment a record is delivered (waiting for a handler slot or in its
  handler) until it is acked or handed back, the worker tells the server it is still working
  on it (``+WPI``, one loop for all of them, every ``ack_wait / 3``); a worker killed
  mid-handler stops doing so, and the record is delivered again (to whoever holds the
  partition then) after ``ack_wait``.
- **Failures.** A failing handler's record is handed back (``NAK`` with the engine's backoff) and
  tried again up to ``max_deliver`` deliveries in all; then it is published to the dead-letter
  stream ``FLEEP_DEAD`` with the (redacted) error and acked. A record delivered more than
  ``max_deliver`` times without a verdict (the workers handling it kept dying) is dead-lettered
  without running the handler again.
- **Replies** keep their record-derived ``client_req_id`` (see :meth:`Context.reply`): the key is
  computed from the record's bytes exactly as the engine computes it, so a reply re-sent after a
  redelivery (or a dead-letter replay) is the same request, which Fleep stores once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import anyio
import anyio.abc
import attrs
import orjson

from fleep_async._converter import parse_record
from fleep_async._retry import RetryPolicy
from fleep_async.cluster._lease import Lease
from fleep_async.cluster._nats import (
    DEAD_STREAM,
    DEFAULT_LEASE_TTL,
    DEFAULT_PARTITIONS,
    EVENTS_STREAM,
    HEADER_ACCOUNT,
    HEADER_DELIVERIES,
    HEADER_ERROR,
    HEADER_MSG_ID,
    HEADER_ORIGINAL_SUBJECT,
    LEASES_BUCKET,
    bucket_keys,
    dead_subject,
    event_subject,
    partition_lease_key,
    worker_key,
)
from fleep_async.errors import ClusterError, DecodeError, UsageError, redact
from fleep_async.events._cache import EventCache
from fleep_async.events._context import Context, ErrorEvent
from fleep_async.events._dedup import Deduplicator
from fleep_async.events._dispatcher import UNHANDLED, Dispatcher
from fleep_async.events._engine import DEFAULT_HANDLER_TIMEOUT, DEFAULT_RETRY_BACKOFF
from fleep_async.events._router import Router
from fleep_async.events._types import Requester

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.js.api import ConsumerConfig
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from fleep_async.cluster._effects import EffectLedger

__all__ = [
    "DEFAULT_ACK_WAIT",
    "DEFAULT_MAX_DELIVER",
    "ClusterWorker",
    "WorkerHealth",
    "consumer_name",
]

logger: Final = logging.getLogger("fleep_async.cluster.worker")

ClientT = TypeVar("ClientT", bound=Requester)

DEFAULT_ACK_WAIT: Final = 30.0
"""Seconds a delivered record may go without an ack (or a progress note) before redelivery."""
DEFAULT_MAX_DELIVER: Final = 5
"""Deliveries of a failing record before it goes to the dead-letter stream."""
DEFAULT_FETCH_TIMEOUT: Final = 1.0
_MAX_ERROR_TEXT: Final = 1000
# JetStream errors that name a missing stream / consumer (JSStreamNotFoundErr,
# JSConsumerNotFoundErr).
_STREAM_NOT_FOUND: Final = 10059
_CONSUMER_NOT_FOUND: Final = 10014


def _account_token(account_id: str) -> str:
    # The account as its subjects spell it (event_subject maps characters a subject cannot
    # hold); a durable name has the same constraints.
    return event_subject(account_id, 0, "x").split(".")[2]


def consumer_name(account_id: str, partition: int) -> str:
    """The durable consumer of one partition of one account: ``w-<account>-<partition>``."""
    return f"w-{_account_token(account_id)}-{partition}"


def partition_filter(account_id: str, partition: int) -> str:
    """The subjects of one partition: ``fleep.events.<account>.<partition>.>``."""
    return event_subject(account_id, partition, "x").rsplit(".", 1)[0] + ".>"


def _error_text(exc: BaseException) -> str:
    """``Type: message``, redacted, on one line (a NATS header value), bounded."""
    text = redact(f"{type(exc).__name__}: {exc}")
    text = " ".join(text.split())
    return text[:_MAX_ERROR_TEXT]


@attrs.frozen(kw_only=True)
class WorkerHealth:
    """A snapshot of a worker's state and counters, for health checks and metrics.

    Attributes:
        worker_id: this worker's id (its ``worker.<id>`` key).
        running: whether :meth:`ClusterWorker.run` is active.
        live_workers: workers seen alive at the last rebalance (this one included).
        partitions: the ``(account_id, partition)`` pairs this worker holds.
        in_flight: handlers running right now.
        handled: records a handler took and finished.
        skipped: records no handler wanted (acked without decoding them).
        deduplicated: records skipped because the effect ledger had them.
        handler_errors: failed handler attempts.
        redelivered: records received that had been delivered before (after a NAK, a lost
            worker, a lost ack).
        dead_lettered: records moved to the dead-letter stream.
        lease_changes: partitions taken, released or lost by this worker (the sum of the
            next three).
        lease_gains: partition leases taken.
        lease_losses: partition leases lost (expired, taken over) without being given up.
        lease_releases: partition leases given up (rebalancing, stopping).
        pending: records waiting in the stream for the partitions this worker holds (as the
            server reported with the last record of each, 0 after an empty fetch).
    """

    worker_id: str
    running: bool
    live_workers: int
    partitions: tuple[tuple[str, int], ...]
    in_flight: int
    handled: int
    skipped: int
    deduplicated: int
    handler_errors: int
    redelivered: int
    dead_lettered: int
    lease_changes: int
    lease_gains: int
    lease_losses: int
    lease_releases: int
    pending: int


class _Partition:
    """A partition lease this worker holds, and the task consuming it."""

    __slots__ = ("account_id", "acked", "lease", "number", "pending", "release")

    def __init__(self, account_id: str, number: int, lease: Lease) -> None:
        self.account_id = account_id
        self.number = number
        self.lease = lease  # held; once lost (revision None) a release deletes nothing
        self.release = anyio.Event()  # stop after the record in hand
        self.pending = 0  # records after the last one fetched, as the server said
        # The stream sequence of the last record this worker acked (or the consumer's ack floor
        # when it bound): where a consumer deleted under it is recreated from.
        self.acked = 0


class ClusterWorker(Generic[ClientT]):
    """Handles the records of the accounts in ``clients``, in partitions leased from the cluster.

    Args:
        nc: a connected NATS client (``fleep_async.cluster.connect``).
        router: the handlers (the same router a single-process bot uses).
        clients: account id -> the client handlers use for that account (``ctx.client``,
            ``ctx.reply``). Records of other accounts are not touched.
        worker_id: this worker's id (default: ``<host>-<pid>-<random>``); unique per process.
        partitions: partitions per account (must match the pollers').
        concurrency: handlers running at once in this worker (across partitions).
        lease_ttl: seconds a partition lease lives without renewal (renewed every TTL/3);
            default: the ``fleep_leases`` bucket's TTL (what the server enforces).
        ack_wait: seconds a record may go unacked before it is delivered again; a running
            handler keeps it alive, so this is how soon a killed worker's record moves on.
        max_deliver: deliveries of a failing record before it is dead-lettered.
        retry_backoff: the delay before a failed record is delivered again.
        handler_timeout: seconds a handler may run (``None``: no limit), as in the engine.
        fetch_timeout: how long one pull waits for a record; also the longest a released
            partition takes to be handed over.
        shutdown_deadline: seconds :meth:`stop` lets running handlers finish.
        effects: an :class:`~fleep_async.cluster.EffectLedger`: skip records whose handler
            already succeeded somewhere in the cluster (see its docs).
    """

    def __init__(
        self,
        nc: NATS,
        router: Router,
        clients: Mapping[str, ClientT],
        *,
        worker_id: str | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        concurrency: int = 16,
        lease_ttl: float | None = None,
        ack_wait: float = DEFAULT_ACK_WAIT,
        max_deliver: int = DEFAULT_MAX_DELIVER,
        retry_backoff: RetryPolicy = DEFAULT_RETRY_BACKOFF,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        shutdown_deadline: float = 10.0,
        effects: EffectLedger | None = None,
        on_handled: Callable[[str, float], Any] | None = None,
    ) -> None:
        if not isinstance(router, Router):
            raise UsageError(f"router must be a Router, got {type(router).__name__}")
        if not clients:
            raise UsageError("a worker needs at least one account (clients is empty)")
        if partitions < 1:
            raise UsageError(f"partitions must be >= 1, got {partitions!r}")
        if concurrency < 1:
            raise UsageError(f"concurrency must be >= 1, got {concurrency!r}")
        if max_deliver < 1:
            raise UsageError(f"max_deliver must be >= 1, got {max_deliver!r}")
        for name, value in (
            ("lease_ttl", DEFAULT_LEASE_TTL if lease_ttl is None else lease_ttl),
            ("ack_wait", ack_wait),
            ("fetch_timeout", fetch_timeout),
        ):
            if not (math.isfinite(value) and value > 0):
                raise UsageError(f"{name} must be > 0, got {value!r}")
        if handler_timeout is not None and not handler_timeout > 0:
            raise UsageError(f"handler_timeout must be > 0 or None, got {handler_timeout!r}")
        if not all(isinstance(account_id, str) and account_id for account_id in clients):
            raise UsageError("clients must map account ids (non-empty strings) to clients")
        self.nc = nc
        self.router = router
        self.clients = dict(clients)
        self.worker_id = worker_id or (
            f"{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.partitions = partitions
        self.concurrency = concurrency
        self.lease_ttl = DEFAULT_LEASE_TTL if lease_ttl is None else lease_ttl
        self._lease_ttl_given = lease_ttl is not None
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.retry_backoff = retry_backoff
        self.handler_timeout = handler_timeout
        self.fetch_timeout = fetch_timeout
        self.shutdown_deadline = shutdown_deadline
        self.effects = effects
        self.on_handled = on_handled
        self._dispatcher = Dispatcher(router, handler_timeout=handler_timeout)
        self._caches = {account_id: EventCache() for account_id in self.clients}
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._held: dict[tuple[str, int], _Partition] = {}
        self._emptied = anyio.Event()
        self._running = False
        self._stop = anyio.Event()
        self._fatal: BaseException | None = None
        self._live = 1
        self._in_flight = 0
        self._handled = 0
        self._skipped = 0
        self._deduplicated = 0
        self._handler_errors = 0
        self._redelivered = 0
        self._dead_lettered = 0
        # Gains, losses and releases of the partition leases no longer held.
        self._lease_counts = [0, 0, 0]
        # Records delivered here and not yet acked or handed back (id -> message): the
        # progress loop keeps them ours while they wait for a slot or run.
        self._delivered: dict[int, Msg] = {}
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._wanted: frozenset[str] | None = None
        self._stream_created: object = None

    def __repr__(self) -> str:
        return f"ClusterWorker({self.worker_id!r}, partitions held={len(self._held)})"

    # -- public -------------------------------------------------------------------------------

    @property
    def health(self) -> WorkerHealth:
        """A frozen snapshot of the worker's state and counters."""
        counts = list(self._lease_counts)
        for part in self._held.values():
            self._add_lease_counts(counts, part.lease)
        return WorkerHealth(
            worker_id=self.worker_id,
            running=self._running,
            live_workers=self._live,
            partitions=tuple(sorted(self._held)),
            in_flight=self._in_flight,
            handled=self._handled,
            skipped=self._skipped,
            deduplicated=self._deduplicated,
            handler_errors=self._handler_errors,
            redelivered=self._redelivered,
            dead_lettered=self._dead_lettered,
            lease_changes=sum(counts),
            lease_gains=counts[0],
            lease_losses=counts[1],
            lease_releases=counts[2],
            pending=sum(part.pending for part in self._held.values()),
        )

    @staticmethod
    def _add_lease_counts(counts: list[int], lease: Lease) -> None:
        counts[0] += lease.gains
        counts[1] += lease.losses
        counts[2] += lease.releases

    def stop(self) -> None:
        """Ask :meth:`run` to stop: no new record starts, running handlers get
        ``shutdown_deadline`` seconds, leases are released. Returns at once."""
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Join the cluster and handle records until :meth:`stop` or cancellation.

        With ``await task_group.start(worker.run)``, returns once the worker is registered.

        Raises:
            ClusterError: the event stream (or the leases bucket) is missing or was deleted
                while running; nothing was acked that was not handled.
            UsageError: already running.
        """
        # nats-py is imported where it is used: fleep_async.cluster imports without it.
        import nats.js.errors

        if self._running:
            raise UsageError("the worker is already running")
        self._running = True
        self._stop = anyio.Event()
        self._fatal = None
        js = self.nc.jetstream()
        self._js = js
        try:
            try:
                self._stream_created = (await js.stream_info(EVENTS_STREAM)).created
                self._kv = await js.key_value(LEASES_BUCKET)
                if not self._lease_ttl_given:
                    ttl = (await self._kv.status()).ttl
                    if ttl:
                        self.lease_ttl = ttl
            except nats.js.errors.NotFoundError as exc:
                raise ClusterError(
                    f"the cluster is not set up: {exc.description or exc} (start a "
                    "`fleep-async cluster poller` first, or call ensure_stream/ensure_buckets)"
                ) from exc
            self._dispatcher.prepare()
            self._wanted = self.router.wanted_kinds()
            await self._register()
            logger.info(
                "worker %s joined: %d account(s), %d partitions each, concurrency %d",
                self.worker_id,
                len(self.clients),
                self.partitions,
                self.concurrency,
            )
            task_status.started()
            async with anyio.create_task_group() as consumers:
                consumers.start_soon(self._keep_alive, name="fleep-worker-progress")
                await self._balance_loop(consumers)
                # Stopping: every partition hands over after the record in hand (running
                # handlers get shutdown_deadline; then they are cancelled and their records
                # handed back at once).
                for part in list(self._held.values()):
                    part.release.set()
                with anyio.move_on_after(self.shutdown_deadline + self.fetch_timeout):
                    while self._held:
                        self._emptied = anyio.Event()
                        await self._emptied.wait()
                consumers.cancel_scope.cancel()
            if self._fatal is not None:
                raise self._fatal
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._leave()
            self._running = False
            self._held.clear()

    # -- membership and leases ----------------------------------------------------------------

    def _lease(self, key: str) -> Lease:
        assert self._kv is not None
        return Lease(self._kv, key, self.worker_id, ttl=self.lease_ttl)

    async def _register(self) -> None:
        """Keep ``worker.<id>`` alive (a heartbeat: its TTL removes a dead worker's key).

        Not a lease: nothing is exclusive about it, and a worker restarted under the same id
        within the TTL must be able to write it at once.
        """
        assert self._kv is not None
        value = {"holder": self.worker_id, "host": socket.gethostname(), "pid": os.getpid()}
        await self._kv.put(worker_key(self.worker_id), orjson.dumps(value))

    async def _leave(self) -> None:
        while self._held:
            _unit, part = self._held.popitem()
            await self._release(part)
            self._add_lease_counts(self._lease_counts, part.lease)
        if self._kv is not None:
            try:
                await self._kv.delete(worker_key(self.worker_id))
            except Exception as exc:  # leaving is best effort: the key expires anyway
                logger.debug("could not remove worker key: %s", exc)
        logger.info("worker %s left", self.worker_id)

    async def _release(self, part: _Partition) -> None:
        """Give the partition's lease up (nothing if it was lost), and count its changes."""
        import nats.errors

        try:
            await part.lease.release()
        except (TimeoutError, nats.errors.Error, OSError) as exc:  # it expires anyway
            logger.debug("could not release %s: %s", part.lease.key, exc)

    def _units(self) -> list[tuple[str, int]]:
        return [(a, p) for a in sorted(self.clients) for p in range(self.partitions)]

    def _preference(self, unit: tuple[str, int]) -> bytes:
        """Rendezvous hashing: each worker ranks the partitions its own way, stably."""
        seed = f"{self.worker_id}|{unit[0]}|{unit[1]}".encode()
        return hashlib.blake2b(seed, digest_size=8).digest()

    async def _balance_loop(self, consumers: anyio.abc.TaskGroup) -> None:
        import nats.errors
        import nats.js.errors

        interval = self.lease_ttl / 3
        while not self._stop.is_set():
            try:
                await self._balance(consumers)
            except ClusterError as exc:
                self._fatal = exc
                return
            except (nats.errors.Error, OSError) as exc:
                # NATS unreachable or a node failing over: the client reconnects; try again.
                logger.warning("worker %s: rebalance failed: %s", self.worker_id, exc)
            if self._fatal is not None:
                return
            with anyio.move_on_after(interval):
                await self._stop.wait()

    async def _balance(self, consumers: anyio.abc.TaskGroup) -> None:

        kv = self._kv
        assert kv is not None
        await self._register()
        # Renew what we hold: a lost compare-and-set means someone else holds it now.
        for part in list(self._held.values()):
            if part.release.is_set():
                continue
            if not await part.lease.renew():  # lost, logged by the lease
                part.release.set()
        js = self._js
        assert js is not None
        keys = await bucket_keys(js, LEASES_BUCKET)
        live = sum(1 for key in keys if key.startswith("worker."))
        self._live = max(live, 1)
        taken = {key for key in keys if key.startswith("partition.")}
        units = self._units()
        quota = math.ceil(len(units) / self._live)
        mine = [unit for unit, part in self._held.items() if not part.release.is_set()]
        if len(mine) > quota:
            # Give back the ones we like least; the newcomers take them.
            mine.sort(key=self._preference)
            for unit in mine[quota:]:
                logger.info("worker %s releases %s (rebalancing)", self.worker_id, unit)
                self._held[unit].release.set()  # the lease goes when the record in hand is done
            return
        want = quota - len(mine)
        if want <= 0:
            return
        free = [u for u in units if u not in self._held and partition_lease_key(*u) not in taken]
        free.sort(key=self._preference)
        for unit in free[:want]:
            lease = self._lease(partition_lease_key(*unit))
            if not await lease.try_acquire():  # another worker was quicker
                continue
            part = _Partition(unit[0], unit[1], lease)
            self._held[unit] = part
            consumers.start_soon(self._consume, part, name=f"fleep-partition-{unit[1]}")

    # -- consuming ----------------------------------------------------------------------------

    def _consumer_config(self, part: _Partition) -> ConsumerConfig:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        return ConsumerConfig(
            durable_name=consumer_name(part.account_id, part.number),
            filter_subject=partition_filter(part.account_id, part.number),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # Unlimited on the server: the worker itself dead-letters after max_deliver, so a
            # record whose workers keep dying is never silently dropped by the server.
            max_deliver=-1,
            max_ack_pending=1,
        )

    async def _consume(self, part: _Partition) -> None:
        import nats.errors
        import nats.js.errors

        js = self._js
        assert js is not None
        unit = (part.account_id, part.number)
        sub: Any = None
        failures = 0
        try:
            while not part.release.is_set():
                try:
                    if sub is None:
                        sub = await self._bind(part)
                    try:
                        msgs = await sub.fetch(1, timeout=self.fetch_timeout)
                    except nats.errors.TimeoutError:
                        part.pending = 0
                        continue
                except (nats.errors.Error, OSError) as exc:
                    if await self._stream_gone(exc):
                        return
                    failures += 1
                    # A new consumer's first pulls may find no leader yet (503), a node may
                    # be failing over: say so only when it lasts.
                    logger.log(
                        logging.WARNING if failures >= 3 else logging.DEBUG,
                        "worker %s: fetching %s failed (%d in a row): %s",
                        self.worker_id,
                        unit,
                        failures,
                        exc,
                    )
                    await self._drop(sub)
                    sub = None
                    with anyio.move_on_after(min(1.0, self.fetch_timeout)):
                        await part.release.wait()
                    continue
                failures = 0
                for msg in msgs:
                    await self._settle(part, msg)
        finally:
            with anyio.CancelScope(shield=True):
                await self._drop(sub)
                if self._held.get(unit) is part:
                    del self._held[unit]
                    await self._release(part)
                    self._add_lease_counts(self._lease_counts, part.lease)
                if not self._held:
                    self._emptied.set()

    async def _bind(self, part: _Partition) -> Any:
        """Subscribe to the partition's consumer; create it where this worker knows it was.

        A consumer that exists keeps its start (the server refuses to change it) and tells its
        ack floor. One that does not (new, or deleted under a running worker: an operator's
        ``nats consumer rm``) starts after the last record this worker knows was acked, so
        handlers do not see what they already handled again; with nothing known, from the
        stream's start.
        """
        import nats.js.errors
        from nats.js.api import DeliverPolicy

        js = self._js
        assert js is not None
        name = consumer_name(part.account_id, part.number)
        config = self._consumer_config(part)
        try:
            info = await js.consumer_info(EVENTS_STREAM, name)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None:
            config.deliver_policy = info.config.deliver_policy
            config.opt_start_seq = info.config.opt_start_seq
            if info.ack_floor is not None:
                part.acked = max(part.acked, info.ack_floor.stream_seq or 0)
        elif part.acked:
            stream = await js.stream_info(EVENTS_STREAM)
            if stream.created != self._stream_created:
                # Another stream under the same name: its sequences are not the ones we know.
                part.acked = 0
            else:
                config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = part.acked + 1
                logger.warning(
                    "worker %s: the consumer %s was gone; recreated after stream sequence %d, "
                    "the last record it acked",
                    self.worker_id,
                    name,
                    part.acked,
                )
        await js.add_consumer(EVENTS_STREAM, config)
        return await js.pull_subscribe_bind(name, EVENTS_STREAM)

    @staticmethod
    async def _drop(sub: Any) -> None:
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may be gone; nothing to free then
                logger.debug("unsubscribe failed: %s", exc)

    async def _stream_gone(self, exc: BaseException) -> bool:
        """Whether the events stream is gone (then the worker stops with a ClusterError)."""
        import nats.errors
        import nats.js.errors

        js = self._js
        assert js is not None
        code = getattr(exc, "err_code", None)
        if code not in (_STREAM_NOT_FOUND, _CONSUMER_NOT_FOUND) and not isinstance(
            exc, nats.js.errors.ServiceUnavailableError | nats.js.errors.NotFoundError
        ):
            return False
        try:
            await js.stream_info(EVENTS_STREAM)
        except nats.js.errors.NotFoundError:
            if self._fatal is None:
                self._fatal = ClusterError(
                    f"the stream {EVENTS_STREAM} was deleted while the worker ran; records "
                    "not acked were not handled (recreate it and re-publish from the pollers)"
                )
                logger.error("worker %s: %s", self.worker_id, self._fatal)
                self._stop.set()
            return True
        except Exception:  # unreachable just now: not proof that the stream is gone
            return False
        return False

    async def _settle(self, part: _Partition, msg: Msg) -> None:
        """One delivered record, kept alive by the progress loop until it is settled."""
        key = id(msg)
        self._delivered[key] = msg
        try:
            await self._handle(part, msg)
        except anyio.get_cancelled_exc_class():
            # Stopping past the deadline: hand the record back now, not after ack_wait (a
            # record already acked refuses the NAK, which is then only logged).
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                try:
                    await msg.nak()
                except Exception as exc:
                    logger.debug("NAK on cancellation failed: %s", exc)
            raise
        finally:
            del self._delivered[key]

    async def _handle(self, part: _Partition, msg: Msg) -> None:
        """One record: decode, dispatch, then ack / NAK / dead-letter."""
        metadata = msg.metadata
        part.pending = metadata.num_pending or 0
        deliveries = metadata.num_delivered or 1
        if deliveries > 1:
            self._redelivered += 1
        account_id = part.account_id
        try:
            raw = orjson.loads(msg.data)
            if not isinstance(raw, dict):
                raise DecodeError("the record is not a JSON object")
        except (orjson.JSONDecodeError, DecodeError) as exc:
            error = exc if isinstance(exc, DecodeError) else DecodeError(f"bad JSON: {exc}")
            await self._dead_letter(part, msg, error, deliveries)
            return
        kind = raw.get("mk_rec_type")
        kind = kind if isinstance(kind, str) else "?"
        if kind in ("conv", "contact"):
            self._caches[account_id].merge_raw(kind, raw)
        if self._wanted is not None and kind not in self._wanted:
            self._skipped += 1
            await self._ack(part, msg)
            return
        if deliveries > self.max_deliver:
            # Delivered again and again without a verdict: the workers handling it died.
            await self._dead_letter(
                part,
                msg,
                ClusterError(
                    f"delivered {deliveries} times without finishing (a worker stopped while "
                    "handling it)"
                ),
                deliveries,
            )
            return
        try:
            record = parse_record(raw)
        except DecodeError as exc:
            await self._dead_letter(part, msg, exc, deliveries)
            return
        identity = Deduplicator.key(raw)[0]
        effects = self.effects
        if effects is not None:
            try:
                done = await effects.done(account_id, identity)
            except Exception as exc:
                # Unknown: hand it back rather than risk the effect twice or not at all.
                logger.warning("the effect ledger cannot be read (retrying the record): %s", exc)
                await self._nak(msg, 1.0)
                return
            if done:
                self._deduplicated += 1
                await self._ack(part, msg)
                return
        client = self.clients[account_id]
        conversation_id = raw.get("conversation_id")
        ctx: Context[ClientT] = Context(
            client=client,
            record=record,
            kind=kind,
            conversation_id=conversation_id if isinstance(conversation_id, str) else None,
            own_account_id=client.account_id or account_id,
            cache=self._caches[account_id],
            identity=identity,
            raw=raw,
            attempt=deliveries,
        )
        failure: Exception | None = None
        started = time.perf_counter()
        result: Any = UNHANDLED
        async with self._limiter:
            self._in_flight += 1
            try:
                result = await self._dispatcher.feed(record, ctx)
            except Exception as exc:
                failure = exc
            finally:
                self._in_flight -= 1
        if failure is None:
            if result is UNHANDLED:
                self._skipped += 1
            else:
                if effects is not None:
                    try:
                        await effects.mark(account_id, identity)
                    except Exception as exc:  # the effect happened: ack it all the same
                        logger.warning("could not mark the record in the effect ledger: %s", exc)
                self._handled += 1
                if self.on_handled is not None:
                    self.on_handled(kind, time.perf_counter() - started)
            await self._ack(part, msg)
            return
        await self._failed(part, msg, ctx, failure, deliveries)

    async def _keep_alive(self) -> None:
        """Tell the server every record delivered here and not yet settled is being worked on.

        One loop for the whole worker rather than a task per record: a task started and
        cancelled per record was a large share of the worker's CPU per record. A record waiting
        for a handler slot is kept too: the partition is this worker's, and a redelivery while
        it waits would only mean handling it twice.
        """
        while True:
            await anyio.sleep(self.ack_wait / 3)
            for msg in list(self._delivered.values()):
                try:
                    await msg.in_progress()
                except Exception as exc:  # a reconnect: the next note may get through
                    logger.debug("in-progress note failed: %s", exc)

    async def _failed(
        self, part: _Partition, msg: Msg, ctx: Context[Any], failure: Exception, deliveries: int
    ) -> None:
        self._handler_errors += 1
        will_retry = deliveries < self.max_deliver
        handler = ctx.handler
        logger.error(
            "handler %s failed on a %s record (delivery %d of %d)%s",
            handler.name if handler is not None else "(middleware)",
            ctx.kind,
            deliveries,
            self.max_deliver,
            "" if will_retry else "; dead-lettering it",
            exc_info=failure,
        )
        event = ErrorEvent(
            record=ctx.record, exception=failure, attempt=deliveries, will_retry=will_retry
        )
        try:
            await self._dispatcher.notify_error(event, ctx)
        except Exception:
            logger.exception("an error handler failed")
        if will_retry:
            await self._nak(msg, self.retry_backoff.delay(deliveries))
            return
        await self._dead_letter(part, msg, failure, deliveries)

    async def _dead_letter(
        self, part: _Partition, msg: Msg, error: BaseException, deliveries: int
    ) -> None:
        """Publish the record to the dead-letter stream, then ack it (in that order)."""
        js = self._js
        assert js is not None
        headers = {
            HEADER_ERROR: _error_text(error),
            HEADER_DELIVERIES: str(deliveries),
            HEADER_ORIGINAL_SUBJECT: msg.subject,
            HEADER_ACCOUNT: part.account_id,
        }
        msg_id = (msg.headers or {}).get(HEADER_MSG_ID)
        if msg_id:
            headers[HEADER_MSG_ID] = msg_id
        try:
            await js.publish(
                dead_subject(part.account_id, part.number),
                msg.data,
                stream=DEAD_STREAM,
                headers=headers,
            )
        except Exception as exc:
            # Not acked: the record comes back and is dead-lettered then.
            logger.error("could not dead-letter a record (it will come back): %s", exc)
            return
        self._dead_lettered += 1
        logger.error(
            "a record of %s partition %d went to %s after %d deliveries: %s",
            part.account_id,
            part.number,
            DEAD_STREAM,
            deliveries,
            headers[HEADER_ERROR],
        )
        await self._ack(part, msg)

    @staticmethod
    async def _nak(msg: Msg, delay: float) -> None:
        try:
            await msg.nak(delay=delay)
        except Exception as exc:  # not acked either way: ack_wait redelivers it
            logger.warning("NAK failed (the record comes back after ack_wait): %s", exc)

    async def _ack(self, part: _Partition, msg: Msg) -> None:
        # Not ack_sync: the partition's next pull follows on the same connection, and the
        # server hands out the next record only once this ack is processed
        # (max_ack_pending=1), so waiting for the reply would only add a round trip per record.
        # An ack lost with a connection means a redelivery after ack_wait: handled twice, which
        # replies (their client_req_id) and the effect ledger absorb.
        try:
            await msg.ack()
        except Exception as exc:
            logger.warning("ack failed (the record will be delivered again): %s", exc)
            return
        part.acked = max(part.acked, msg.metadata.sequence.stream)
