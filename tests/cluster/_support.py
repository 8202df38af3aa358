"""Shared pieces of the worker tests: publishing records as a poller does, bounded waits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import orjson
from nats.js.client import JetStreamContext

from fleep_async.cluster import (
    HEADER_ACCOUNT,
    HEADER_HORIZON,
    HEADER_MSG_ID,
    event_subject,
    message_id,
    record_partition,
)
from fleep_async.testing import FakeFleep

__all__ = ["bot_replies", "publish_records", "until"]


async def publish_records(
    js: JetStreamContext,
    account_id: str,
    records: Iterable[Mapping[str, Any]],
    *,
    horizon: int = 0,
    partitions: int = 16,
) -> int:
    """Publish raw records the way the contract says a poller does; return how many are new."""
    stored = 0
    for raw in records:
        kind = raw.get("mk_rec_type")
        subject = event_subject(account_id, record_partition(raw, partitions), str(kind))
        headers = {
            HEADER_MSG_ID: message_id(account_id, raw),
            HEADER_ACCOUNT: account_id,
            HEADER_HORIZON: str(horizon),
        }
        ack = await js.publish(subject, orjson.dumps(raw), headers=headers)
        stored += not ack.duplicate
    return stored


async def until(predicate: Callable[[], bool], *, step: float = 0.05) -> None:
    """Re-check ``predicate`` until it holds (the caller bounds this with ``fail_after``).

    For conditions held by other processes (NATS, a worker subprocess), which no event in this
    process announces.
    """
    while not predicate():
        await anyio.sleep(step)


def bot_replies(fake: FakeFleep, conversation_id: str, bot_id: str) -> list[str]:
    """What the bot posted in a conversation, in the server's order (the independent judge)."""
    return [str(m["message"]) for m in fake.messages(conversation_id) if m["account_id"] == bot_id]
