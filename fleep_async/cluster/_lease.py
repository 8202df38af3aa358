"""A lease on one key of the ``fleep_leases`` KV bucket: one holder at a time, with a TTL.

- **Acquire**: create-if-absent (the server refuses a create when the key exists).
- **Renew**: a compare-and-set on the revision the holder last wrote; each renewal gives a new
  revision. A holder whose renewal loses the CAS (or whose key expired) has lost the lease.
- **TTL**: the bucket's ``max_age``: a key not rewritten within it disappears, server-side, and a
  replica's create then succeeds. The holder itself counts the lease valid only until
  ``ttl`` after the *start* of its last successful renewal (a monotonic clock): a process paused
  past that (a GC pause, SIGSTOP, a partition) knows on waking that it may no longer act, before
  any request tells it so.
- **Release**: a conditional delete on the holder's revision, so a successor starts at once.

The fence against a holder that does not know yet that it lost is elsewhere: every checkpoint
write is a CAS (:class:`~fleep_async.cluster.JetStreamHorizonStore`). Every change of holder is
logged with who holds what.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

__all__ = ["Lease", "process_id"]

logger = logging.getLogger("fleep_async.cluster")


def process_id() -> str:
    """A readable id for this process: ``host:pid:random`` (unique across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    """One lease key, held (or wanted) by this process.

    Args:
        kv: the ``fleep_leases`` bucket (its TTL is the lease TTL).
        key: the lease's key (``poller.<account>``, ``partition.<account>.<p>``).
        holder: who this process is (:func:`process_id`); stored as the key's value.
        ttl: the lease TTL in seconds: the bucket's (:attr:`Buckets.lease_ttl
            <fleep_async.cluster.Buckets.lease_ttl>`).
        clock: monotonic seconds (injected in tests).
        details: more fields for the key's value, read at every write (a poller's progress,
            which ``cluster status`` shows); ``holder``, ``ttl`` and ``at`` are the lease's own.
    """

    def __init__(
        self,
        kv: KeyValue,
        key: str,
        holder: str,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        details: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        if ttl <= 0:
            raise UsageError("lease ttl must be > 0")
        self.kv = kv
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self._clock = clock
        self.details = details
        self.revision: int | None = None
        """The revision this process last wrote (the fencing token), or ``None`` if not held."""
        self._valid_until = 0.0
        self.gains = 0
        """How many times this process took the lease."""
        self.losses = 0
        """How many times it lost the lease without giving it up (a lost CAS, an expiry)."""
        self.releases = 0
        """How many times it gave the lease up."""

    def __repr__(self) -> str:
        state = f"held rev {self.revision}" if self.revision is not None else "not held"
        return f"Lease({self.key!r}, {self.holder!r}, {state})"

    @property
    def changes(self) -> int:
        """How many times this process gained, lost or released the lease."""
        return self.gains + self.losses + self.releases

    @property
    def renew_interval(self) -> float:
        """How often a holder renews: a third of the TTL (two renewals may fail in a row)."""
        return self.ttl / 3

    @property
    def _validity(self) -> float:
        # A tenth of the TTL short of it: the server counts the TTL from when it stored the
        # write (after our start), and clocks drift; the holder must give up first.
        return self.ttl * 0.9

    def valid(self) -> bool:
        """Whether this process may act as the holder now (held, and renewed within the TTL)."""
        return self.revision is not None and self._clock() < self._valid_until

    def _value(self) -> bytes:
        value: dict[str, Any] = dict(self.details()) if self.details is not None else {}
        value.update(holder=self.holder, ttl=self.ttl, at=time.time())
        return orjson.dumps(value)

    async def current_holder(self) -> str | None:
        """Who holds the lease now, per the bucket (``None``: nobody)."""
        import nats.js.errors

        try:
            entry = await self.kv.get(self.key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return _holder_of(entry.value)

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; whether this process holds it now.

        Raises:
            nats.errors.Error: NATS failed (the caller retries).
        """
        import nats.js.errors

        if self.valid():
            return True
        # Twice at most: nats-py's create() looks the key up after the server refuses the
        # write (to tell a deleted key from a live one), and the key can expire in between.
        # It is then free, and the second create decides.
        for _attempt in range(2):
            started = self._clock()
            try:
                revision = await self.kv.create(self.key, self._value())
            except nats.js.errors.KeyWrongLastSequenceError:
                break
            except nats.js.errors.KeyNotFoundError:
                continue
            self._gained(revision, started)
            return True
        self.revision = None
        return False

    async def renew(self) -> bool:
        """Extend the lease by a CAS on the last revision; whether it is still held.

        A lost CAS (someone else holds it, or the key expired) loses it, logged. A NATS failure
        keeps it as long as the TTL allows (:meth:`valid` tells).

        Raises:
            nats.errors.Error: NATS failed (the lease stays valid until its TTL runs out).
        """
        import nats.js.errors

        if self.revision is None:
            return False
        started = self._clock()
        try:
            revision = await self.kv.update(self.key, self._value(), last=self.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            holder = None
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                holder = await self.current_holder()  # who took it: for the log only
            self.lost(f"held by {holder}" if holder else "expired")
            return False
        if not self.valid():
            # The renewal raced the TTL: the key may have expired meanwhile and been taken, in
            # which case this CAS would have failed. It did not: the revision is ours still.
            logger.info(
                "lease %s renewed by %s after its TTL ran out locally", self.key, self.holder
            )
        self.revision = revision
        self._valid_until = started + self._validity
        return True

    def _gained(self, revision: int, started: float) -> None:
        self.revision = revision
        self._valid_until = started + self._validity
        self.gains += 1
        logger.info(
            "lease %s acquired by %s (revision %d, ttl %.1fs)",
            self.key,
            self.holder,
            revision,
            self.ttl,
        )

    def lost(self, why: str) -> None:
        """Forget the lease (after a lost CAS, an expiry, a fenced write), logged."""
        if self.revision is None:
            return
        self.revision = None
        self._valid_until = 0.0
        self.losses += 1
        logger.warning("lease %s lost by %s (%s)", self.key, self.holder, why)

    async def release(self) -> None:
        """Give the lease up (a conditional delete on our revision) so a successor starts now.

        Best effort: if NATS fails, the lease expires by its TTL.
        """
        import nats.errors

        revision = self.revision
        if revision is None:
            return
        self.revision = None
        self._valid_until = 0.0
        self.releases += 1
        try:
            await self.kv.delete(self.key, last=revision)
        except (TimeoutError, nats.errors.Error) as exc:
            logger.warning(
                "lease %s: release by %s failed (%s); it expires in %.1fs",
                self.key,
                self.holder,
                exc,
                self.ttl,
            )
            return
        logger.info("lease %s released by %s", self.key, self.holder)


def _holder_of(value: bytes | None) -> str | None:
    if not value:
        return None
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    holder = decoded.get("holder") if isinstance(decoded, dict) else None
    return holder if isinstance(holder, str) else None
