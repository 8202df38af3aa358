"""Cluster-wide effect de-duplication: a ledger of handled records in JetStream KV.

The tier delivers every record at least once: a worker killed after its handler finished but
before the ack landed, or an ack lost with a NATS node, means the record is handled again
(elsewhere). Replies are safe without help (``ctx.reply`` sends a record-derived
``client_req_id``, which Fleep stores once). For effects outside Fleep, an :class:`EffectLedger`
remembers, cluster-wide, which records' handlers succeeded, keyed by
:attr:`Context.idempotency_key <fleep_async.events.Context.idempotency_key>`, in the
``fleep_effects`` bucket (replicated; entries expire with the bucket's TTL, 7 days by default):

- given to a :class:`~fleep_async.cluster.ClusterWorker` (``effects=ledger``), a record whose
  handler already succeeded is acked without running it again;
- as a middleware (``router.middleware(ledger)``) it does the same in a single-process engine
  (several engines on one account, say).

The window it closes is the one between "the handler returned" and "the mark was written": a
process killed exactly there runs the handler again. For an effect that must happen exactly once
whatever happens, make the effect itself idempotent (an upsert keyed by the same key, in the
same transaction).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from fleep_async.cluster._nats import EFFECTS_BUCKET

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from fleep_async.events._context import Context
    from fleep_async.events._middleware import NextHandler

__all__ = ["EffectLedger", "effect_key"]


def effect_key(account_id: str | None, idempotency_key: str) -> str:
    """The ledger key of a record: SHA-256 hex of ``<account_id>:<idempotency_key>``.

    The account is part of it: two bots in one conversation see the same record, and each
    must handle it once. Hashing keeps the key a valid KV key whatever the record's key holds.
    """
    return hashlib.sha256(f"{account_id or ''}:{idempotency_key}".encode()).hexdigest()


class EffectLedger:
    """Remembers, cluster-wide, the records whose handlers succeeded.

    Args:
        kv: the ``fleep_effects`` bucket (see :func:`~fleep_async.cluster.ensure_buckets`).
    """

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    def __repr__(self) -> str:
        return f"EffectLedger({EFFECTS_BUCKET!r})"

    @classmethod
    async def open(cls, js: JetStreamContext) -> EffectLedger:
        """The ledger on the ``fleep_effects`` bucket (it must exist: ``ensure_buckets``)."""
        return cls(await js.key_value(EFFECTS_BUCKET))

    async def done(self, account_id: str | None, idempotency_key: str) -> bool:
        """Whether a handler of this record (for this account) already succeeded."""
        import nats.js.errors

        try:
            await self.kv.get(effect_key(account_id, idempotency_key))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return False
        return True

    async def mark(self, account_id: str | None, idempotency_key: str) -> None:
        """Record that a handler of this record succeeded."""
        await self.kv.put(
            effect_key(account_id, idempotency_key), orjson.dumps({"key": idempotency_key})
        )

    async def __call__(self, handler: NextHandler, record: Any, ctx: Context[Any], /) -> Any:
        """As a middleware: skip a record already handled; mark it after the handler."""
        key = ctx.idempotency_key
        if key is None:  # a record given to engine.feed() as an object: nothing to key by
            return await handler(record, ctx)
        if await self.done(ctx.own_account_id, key):
            return None
        result = await handler(record, ctx)
        await self.mark(ctx.own_account_id, key)
        return result
