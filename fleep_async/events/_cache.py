"""Conversation headers and contacts kept from the stream, for handlers to look up.

The cache is lazy: the engine merges every conversation header and contact of the stream into
it as raw data (a dict-level merge, cheap), and the typed record is built only when something
asks for it (``ctx.conversation``, :meth:`EventCache.conversation`), then kept until the next
change. Most bots never look at most headers: decoding each one as it arrives cost more than
everything else the engine does with a record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from fleep_async._converter import parse_record, unstructure
from fleep_async.errors import DecodeError, UsageError
from fleep_async.events._types import logger

if TYPE_CHECKING:
    from fleep_async.models import ContactRecord, ConversationRecord

__all__ = ["EventCache"]

RecordT = TypeVar("RecordT")


class _Entry:
    """One cached conversation or contact: its merged raw data and the typed record built
    from it (``None`` until asked for, and again after every change)."""

    __slots__ = ("built", "raw", "record")

    def __init__(self, raw: dict[str, Any], record: Any = None) -> None:
        # ``raw`` is this entry's own dict (copied on insert, updated in place).
        self.raw = raw
        self.record = record
        self.built = record is not None


class _Table:
    """A bounded LRU of entries of one kind."""

    __slots__ = ("entries", "kind", "limit")

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        if not entry.built:
            entry.built = True  # a record that cannot be decoded is reported once per change
            try:
                entry.record = parse_record(entry.raw)
            except DecodeError as exc:
                # The last record that could be built stays: a bad field in one update does
                # not make the whole header disappear.
                logger.warning("a cached %s record could not be decoded: %s", self.kind, exc)
        return entry.record

    def merge_raw(self, key: str, raw: Mapping[str, Any], *, replace: bool) -> None:
        entries = self.entries
        entry = entries.get(key)
        if entry is None:
            entries[key] = _Entry(dict(raw))
            if len(entries) > self.limit:
                entries.popitem(last=False)
            return
        entries.move_to_end(key)
        if replace:
            entry.raw = dict(raw)
        else:
            # Explicit nulls in ``raw`` overwrite: null on the wire means "now empty".
            entry.raw.update(raw)
        entry.built = False

    def merge_typed(
        self, key: str, record: RecordT, *, replace: bool, nulls: Iterable[str] = ()
    ) -> RecordT:
        entries = self.entries
        old = self.get(key)
        merged = record if old is None or replace else old.merge(record, nulls=nulls)
        # Kept raw as well (the wire shape of the merged record), so that the stream's later
        # partial records merge into it as raw data like any other.
        raw: dict[str, Any] = unstructure(merged)
        raw["mk_rec_type"] = self.kind
        entries[key] = _Entry(raw, merged)
        entries.move_to_end(key)
        while len(entries) > self.limit:
            entries.popitem(last=False)
        return merged


class EventCache:
    """Bounded LRU caches of conversation headers and contacts, fed by the event engine.

    Conversation records in the stream are often partial (only the counters that changed after a
    send): they are merged into the header already known, never replace it, except a header
    marked ``is_reset``, which replaces it. Fields the stream sends as ``null`` become ``None``.

    Args:
        max_conversations: how many conversation headers to keep.
        max_contacts: how many contacts to keep.
    """

    def __init__(self, *, max_conversations: int = 10_000, max_contacts: int = 10_000) -> None:
        if max_conversations < 1 or max_contacts < 1:
            raise UsageError("EventCache sizes must be >= 1")
        self.max_conversations = max_conversations
        self.max_contacts = max_contacts
        self._conversations = _Table("conv", max_conversations)
        self._contacts = _Table("contact", max_contacts)

    def __repr__(self) -> str:
        return (
            f"EventCache(conversations={len(self._conversations.entries)}, "
            f"contacts={len(self._contacts.entries)})"
        )

    @property
    def sizes(self) -> tuple[int, int]:
        """How many conversations and contacts are cached now."""
        return len(self._conversations.entries), len(self._contacts.entries)

    def conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The merged header of a conversation seen in the stream, or ``None``.

        The typed record is built on the first call after a change, then reused.
        """
        header: ConversationRecord | None = self._conversations.get(conversation_id)
        return header

    def contact(self, account_id: str) -> ContactRecord | None:
        """The latest contact record of an account seen in the stream, or ``None``."""
        contact: ContactRecord | None = self._contacts.get(account_id)
        return contact

    def merge_raw(self, kind: str, raw: Mapping[str, Any]) -> None:
        """Merge a raw ``conv`` or ``contact`` stream record (the engine's path; no decoding).

        The engine calls this for records it has already read the kind of; records without a
        string identity are ignored.
        """
        if kind == "conv":
            key = raw.get("conversation_id")
            table = self._conversations
        else:
            key = raw.get("account_id")
            table = self._contacts
        if key.__class__ is str:
            table.merge_raw(key, raw, replace=raw.get("is_reset") is True)

    def update_conversation(
        self, record: ConversationRecord, *, nulls: Iterable[str] = ()
    ) -> ConversationRecord:
        """Merge a (possibly partial) typed conversation record; return the merged header.

        ``nulls`` are the fields the wire record set to ``null``: they are cleared. A header
        with ``is_reset`` replaces the cached one (the server resets the conversation's
        state, e.g. after the viewer was removed: what it does not carry is gone). The engine
        itself merges raw records (:meth:`merge_raw`), where nulls and resets come as sent.
        """
        replace = getattr(record, "is_reset", None) is True
        return self._conversations.merge_typed(
            record.conversation_id, record, replace=replace, nulls=nulls
        )

    def update_contact(self, record: ContactRecord, *, nulls: Iterable[str] = ()) -> ContactRecord:
        """Merge a contact record (later fields win, ``nulls`` cleared); return the contact."""
        return self._contacts.merge_typed(record.account_id, record, replace=False, nulls=nulls)

    def clear(self) -> None:
        """Forget everything (after a server resync the stream sends it all again)."""
        self._conversations.entries.clear()
        self._contacts.entries.clear()
