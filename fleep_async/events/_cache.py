"""Conversation headers and contacts kept from the stream, for handlers to look up.

The cache is lazy: the engine merges every conversation header and contact of the stream into
it as raw data (a dict-level merge, cheap), and the typed record is built only when something
asks for it (``ctx.conversation``, :meth:`EventCache.conversation`), then kept until the next
change. Most bots never look at most headers: decoding each one as it arrives cost more than
everything else the engine does with a record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from fleep_async._converter import parse_record, unstructure
from fleep_async.errors import DecodeError, UsageError
from fleep_async.events._types import logger

if TYPE_CHECKING:
    from fleep_async.models import ContactRecord, ConversationRecord

__all__ = ["EventCache"]

RecordT = TypeVar("RecordT")


#: How many recently used entries of a table stay as dicts; the older ones are packed.
WORKING_SET: Final = 512

# orjson serialises datetimes, dataclasses and str/int subclasses in its own way: a raw dict
# holding one (never one decoded from the wire) is left unpacked rather than changed.
_PACK_OPTIONS: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class _Entry:
    """One cached conversation or contact: its merged raw data and the typed record built
    from it (``None`` until asked for, and again after every change).

    ``raw`` is a dict while the entry is in its table's working set and the entry's own JSON
    (bytes) after it: a dict of a header costs about 2 KB, and the values it holds come from
    the poll page it was decoded from, so ten thousand of them, each from another page, keep
    the memory of many pages from being reused. The packed form is one compact object.
    """

    __slots__ = ("broken", "built", "raw", "record")

    def __init__(self, raw: dict[str, Any], record: Any = None) -> None:
        # ``raw`` is this entry's own dict (copied on insert, updated in place).
        self.raw: dict[str, Any] | bytes = raw
        self.record = record
        self.built = record is not None
        # The merged data could not be decoded: ``record`` is the last one that could.
        self.broken = False

    def data(self) -> dict[str, Any]:
        """The merged raw data as a dict (unpacked if it was packed)."""
        raw = self.raw
        if raw.__class__ is bytes:
            unpacked: dict[str, Any] = orjson.loads(raw)
            self.raw = raw = unpacked
        return raw  # type: ignore[return-value]

    def pack(self) -> None:
        """Leave the working set: keep the raw data as JSON and drop the built record."""
        raw = self.raw
        if raw.__class__ is dict:
            try:
                packed = orjson.dumps(raw, option=_PACK_OPTIONS)
            except TypeError:
                return  # a value JSON cannot carry as it is: kept as a dict
            # A copy: orjson's bytes keep the whole buffer it wrote into (about 20 KB).
            self.raw = bytes(memoryview(packed))
        if not self.broken:
            # Built again, equal, if asked for; the last good record of a broken entry stays.
            self.record = None
            self.built = False


class _Table:
    """A bounded LRU of entries of one kind; the most recently used of them unpacked."""

    __slots__ = ("entries", "key_field", "kind", "limit", "recent", "working")

    def __init__(self, kind: str, key_field: str, limit: int, working: int = WORKING_SET) -> None:
        self.kind = kind
        self.key_field = key_field  # the raw record's field that names its entry
        self.limit = limit
        self.working = max(1, working)
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        # The working set: the entries used last, in LRU order, whose raw data is a dict.
        self.recent: OrderedDict[str, _Entry] = OrderedDict()

    def _add(self, key: str, entry: _Entry) -> None:
        """Insert (or replace) the key's entry as the most recently used."""
        entries = self.entries
        entries[key] = entry
        entries.move_to_end(key)
        if len(entries) > self.limit:
            gone, _ = entries.popitem(last=False)
            self.recent.pop(gone, None)
        self._enter(key, entry)

    def _enter(self, key: str, entry: _Entry) -> None:
        """Put ``entry`` at the young end of the working set; pack the one that falls out."""
        recent = self.recent
        recent[key] = entry
        recent.move_to_end(key)
        if len(recent) > self.working:
            _, old = recent.popitem(last=False)
            old.pack()

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        if key in self.recent:
            self.recent.move_to_end(key)
        else:
            self._enter(key, entry)
        if not entry.built:
            entry.built = True  # a record that cannot be decoded is reported once per change
            try:
                entry.record = parse_record(entry.data())
            except DecodeError as exc:
                # The last record that could be built stays: a bad field in one update does
                # not make the whole header disappear.
                entry.broken = True
                logger.warning("a cached %s record could not be decoded: %s", self.kind, exc)
            else:
                entry.broken = False
        return entry.record

    def merge_raw(self, raw: Mapping[str, Any]) -> None:
        """Merge a raw record of this table's kind; one without a string key is ignored."""
        # The engine's path for every header of the stream: kept lean (one call per record).
        key = raw.get(self.key_field)
        if key.__class__ is not str:
            return
        entry = self.entries.get(key)
        if entry is None:
            self._add(key, _Entry(dict(raw)))
            return
        self.entries.move_to_end(key)
        if raw.get("is_reset") is True:
            entry.raw = dict(raw)
        else:
            data = entry.raw
            if data.__class__ is bytes:
                data = entry.data()
            # Explicit nulls in ``raw`` overwrite: null on the wire means "now empty".
            data.update(raw)  # type: ignore[union-attr]
        entry.built = False
        recent = self.recent
        if key in recent:
            recent.move_to_end(key)
        else:
            self._enter(key, entry)

    def merge_typed(
        self, key: str, record: RecordT, *, replace: bool, nulls: Iterable[str] = ()
    ) -> RecordT:
        old = self.get(key)
        merged = record if old is None or replace else old.merge(record, nulls=nulls)
        # Kept raw as well (the wire shape of the merged record), so that the stream's later
        # partial records merge into it as raw data like any other.
        raw: dict[str, Any] = unstructure(merged)
        raw["mk_rec_type"] = self.kind
        self._add(key, _Entry(raw, merged))
        return merged

    def clear(self) -> None:
        self.entries.clear()
        self.recent.clear()


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
        self._conversations = _Table("conv", "conversation_id", max_conversations)
        self._contacts = _Table("contact", "account_id", max_contacts)
        self.raw_mergers: Mapping[str, Callable[[Mapping[str, Any]], None]] = {
            "conv": self._conversations.merge_raw,
            "contact": self._contacts.merge_raw,
        }
        """kind -> :meth:`merge_raw` for that kind, one call less per record (the engine's
        page pass looks each record's kind up here)."""

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
        (self._conversations if kind == "conv" else self._contacts).merge_raw(raw)

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
        self._conversations.clear()
        self._contacts.clear()
