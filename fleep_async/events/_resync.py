"""The resync rules shared by the engine and the cluster poller.

When the server answers a poll with horizon 0 it has lost the client's place, and the initial
sync that follows brings only each conversation's latest messages. One rule: a resync never
delivers what precedes the starting point, and delivers exactly once what follows the last
handled (or published) position of each conversation: the sync's messages at or below the
position are dropped (:func:`beyond_positions`), and the older messages above it that the sync
leaves out are fetched with ``conversation/sync`` first, in order (:func:`backfill`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fleep_async.errors import AuthenticationError, FleepAPIError, UsageError
from fleep_async.events._dedup import message_position
from fleep_async.events._poller import Poller
from fleep_async.events._positions import Positions
from fleep_async.events._types import logger

__all__ = ["backfill", "beyond_positions"]


def beyond_positions(
    stream: Sequence[dict[str, Any]], positions: Positions
) -> Sequence[dict[str, Any]]:
    """A resync's sync page without the messages at or below the engine's positions.

    The sync brings each conversation's latest messages again: those the engine handled,
    and for a conversation idle since the start, messages that preceded the starting point.
    Neither is delivered (again); what follows a position is, once.
    """
    kept: list[dict[str, Any]] = []
    dropped = 0
    for raw in stream:
        found = message_position(raw)
        known = positions.get(found[0]) if found is not None else None
        if found is not None and known is not None and found[1] <= known:
            dropped += 1
            continue
        kept.append(raw)
    if dropped:
        logger.info(
            "resync: %d messages of the sync at or below the engine's positions not "
            "delivered again",
            dropped,
        )
    return kept


async def backfill(
    poller: Poller,
    positions: Positions,
    stream: Sequence[dict[str, Any]],
    admit: Callable[[Sequence[dict[str, Any]]], Awaitable[None]],
) -> None:
    """Admit the messages a resync's initial sync skips, for the conversations in ``stream``.

    The sync brings a conversation's header and its latest messages; the messages between
    the engine's position in that conversation and the first one the sync brings are
    fetched and admitted now, so that they are handled before the sync's own, in order.
    """
    latest: dict[str, int] = {}
    first: dict[str, int] = {}
    for raw in stream:
        conversation_id = raw.get("conversation_id")
        if not isinstance(conversation_id, str):
            continue
        kind = raw.get("mk_rec_type")
        number = raw.get("last_message_nr") if kind == "conv" else raw.get("message_nr")
        if not isinstance(number, int) or isinstance(number, bool):
            continue
        if kind == "conv":
            latest[conversation_id] = max(number, latest.get(conversation_id, 0))
        elif kind == "message" and number < first.get(conversation_id, number + 1):
            first[conversation_id] = number
    for conversation_id, last in latest.items():
        known = positions.get(conversation_id)
        before = first.get(conversation_id)
        if known is None or last <= known or (before is not None and before <= known + 1):
            continue  # never seen (nothing to go by), nothing new, or no gap
        fetched = 0
        try:
            pages = poller.backfill(conversation_id, known, before=before)
            async with contextlib.aclosing(pages):  # closed now also when cancelled
                async for page in pages:
                    fetched += len(page)
                    await admit(page)
        except AuthenticationError:
            raise
        except (FleepAPIError, UsageError) as exc:
            logger.warning(
                "after a resync, the messages of conversation %s after position %d could "
                "not be fetched: %s",
                conversation_id,
                known,
                exc,
            )
            continue
        logger.info(
            "after a resync: %d records of conversation %s fetched (after position %d)",
            fetched,
            conversation_id,
            known,
        )
