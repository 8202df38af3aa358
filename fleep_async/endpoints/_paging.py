"""How the paged endpoints are walked: one small declarative pager per cursor style.

A pager names the request field that carries the cursor, says which items a page holds, and
computes the next cursor from a page, or ``None`` when the documented end is reached. The loop
itself (:func:`fleep_async.services.paginate`) is the same for every endpoint; it also stops
when the cursor stops moving, and after ``max_pages`` pages, so a server that never ends cannot
keep a client looping forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import attrs

from fleep_async.models import (
    ConversationRecord,
    FileRecord,
    LabelRecord,
    MessageRecord,
    Record,
)
from fleep_async.models.results import (
    ConversationListResult,
    ConversationSyncResult,
    StreamResult,
)

__all__ = [
    "BackwardPager",
    "CursorPager",
    "HorizonPager",
    "LabelCursorPager",
    "Pager",
    "SectionHorizonPager",
    "WeightPager",
]


class Pager(Protocol):
    """The paging rule of one endpoint."""

    #: The name of the type of the items yielded (for the generated signatures).
    ITEM: ClassVar[str]

    @property
    def cursor(self) -> str:
        """The request field that carries the cursor."""

    @property
    def first(self) -> Any:
        """The cursor of the first request when the caller gives none (``None``: not sent)."""

    def items(self, result: Any) -> Sequence[Any]:
        """What one page yields to the caller."""

    def next_cursor(self, request: Any, result: Any) -> Any:
        """The cursor of the next page, or ``None`` when this page was the last one."""


def _message_nrs(records: Sequence[Record], kinds: tuple[type[Any], ...]) -> list[int]:
    return [
        rec.message_nr
        for rec in records
        if isinstance(rec, kinds) and isinstance(getattr(rec, "message_nr", None), int)
    ]


@attrs.frozen
class HorizonPager:
    """``conversation/list``: ``sync_horizon`` from 0; the last page has no conversations."""

    ITEM: ClassVar[str] = "ConversationRecord"

    cursor: str = "sync_horizon"
    first: Any = 0

    def items(self, result: ConversationListResult) -> Sequence[Any]:
        """The conversation headers."""
        return result.conversations

    def next_cursor(self, request: Any, result: ConversationListResult) -> Any:
        """The returned ``sync_horizon``, unless the page was empty."""
        if not result.conversations:
            return None
        return result.sync_horizon


@attrs.frozen
class CursorPager:
    """``account/sync_conversations``: follow ``sync_cursor`` until none comes back."""

    ITEM: ClassVar[str] = "Record"

    cursor: str = "sync_cursor"
    first: Any = None

    def items(self, result: StreamResult) -> Sequence[Any]:
        """The stream records."""
        return result.stream

    def next_cursor(self, request: Any, result: StreamResult) -> Any:
        """The returned ``sync_cursor``; none (or an empty page) ends the walk."""
        if not result.stream or not result.sync_cursor:
            return None
        return result.sync_cursor


@attrs.frozen
class LabelCursorPager:
    """``label/sync_conversations``: the cursor comes back on the label record (or top level);
    a page without conversations is the last one."""

    ITEM: ClassVar[str] = "Record"

    cursor: str = "sync_cursor"
    first: Any = None

    def items(self, result: StreamResult) -> Sequence[Any]:
        """The stream records."""
        return result.stream

    def next_cursor(self, request: Any, result: StreamResult) -> Any:
        """The label's ``sync_cursor``; no conversation in the page ends the walk."""
        if not any(isinstance(rec, ConversationRecord) for rec in result.stream):
            return None
        if result.sync_cursor:
            return result.sync_cursor
        label_id = getattr(request, "label_id", None)
        for rec in result.stream:
            if isinstance(rec, LabelRecord) and rec.label_id == label_id:
                cursor = getattr(rec, "sync_cursor", None)
                return cursor or None
        return None


@attrs.frozen
class BackwardPager:
    """``conversation/sync_backward``: ``from_message_nr`` is the earliest message held; the
    next page starts at the earliest message of this one."""

    ITEM: ClassVar[str] = "Record"

    cursor: str = "from_message_nr"
    first: Any = None

    def items(self, result: ConversationSyncResult) -> Sequence[Any]:
        """The stream records."""
        return result.stream

    def next_cursor(self, request: Any, result: ConversationSyncResult) -> Any:
        """The lowest message number of this page, if it is below the current cursor."""
        numbers = _message_nrs(result.stream, (MessageRecord,))
        if not numbers:
            return None
        lowest = min(numbers)
        current = getattr(request, self.cursor)
        if lowest <= 1 or (current is not None and lowest >= current):
            return None  # the start of the conversation, or no progress
        return lowest


@attrs.frozen
class SectionHorizonPager:
    """``conversation/sync_files`` and ``sync_pins``: ``from_message_nr`` is the header's
    ``file_horizon`` / ``pin_horizon``; fall back to the earliest record of the page."""

    ITEM: ClassVar[str] = "Record"

    horizon: str
    cursor: str = "from_message_nr"
    first: Any = None

    def items(self, result: ConversationSyncResult) -> Sequence[Any]:
        """The stream records."""
        return result.stream

    def next_cursor(self, request: Any, result: ConversationSyncResult) -> Any:
        """The header's horizon (or the page's lowest message number), while it moves down."""
        numbers = _message_nrs(result.stream, (MessageRecord, FileRecord))
        if not numbers:
            return None
        horizon = getattr(result.header, self.horizon, None) if result.header else None
        candidate = horizon if isinstance(horizon, int) else min(numbers)
        current = getattr(request, self.cursor)
        if candidate <= 0 or (current is not None and candidate >= current):
            return None
        return candidate


@attrs.frozen
class WeightPager:
    """``account/sync_pinboard`` / ``sync_taskboard``: the cursor is the weight of the last
    message of a page; a page shorter than the limit is the last one."""

    ITEM: ClassVar[str] = "Record"

    cursor: str
    limit: str
    first: Any = None

    def items(self, result: StreamResult) -> Sequence[Any]:
        """The stream records."""
        return result.stream

    def next_cursor(self, request: Any, result: StreamResult) -> Any:
        """The last message's weight, unless the page was short."""
        messages = [rec for rec in result.stream if isinstance(rec, MessageRecord)]
        limit = getattr(request, self.limit)
        if not messages or (isinstance(limit, int) and len(messages) < limit):
            return None
        return getattr(messages[-1], self.cursor, None)
