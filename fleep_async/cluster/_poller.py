"""The cluster poller: one active poller per account, publish every record, then commit.

Per account, any number of replicas (in this process or others) run the same loop:

1. **Lease.** Take ``poller.<account>`` in ``fleep_leases`` (create-if-absent); renew it every
   third of its TTL by a CAS on its revision. Whoever does not hold it waits and retries.
2. **Claim.** Re-write the account's checkpoint in ``fleep_checkpoints`` by a CAS
   (:meth:`JetStreamHorizonStore.claim`): from now on a paused predecessor's commits fail.
3. **Poll** ``account/poll`` with the engine's :class:`~fleep_async.events.Poller` (pacing,
   backoff, rewinds, resyncs), from the checkpoint's horizon (or, without one, from the current
   horizon: the backlog is skipped, as the engine does, and the starting point is saved first).
4. **Publish** every record of the answer to ``fleep.events.<account>.<partition>.<kind>`` with
   ``Nats-Msg-Id`` = ``<account>:<idempotency key>`` and wait for every acknowledgement. Within
   a partition records are published one after another (a retried record can never land after
   a later one of its conversation); partitions go in parallel. A failed publish (a full
   stream, a NATS node down, a leader election) is retried with backoff while the lease is
   valid: nothing is dropped, and polling waits meanwhile.
5. **Commit** the horizon (with the per-conversation positions a resync needs) by a CAS on the
   checkpoint's revision. A lost CAS (:class:`~fleep_async.errors.FencedError`) means a
   successor took over: this replica drops the lease and goes back to step 1.

Before every publish and every commit the replica checks that its lease is still valid by its
own monotonic clock (renewed within the TTL): a process that was paused past the TTL stops
before it sends anything. A resync (horizon 0) follows the engine's rules
(:mod:`fleep_async.events._resync`): messages at or below the published positions are not
published again, the gaps the sync leaves are fetched with ``conversation/sync`` first.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import orjson

from fleep_async._retry import RetryPolicy
from fleep_async.cluster._lease import Lease, process_id
from fleep_async.cluster._nats import (
    DEFAULT_PARTITIONS,
    HEADER_ACCOUNT,
    HEADER_HORIZON,
    HEADER_MSG_ID,
    HEADER_PUBLISHER,
    LEASES_BUCKET,
    Buckets,
    bucket_keys,
    event_subject,
    message_id,
    poller_lease_key,
    poller_member_key,
    record_partition,
)
from fleep_async.cluster._store import JetStreamHorizonStore
from fleep_async.errors import FencedError, UsageError
from fleep_async.events._dedup import message_position
from fleep_async.events._poller import DEFAULT_POLL_BACKOFF, PollBatch, Poller
from fleep_async.events._positions import Positions
from fleep_async.events._resync import backfill, beyond_positions
from fleep_async.events._store import Checkpoint
from fleep_async.events._types import Backlog, Requester

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

__all__ = ["AccountPoller", "ClusterPoller"]

logger = logging.getLogger("fleep_async.cluster")

_PUBLISH_BACKOFF: Final = RetryPolicy(base_delay=0.05, max_delay=2.0)
_MAX_CONVERSATIONS: Final = 10_000


class _LeaseLost(Exception):
    """Internal: the replica may no longer act (lease expired or lost, or fenced)."""


class _HandOver(Exception):
    """Internal: this replica holds more than its share of accounts: release this one."""


def _always() -> bool:
    return True


def _never() -> bool:
    return False


class AccountPoller:
    """The poll-publish-commit loop of one account (one replica of it).

    Usually made by :class:`ClusterPoller`; usable alone.

    Args:
        js: the JetStream context.
        buckets: the tier's buckets (:func:`~fleep_async.cluster.ensure_buckets`).
        requester: a started client of the account (:class:`~fleep_async.FleepClient`).
        holder: this process's id in the lease (:func:`~fleep_async.cluster.process_id`).
        partitions: P, the number of partitions (the same for every process of the tier).
        backlog: without a checkpoint, ``"skip"`` (or ``"resume"``) starts at the current
            horizon; ``"full"`` publishes a full initial sync.
        min_poll_interval: the least time between two polls that bring nothing.
        publish_timeout: seconds to wait for one acknowledgement before retrying it.
    """

    def __init__(
        self,
        js: JetStreamContext,
        buckets: Buckets,
        requester: Requester,
        *,
        holder: str,
        partitions: int = DEFAULT_PARTITIONS,
        backlog: Backlog = "resume",
        min_poll_interval: float = 0.5,
        poll_timeout: float | None = 300.0,
        publish_timeout: float = 5.0,
    ) -> None:
        account_id = requester.account_id
        if account_id is None:
            raise UsageError("start (log in) the client before giving it to the cluster poller")
        if partitions < 1:
            raise UsageError("partitions must be >= 1")
        self.js = js
        self.buckets = buckets
        self.requester = requester
        self.account_id = account_id
        self.partitions = partitions
        self.backlog = backlog
        self.min_poll_interval = min_poll_interval
        self.poll_timeout = poll_timeout
        self.publish_timeout = publish_timeout
        self.lease = Lease(
            buckets.leases,
            poller_lease_key(account_id),
            holder,
            ttl=buckets.lease_ttl,
            details=self._progress,
        )
        self.store = JetStreamHorizonStore(buckets.checkpoints, account_id)
        self.positions = Positions(_MAX_CONVERSATIONS)
        self.published = 0
        """Records acknowledged by the stream (repeats stored once included)."""
        self.duplicates = 0
        """Of those, the ones the stream already had (a re-publish after a failover)."""
        self.commits = 0
        self.horizon: int | None = None
        """The last committed horizon."""
        self.polled_at: float | None = None
        """When the last poll completed while active (``time.monotonic()``), or ``None``."""
        self.published_at: float | None = None
        """When the stream acknowledged the newest record (``time.monotonic()``), or ``None``."""
        self.publish_pending = 0
        """Records of the answer in hand not acknowledged by the stream yet."""
        self.publish_failures = 0
        """Publish attempts that failed and were retried (a full stream, a node down)."""
        self.on_published: Callable[[float], Any] | None = None
        """Called with the seconds each publish took until its acknowledgement (metrics)."""
        self.active = False
        self.state = "idle"
        self.may_take: Callable[[], bool] = _always
        """Whether this replica may take one more account (set by :class:`ClusterPoller`)."""
        self.must_shed: Callable[[], bool] = _never
        """Whether this replica must give this account up (set by :class:`ClusterPoller`)."""

    def __repr__(self) -> str:
        return f"AccountPoller({self.account_id!r}, {self.state}, horizon={self.horizon})"

    def _progress(self) -> dict[str, Any]:
        """What the lease value tells ``cluster status``: wall-clock times of the last completed
        poll and of the newest acknowledged record, and the committed horizon."""
        now, wall = time.monotonic(), time.time()
        progress: dict[str, Any] = {"horizon": self.horizon}
        if self.polled_at is not None:
            progress["polled"] = wall - (now - self.polled_at)
        if self.published_at is not None:
            progress["published"] = wall - (now - self.published_at)
        return progress

    async def run(self) -> None:
        """Wait for the lease, poll while holding it, wait again when it is lost; forever.

        Raises:
            AuthenticationError: the account's session is gone and cannot be renewed.
            FleepAPIError: the server refused the poll for good (not retried).
        """
        announced: str | None = None
        while True:
            self.state = "standby"
            if not self.may_take():
                # At its share of the accounts: leave this one to a replica with room (it is
                # taken here again when the share grows, i.e. when a replica goes away).
                await anyio.sleep(self.lease.renew_interval)
                continue
            try:
                acquired = await self.lease.try_acquire()
            except (TimeoutError, _nats_error()) as exc:
                logger.warning("lease %s: NATS failed (%s); retrying", self.lease.key, exc)
                acquired = False
            if not acquired:
                holder = await self._holder_or_none()
                if holder != announced:
                    logger.info(
                        "account %s: standby in %s, the poller lease is held by %s",
                        self.account_id,
                        self.lease.holder,
                        holder,
                    )
                    announced = holder
                await anyio.sleep(self.lease.renew_interval)
                continue
            announced = None
            try:
                nats_failed = await self._hold()
            finally:
                self.active = False
                self.publish_pending = 0  # an answer dropped with the lease: the successor's now
            if nats_failed:
                # The lease was given back; a replica (or this process, once NATS answers
                # again) resumes from the last commit. Not at once: NATS may still be down.
                await anyio.sleep(self.lease.renew_interval)

    async def _holder_or_none(self) -> str | None:
        try:
            return await self.lease.current_holder()
        except (TimeoutError, _nats_error()):
            return None

    async def _hold(self) -> bool:
        """Run the active loop while the lease is renewed; return when it is lost.

        Returns whether it ended on a NATS failure (a node down, a request timed out, a write
        refused): the poller stands by and tries again, it does not stop.
        """
        nats_failed = False
        try:
            async with anyio.create_task_group() as tg:

                async def keep() -> None:
                    await self._keep_lease()
                    tg.cancel_scope.cancel()

                tg.start_soon(keep)
                try:
                    await self._active()
                except _LeaseLost as exc:
                    self.lease.lost(str(exc))
                except _HandOver:
                    logger.info(
                        "account %s: %s holds more than its share of accounts; handing it over",
                        self.account_id,
                        self.lease.holder,
                    )
                except FencedError as exc:
                    self.lease.lost(f"fenced: {exc}")
                except (TimeoutError, _nats_error()) as exc:
                    # A claim, a commit or a publish past its retries failed. What was
                    # committed stands; what was not is polled again by whoever holds next.
                    logger.warning(
                        "account %s: NATS failed while %s was active (%s: %s); standing by",
                        self.account_id,
                        self.lease.holder,
                        type(exc).__name__,
                        exc,
                    )
                    nats_failed = True
                tg.cancel_scope.cancel()
        finally:
            if self.lease.revision is not None:
                # Ended by an error or a cancellation (shutdown): give the lease back, so a
                # standby takes over now rather than after the TTL.
                with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                    await self.lease.release()
        return nats_failed

    async def _keep_lease(self) -> None:
        while True:
            await anyio.sleep(self.lease.renew_interval)
            try:
                if not await self.lease.renew():
                    return
            except (TimeoutError, _nats_error()) as exc:
                if not self.lease.valid():
                    self.lease.lost(f"renewal failed past the TTL: {exc}")
                    return
                logger.warning("lease %s: renewal failed (%s); retrying", self.lease.key, exc)

    def _check_lease(self) -> None:
        if not self.lease.valid():
            raise _LeaseLost("not renewed within its TTL")

    async def _active(self) -> None:
        self.state = "claiming"
        checkpoint = await self.store.claim()
        self._check_lease()
        self.active = True
        if checkpoint is not None and checkpoint.account_id not in (None, self.account_id):
            raise UsageError(f"checkpoint {self.account_id!r} holds another account's horizon")
        poller = Poller(
            self.requester,
            backoff=DEFAULT_POLL_BACKOFF,
            min_interval=self.min_poll_interval,
            poll_timeout=self.poll_timeout,
            sleep=anyio.sleep,
            clock=time.monotonic,
        )
        self.positions = Positions(_MAX_CONVERSATIONS)
        if checkpoint is not None and checkpoint.positions:
            self.positions.update_many(checkpoint.positions)
        stored = checkpoint.horizon if checkpoint is not None else None
        if stored is not None and stored > 0 and self.backlog != "full":
            poller.horizon = stored
            self.horizon = stored
            logger.info(
                "account %s: %s polls from the committed horizon %d",
                self.account_id,
                self.lease.holder,
                stored,
            )
        elif self.backlog == "full":
            poller.horizon = 0
        else:
            captured = await poller.conversation_positions()
            if captured:
                self.positions.update_many(captured)
            current = await poller.current_horizon()
            poller.horizon = current
            if current > 0:
                await self._commit(current)
            logger.info(
                "account %s: no checkpoint; %s starts at the current horizon %d",
                self.account_id,
                self.lease.holder,
                current,
            )
        backfill_due = False
        while True:
            if self.must_shed():
                raise _HandOver  # between two commits: the successor resumes from this one
            self.state = "polling"
            batch = await poller.poll()  # transient failures retried inside; fatal ones end run()
            self.polled_at = time.monotonic()
            self._check_lease()
            if batch.resync:
                backfill_due = True
            stream: Sequence[dict[str, Any]] = batch.stream
            if backfill_due and batch.syncing:
                stream = beyond_positions(stream, self.positions)

                async def publish_page(
                    page: Sequence[dict[str, Any]], b: PollBatch = batch
                ) -> None:
                    await self._publish(page, b.horizon)

                await backfill(poller, self.positions, stream, publish_page)
            await self._publish(stream, batch.horizon)
            if batch.horizon > 0:
                backfill_due = False
                if batch.horizon != self.horizon or batch.stream:
                    await self._commit(batch.horizon)

    async def _commit(self, horizon: int) -> None:
        self._check_lease()
        self.state = "committing"
        await self.store.save(
            Checkpoint(
                horizon=horizon,
                account_id=self.account_id,
                positions=self.positions.as_dict(),
            )
        )
        self.horizon = horizon
        self.commits += 1

    async def _publish(self, records: Sequence[dict[str, Any]], horizon: int) -> None:
        """Publish ``records`` and wait for every acknowledgement (order kept per partition)."""
        if not records:
            return
        self.state = "publishing"
        self.publish_pending = len(records)
        lanes: dict[int, list[dict[str, Any]]] = {}
        for raw in records:
            lanes.setdefault(record_partition(raw, self.partitions), []).append(raw)
        async with anyio.create_task_group() as tg:
            for partition, lane in lanes.items():
                tg.start_soon(self._publish_lane, partition, lane, horizon)
        page_positions: dict[str, int] = {}
        for raw in records:
            found = message_position(raw)
            if found is not None and found[1] > page_positions.get(found[0], -1):
                page_positions[found[0]] = found[1]
        if page_positions:
            self.positions.update_many(page_positions)

    async def _publish_lane(
        self, partition: int, records: Sequence[dict[str, Any]], horizon: int
    ) -> None:
        import nats.js.errors

        for raw in records:
            kind = raw.get("mk_rec_type")
            subject = event_subject(
                self.account_id, partition, kind if isinstance(kind, str) else "unknown"
            )
            headers = {
                HEADER_MSG_ID: message_id(self.account_id, raw),
                HEADER_ACCOUNT: self.account_id,
                HEADER_HORIZON: str(horizon),
                HEADER_PUBLISHER: self.lease.holder,
            }
            payload = orjson.dumps(raw)
            attempt = 0
            while True:
                self._check_lease()
                started = time.monotonic()
                try:
                    ack = await self.js.publish(
                        subject, payload, timeout=self.publish_timeout, headers=headers
                    )
                except (TimeoutError, _nats_error()) as exc:
                    attempt += 1
                    self.publish_failures += 1
                    full = isinstance(exc, nats.js.errors.APIError) and _is_full(exc)
                    delay = _PUBLISH_BACKOFF.delay(attempt)
                    log = (
                        logger.warning if attempt in (1, 10) or attempt % 100 == 0 else logger.debug
                    )
                    log(
                        "account %s: publish to %s failed (%s, attempt %d)%s; retrying in %.2fs",
                        self.account_id,
                        subject,
                        exc,
                        attempt,
                        ": the stream is full, polling waits" if full else "",
                        delay,
                    )
                    await anyio.sleep(delay)
                    continue
                break
            self.published_at = done = time.monotonic()
            self.publish_pending -= 1
            self.published += 1
            if ack.duplicate:
                self.duplicates += 1
            if self.on_published is not None:
                self.on_published(done - started)


def _nats_error() -> type[Exception]:
    import nats.errors

    return nats.errors.Error


def _is_full(exc: Any) -> bool:
    description = str(getattr(exc, "description", "") or "").lower()
    return "maximum" in description or "insufficient" in description


class ClusterPoller:
    """Polls many accounts and publishes their records to JetStream, one active replica each.

    Run the same ``ClusterPoller`` (same accounts) in two or more processes: for every account
    one holds the lease and polls, the others stand by and take over within the lease TTL.

    Args:
        js: the JetStream context (``nc.jetstream()``).
        buckets: the tier's buckets (:func:`~fleep_async.cluster.ensure_buckets`).
        clients: started clients, one per account.
        holder: this process's id (default :func:`~fleep_async.cluster.process_id`).
        **options: :class:`AccountPoller` options (``partitions``, ``backlog``, ...).
    """

    def __init__(
        self,
        js: JetStreamContext,
        buckets: Buckets,
        clients: Sequence[Requester],
        *,
        holder: str | None = None,
        **options: Any,
    ) -> None:
        self.holder = holder or process_id()
        self._js = js
        self.buckets = buckets
        self.accounts: dict[str, AccountPoller] = {}
        for client in clients:
            poller = AccountPoller(js, buckets, client, holder=self.holder, **options)
            if poller.account_id in self.accounts:
                raise UsageError(f"account {poller.account_id} given twice")
            poller.may_take = self._may_take
            poller.must_shed = partial(self._must_shed, poller.account_id)
            self.accounts[poller.account_id] = poller
        self.member = Lease(
            buckets.leases, poller_member_key(self.holder), self.holder, ttl=buckets.lease_ttl
        )
        self.members = 1
        """Poller processes alive (their ``member.poller.<id>`` keys), this one included."""

    def fair_share(self) -> int:
        """How many accounts this replica may hold: ceil(accounts / live poller processes)."""
        return math.ceil(len(self.accounts) / max(1, self.members))

    def _active_ids(self) -> list[str]:
        return sorted(a for a, p in self.accounts.items() if p.active)

    def _may_take(self) -> bool:
        return len(self._active_ids()) < self.fair_share()

    def _must_shed(self, account_id: str) -> bool:
        active = self._active_ids()
        excess = len(active) - self.fair_share()
        # The same `excess` accounts are chosen by every caller: no more are released.
        return excess > 0 and account_id in active[-excess:]

    async def _membership(self) -> None:
        """Keep this process's member key alive and count the live poller processes."""
        while True:
            try:
                if not self.member.valid():
                    await self.member.try_acquire()
                else:
                    await self.member.renew()
                members = await bucket_keys(self._js, LEASES_BUCKET, "member.poller.>")
                self.members = max(1, len(members))
            except (TimeoutError, _nats_error()) as exc:
                logger.warning("poller membership: NATS failed (%s); retrying", exc)
            await anyio.sleep(self.member.renew_interval)

    def __repr__(self) -> str:
        active = sum(p.active for p in self.accounts.values())
        return f"ClusterPoller({self.holder!r}, {active}/{len(self.accounts)} active)"

    def status(self) -> Mapping[str, str]:
        """Per account, this replica's state (``standby``, ``polling``, ``publishing`` ...)."""
        return {account: poller.state for account, poller in self.accounts.items()}

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every account's loop until cancelled (or one fails for good).

        Raises:
            AuthenticationError: an account's session is gone (the others stop too: a
                supervisor restarts the process once the operator fixed it).
        """
        logger.info("cluster poller %s: %d accounts", self.holder, len(self.accounts))
        try:
            async with anyio.create_task_group() as tg:
                if len(self.accounts) > 1:
                    # Balance matters only with several accounts: count the replicas.
                    tg.start_soon(self._membership)
                for poller in self.accounts.values():
                    tg.start_soon(poller.run)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await self.member.release()
