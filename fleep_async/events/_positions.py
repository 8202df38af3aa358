"""The per-conversation message positions the engine remembers, bounded."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from fleep_async.errors import UsageError

__all__ = ["Positions"]


class Positions:
    """Per conversation, the highest message flow position seen: an LRU of at most ``limit``.

    The engine needs a conversation's position after a server resync, to fetch the messages the
    resync skipped; a conversation not active among the last ``limit`` is forgotten (its backfill
    is then skipped, as for a conversation never seen). Updated once per conversation per poll
    page, so the LRU bookkeeping costs per page, not per record.
    """

    __slots__ = ("_known", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise UsageError("Positions limit must be >= 1")
        self.limit = limit
        self._known: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def __repr__(self) -> str:
        return f"Positions({len(self._known)} of {self.limit})"

    def get(self, conversation_id: str, default: int | None = None) -> int | None:
        """The position known for a conversation, or ``default``."""
        return self._known.get(conversation_id, default)

    def raise_one(self, conversation_id: str, position: int) -> bool:
        """Raise one conversation's position (never lower it), mark it recent; whether it
        changed."""
        known = self._known
        current = known.get(conversation_id)
        if current is not None:
            known.move_to_end(conversation_id)
            if position <= current:
                return False
        known[conversation_id] = position
        if len(known) > self.limit:
            known.popitem(last=False)
        return True

    def update_many(self, positions: Mapping[str, int]) -> None:
        """Raise the positions of these conversations (never lower one) and mark them recent."""
        known = self._known
        for conversation_id, position in positions.items():
            current = known.get(conversation_id)
            if current is None:
                known[conversation_id] = position
                continue
            if position > current:
                known[conversation_id] = position
            known.move_to_end(conversation_id)
        while len(known) > self.limit:
            known.popitem(last=False)

    def as_dict(self) -> dict[str, int]:
        """A copy, oldest first."""
        return dict(self._known)
