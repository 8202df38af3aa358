"""Small pieces shared by the engine and the event stream."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from fleep_async.errors import DecodeError
from fleep_async.events._types import logger
from fleep_async.events._watermark import Batch

__all__ = [
    "BATCH",
    "CONVERSATION",
    "ERROR",
    "KEY",
    "KIND",
    "LANE",
    "POSITION",
    "RAW",
    "RECORD",
    "Item",
    "call_hook",
    "lane_of",
]


Item: TypeAlias = tuple[
    Batch,
    dict[str, Any],
    str,
    Any,
    DecodeError | None,
    str | None,
    tuple[str, int] | None,
    str,
    str | None,
]
"""One admitted record on its way through a lane: ``(batch, raw, kind, record, error, key,
position, lane, conversation_id)``, read by unpacking or with the index constants below.

A plain tuple, not a class: one is made for every record of every page (a tuple costs a
fifth of an instance with slots, and the lane worker unpacks it once into locals).
"""

BATCH: Final = 0  # the poll answer's Batch (watermark bookkeeping)
RAW: Final = 1  # the record as decoded from JSON
KIND: Final = 2  # its mk_rec_type ("?" when missing)
RECORD: Final = 3  # the typed record, or None when it could not be decoded
ERROR: Final = 4  # the DecodeError, or None
KEY: Final = 5  # the dedup key (None without dedup)
POSITION: Final = 6  # (conversation_id, flow position) of a message, else None
LANE: Final = 7  # the ordering lane (see lane_of)
CONVERSATION: Final = 8  # the conversation id, or None


def lane_of(kind: str, raw: Mapping[str, Any]) -> str:
    """The ordering lane of a record: its conversation, else its contact, else its kind."""
    conversation_id = raw.get("conversation_id")
    if isinstance(conversation_id, str):
        return conversation_id
    if kind == "contact":
        account_id = raw.get("account_id")
        if isinstance(account_id, str):
            return f"contact:{account_id}"
    return f"kind:{kind}"


async def call_hook(name: str, hook: Callable[..., Any] | None, *args: Any) -> None:
    """Call a user hook, sync or async; log (never raise) what it raises."""
    if hook is None:
        return
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("the %s hook failed", name)
