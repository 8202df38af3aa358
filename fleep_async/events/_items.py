"""Small pieces shared by the engine and the event stream."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from fleep_async.errors import DecodeError
from fleep_async.events._types import logger
from fleep_async.events._watermark import Batch

__all__ = ["Item", "call_hook", "lane_of"]


class Item:
    """One admitted record on its way through a lane."""

    __slots__ = (
        "batch",
        "conversation_id",
        "error",
        "key",
        "kind",
        "lane",
        "position",
        "raw",
        "record",
    )

    def __init__(
        self,
        batch: Batch,
        raw: dict[str, Any],
        kind: str,
        record: Any,
        error: DecodeError | None,
        key: str | None,
        position: tuple[str, int] | None,
        lane: str,
        conversation_id: str | None,
    ) -> None:
        self.batch = batch
        self.raw = raw
        self.kind = kind
        self.record = record
        self.error = error
        self.key = key
        self.position = position
        self.lane = lane  # see lane_of
        self.conversation_id = conversation_id


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
