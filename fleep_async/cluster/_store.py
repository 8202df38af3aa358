"""A :class:`~fleep_async.events.HorizonStore` on JetStream KV: replicated, fenced checkpoints.

The checkpoint of an account is one key of ``fleep_checkpoints`` (the account id), holding the
:class:`~fleep_async.events.Checkpoint` JSON of the file store. Every save is a compare-and-set
on the revision this store last read or wrote: if anything else wrote the key since (a
successor that took over, a second engine on the same account), the save fails with
:class:`~fleep_async.errors.FencedError` and changes nothing. A paused holder that wakes up
therefore cannot commit over its successor, whatever its clock says.

A single-process engine uses it as any store::

    nc = await connect("nats://127.0.0.1:4222")
    buckets = await ensure_buckets(nc.jetstream())
    store = JetStreamHorizonStore(buckets.checkpoints, account_id)
    engine = EventEngine(client, router, store=store)

Two engines on one key: the first to save after the other's wins, the other gets
``FencedError`` (and its engine stops), so at most one keeps committing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fleep_async.errors import FencedError, UsageError
from fleep_async.events._store import Checkpoint

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

__all__ = ["JetStreamHorizonStore"]

logger = logging.getLogger("fleep_async.cluster")

_HINT = (
    "fix or delete the key in the fleep_checkpoints bucket (deleting it starts the account "
    "over from the current horizon: what was posted meanwhile is not handled)"
)


class JetStreamHorizonStore:
    """The checkpoint of one account in a JetStream KV bucket, every save fenced by a CAS.

    Args:
        kv: the ``fleep_checkpoints`` bucket (:attr:`Buckets.checkpoints
            <fleep_async.cluster.Buckets.checkpoints>`).
        key: the key, by convention the account id.
    """

    def __init__(self, kv: KeyValue, key: str) -> None:
        if not key:
            raise UsageError("a checkpoint key is needed (the account id)")
        self.kv = kv
        self.key = key
        self.revision: int | None = None
        """The revision last read or written (``None``: none read yet; 0: no entry)."""
        self.saves = 0

    def __repr__(self) -> str:
        return f"JetStreamHorizonStore({self.key!r}, revision={self.revision})"

    async def _read(self) -> tuple[int, Checkpoint | None]:
        import nats.js.errors

        try:
            entry = await self.kv.get(self.key)
        except nats.js.errors.KeyNotFoundError as exc:
            # A deleted key leaves a marker with a revision: the next write must name it.
            marker = exc.entry.revision if exc.entry is not None else None
            return marker or 0, None
        revision = entry.revision or 0
        checkpoint = Checkpoint.from_json(
            entry.value or b"",
            source=f"checkpoint {self.key!r} (revision {revision})",
            hint=_HINT,
        )
        return revision, checkpoint

    async def load(self) -> Checkpoint | None:
        """Read the checkpoint and remember its revision (the next save's expectation).

        Raises:
            DecodeError: the stored value is not a checkpoint.
        """
        revision, checkpoint = await self._read()
        self.revision = revision
        return checkpoint

    async def save(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` if the key is still at the revision this store last saw.

        Raises:
            FencedError: someone else wrote the key since (this store lost it; nothing written).
        """
        import nats.js.errors

        if self.revision is None:
            await self.load()
        expected = self.revision or 0
        try:
            self.revision = await self.kv.update(self.key, checkpoint.to_json(), last=expected)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise FencedError(
                f"checkpoint {self.key!r} was written by another process since revision "
                f"{expected}: this one is fenced off and must stop",
                key=self.key,
                expected=expected or None,
            ) from exc
        self.saves += 1

    async def claim(self) -> Checkpoint | None:
        """Take the key over: re-write the current checkpoint, fencing every earlier holder.

        A new lease holder calls it before it publishes anything: from then on a paused
        predecessor's saves fail (their revision is stale), even if it had not saved since the
        lease changed hands. Returns the checkpoint (``None``: none yet; an empty one with only
        the key's account is written so the revision moves all the same).

        Raises:
            FencedError: someone else wrote the key between the read and the write.
        """
        revision, checkpoint = await self._read()
        self.revision = revision
        await self.save(checkpoint if checkpoint is not None else Checkpoint(account_id=self.key))
        logger.info("checkpoint %s claimed (revision %d)", self.key, self.revision)
        return checkpoint

    async def aclose(self) -> None:
        """Nothing to release: the NATS connection belongs to the caller."""
