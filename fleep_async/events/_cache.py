"""Conversation headers and contacts kept from the stream, for handlers to look up."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fleep_async.models import ContactRecord, ConversationRecord

__all__ = ["EventCache"]


class EventCache:
    """Bounded LRU caches of conversation headers and contacts, fed by the event engine.

    Conversation records in the stream are often partial (only the counters that changed after a
    send): they are merged into the header already known, never replace it.

    Args:
        max_conversations: how many conversation headers to keep.
        max_contacts: how many contacts to keep.
    """

    def __init__(self, *, max_conversations: int = 10_000, max_contacts: int = 10_000) -> None:
        if max_conversations < 1 or max_contacts < 1:
            raise UsageError("EventCache sizes must be >= 1")
        self.max_conversations = max_conversations
        self.max_contacts = max_contacts
        self._conversations: OrderedDict[str, ConversationRecord] = OrderedDict()
        self._contacts: OrderedDict[str, ContactRecord] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"EventCache(conversations={len(self._conversations)}, contacts={len(self._contacts)})"
        )

    def conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The merged header of a conversation seen in the stream, or ``None``."""
        header = self._conversations.get(conversation_id)
        if header is not None:
            self._conversations.move_to_end(conversation_id)
        return header

    def contact(self, account_id: str) -> ContactRecord | None:
        """The latest contact record of an account seen in the stream, or ``None``."""
        contact = self._contacts.get(account_id)
        if contact is not None:
            self._contacts.move_to_end(account_id)
        return contact

    def update_conversation(
        self, record: ConversationRecord, *, nulls: Iterable[str] = ()
    ) -> ConversationRecord:
        """Merge a (possibly partial) conversation record; return the merged header.

        ``nulls`` are the fields the wire record set to ``null``: they are cleared. A header
        with ``is_reset`` replaces the cached one (the server resets the conversation's
        state, e.g. after the viewer was removed: what it does not carry is gone).
        """
        cid = record.conversation_id
        old = self._conversations.get(cid)
        merged = record if old is None or record.is_reset else old.merge(record, nulls=nulls)
        self._conversations[cid] = merged
        self._conversations.move_to_end(cid)
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)
        return merged

    def update_contact(self, record: ContactRecord, *, nulls: Iterable[str] = ()) -> ContactRecord:
        """Merge a contact record (later fields win, ``nulls`` cleared); return the contact."""
        aid = record.account_id
        old = self._contacts.get(aid)
        merged = record if old is None else old.merge(record, nulls=nulls)
        self._contacts[aid] = merged
        self._contacts.move_to_end(aid)
        while len(self._contacts) > self.max_contacts:
            self._contacts.popitem(last=False)
        return merged

    def clear(self) -> None:
        """Forget everything (after a server resync the stream sends it all again)."""
        self._conversations.clear()
        self._contacts.clear()
