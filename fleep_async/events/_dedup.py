"""Deduplication of handled records: the "exactly-once effect" option of the engine.

Fleep's stream is at-least-once from the engine's point of view: after a restart from a stored
horizon, or a server resync, records already handled come again. The deduplicator remembers which
records were handled (marked only after the handler finished) and is saved in the same checkpoint
write as the horizon.

Identity and revision of a record:

- message: ``conversation_id`` + ``message_nr`` + its flow position (``flow_message_nr`` /
  ``revision_message_nr`` when the record is an edit, else ``message_nr``). An edit takes a new
  flow position, so it is a new revision and is delivered; a repeat of the same revision is not.
- a kind whose records carry a version (``team``: ``team_version_nr``; ``org_changelog``:
  ``version_nr`` is part of its identity): the kind, its identity and the version. A new version
  is delivered, a repeat is not; nothing else is read.
- every other kind: its identity ids plus a digest of the whole record. These records are state
  snapshots with no field that changes on every change, so the digest stays: a repeat of the same
  snapshot is dropped, a changed one is delivered. Checked against Fleep's own server tests: a
  conversation header after ``conversation/store`` of new labels carries the same
  ``last_message_nr`` and counters as before (a mute, alert level or label change takes no place
  in the flow); a contact has no version at all; an ``org_header``'s ``version_nr`` stays the
  same when its ``status`` changes (invoice payments started), so it is no version either.

The digest is SHA-1 over the record as JSON with sorted keys. Sorted, because the same snapshot
may come with its fields in another order (a poll answer and a ``conversation/sync`` header are
built by different server code) and must keep its key. Measured per conversation header (about
800 bytes): the JSON costs more than the hash; BLAKE2b (any digest size) and MD5 cost about what
SHA-1 does, and hardware SHA-1 is faster still, so SHA-1 stays and the bytes hashed stay the
same as before (``OPT_NON_STR_KEYS`` is not needed for a record off the wire and cost a fifth):
keys stored in checkpoints by older versions still match.

Keys never contain a secret: identity fields other than ids and numbers (a hook's
``hook_key``) only ever enter the digest.

Memory is bounded two ways: an LRU of exact keys (recent records, in any order), and for messages
a per-conversation floor: when a message key leaves the LRU its flow position becomes the floor
of its conversation, below which every message counts as handled. Flow positions only grow within
a conversation, so the floor keeps messages deduplicated long after their keys were evicted.

Costs: :meth:`Deduplicator.mark` runs once per handled record and :func:`snapshot_state` once per
checkpoint write, so the LRU is a plain dict of ``key -> (key, position)`` entries (the pairs a
checkpoint stores, made once per mark; a snapshot copies references) with a deque of the same keys
in the same order (the oldest in O(1)).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from hashlib import sha1 as _sha1
from typing import Any, Final

import orjson

from fleep_async.errors import UsageError
from fleep_async.models.records import RECORD_TYPES

__all__ = ["Deduplicator", "flow_position", "message_position"]

_FORMAT: Final = 1


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _flow_position(raw: Mapping[str, Any]) -> int | None:
    # Runs for every message of every poll answer: straight-line lookups and class tests (JSON
    # integers are exactly int: a bool, or anything else, is no position), no loop.
    best = raw.get("message_nr")
    if best.__class__ is not int:
        best = None
    value = raw.get("flow_message_nr")
    if value.__class__ is int and (best is None or value > best):
        best = value
    value = raw.get("revision_message_nr")
    if value.__class__ is int and (best is None or value > best):
        best = value
    return best


flow_position = _flow_position
"""The flow position of a raw message record (the largest of its flow numbers), or ``None``."""


def _snapshot_identities() -> dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]]:
    """kind -> (identity fields that may appear in a key, version fields or ``None``)."""
    versions: dict[str, tuple[str, ...]] = {"team": ("team_version_nr",), "org_changelog": ()}
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {}
    for kind, cls in RECORD_TYPES.items():
        fields = cls.IDENTITY_FIELDS
        if kind == "message" or not fields:
            continue
        if not all(name.endswith(("_id", "_nr")) for name in fields):
            # e.g. a hook's hook_key: a secret, so no identity in clear; the digest covers it.
            fields = tuple(name for name in fields if name.endswith(("_id", "_nr")))
            table[kind] = (fields, None)
            continue
        table[kind] = (fields, versions.get(kind))
    return table


_SNAPSHOTS: Final = _snapshot_identities()


_SORTED: Final = orjson.OPT_SORT_KEYS


def _digest(raw: Mapping[str, Any]) -> str:
    try:
        # A record off the wire has only str keys: no OPT_NON_STR_KEYS (a fifth of the cost),
        # and the bytes are the same as with it, so keys stored by older versions still match.
        blob = orjson.dumps(raw, option=_SORTED)
    except TypeError:
        blob = repr(sorted(raw.items(), key=repr)).encode()
    # Not for security: a content fingerprint within one identity (SHA-1 is the fastest here).
    return _sha1(blob, usedforsecurity=False).hexdigest()[:32]


def _snapshot_key(kind: str, raw: Mapping[str, Any]) -> str:
    # ``parts`` joined by ":" as it reads, built by concatenation (a conversation header takes
    # one identity field: no list, no join).
    spec = _SNAPSHOTS.get(kind)
    if spec is None:
        return "h:" + _digest(raw)
    fields, versions = spec
    ids = kind
    for name in fields:
        value = raw.get(name)
        if value.__class__ is str:
            ids += ":" + value
        elif value.__class__ is int:
            ids += ":" + str(value)
        else:
            return "h:" + _digest(raw)  # no usable identity: the whole record decides
    if versions is not None:
        key = "v:" + ids
        for name in versions:
            value = raw.get(name)
            if value.__class__ is not int:
                break
            key += ":" + str(value)
        else:
            return key
    return "s:" + ids + ":" + _digest(raw)


def message_position(raw: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(conversation_id, flow position)`` of a raw message record, or ``None`` for others.

    The flow position orders one conversation's message records: a new message is at its
    ``message_nr``, an edit (or delete, pin ...) at the new flow number it took.
    """
    if raw.get("mk_rec_type") != "message":
        return None
    conversation_id = raw.get("conversation_id")
    position = _flow_position(raw)
    if not isinstance(conversation_id, str) or position is None:
        return None
    return conversation_id, position


_Entry = tuple[str, tuple[str, int] | None]


class Deduplicator:
    """Remembers handled records by identity and revision; bounded; serialisable.

    Args:
        max_keys: how many exact keys to keep (LRU).
        max_conversations: how many per-conversation message floors to keep (LRU).
    """

    __slots__ = ("_floors", "_order", "_recent", "max_conversations", "max_keys", "version")

    def __init__(self, *, max_keys: int = 4096, max_conversations: int = 10_000) -> None:
        if max_keys < 1 or max_conversations < 1:
            raise UsageError("Deduplicator sizes must be >= 1")
        self.max_keys = max_keys
        self.max_conversations = max_conversations
        # key -> (key, position), oldest first: the entry is what a checkpoint stores, built once
        # per mark, so a snapshot copies references (a plain dict's values at C speed; an
        # OrderedDict's iterate ten times slower) instead of making a pair per key per write.
        # ``_order`` holds the same keys in the same order, so the oldest is found in O(1) (a
        # dict with deletions at its front would be scanned from the start to find it).
        self._recent: dict[str, _Entry] = {}
        self._order: deque[str] = deque()
        self._floors: OrderedDict[str, int] = OrderedDict()
        self.version = 0
        """Bumped on every change, so a checkpoint writer knows when there is news."""

    def __len__(self) -> int:
        return len(self._recent)

    def __repr__(self) -> str:
        return f"Deduplicator(keys={len(self._recent)}, floors={len(self._floors)})"

    @staticmethod
    def key(raw: Mapping[str, Any]) -> tuple[str, tuple[str, int] | None]:
        """Return the dedup key of a raw stream record and, for messages, (conversation, flow).

        The key never contains a secret: hook keys and URLs only ever enter the digest.
        """
        kind = raw.get("mk_rec_type")
        position = message_position(raw)
        return Deduplicator.key_of(kind if isinstance(kind, str) else "?", raw, position), (
            position if kind == "message" and _int(raw.get("message_nr")) is not None else None
        )

    @staticmethod
    def key_of(kind: str, raw: Mapping[str, Any], position: tuple[str, int] | None) -> str:
        """The key of a record whose kind and message position (:func:`message_position`) the
        caller already has (the engine's path: each is computed once per record)."""
        if position is not None:
            message_nr = raw.get("message_nr")
            if message_nr.__class__ is int:
                conversation_id, flow = position
                if flow == message_nr:  # not an edit: one number to format, not two
                    nr = str(message_nr)
                    return f"m:{conversation_id}:{nr}:{nr}"
                return f"m:{conversation_id}:{message_nr}:{flow}"
        return _snapshot_key(kind, raw)

    def seen(self, key: str, position: tuple[str, int] | None) -> bool:
        """Whether the record with this key (see :meth:`key`) was already handled."""
        if key in self._recent:
            return True
        if position is not None:
            floor = self._floors.get(position[0])
            if floor is not None and position[1] <= floor:
                return True
        return False

    def mark(self, key: str, position: tuple[str, int] | None) -> None:
        """Record that this record was handled (call after the handler finished)."""
        self.version += 1
        recent = self._recent
        if key in recent:
            # Rare (the engine marks only what it did not see): to the end, in both orders.
            del recent[key]
            self._order = deque(recent)
        recent[key] = (key, position)
        self._order.append(key)
        floors = self._floors
        if position is not None and position[0] in floors:
            floors.move_to_end(position[0])
        while len(recent) > self.max_keys:
            evicted = recent.pop(self._order.popleft())[1]
            if evicted is not None:
                self._raise_floor(*evicted)

    def _raise_floor(self, conversation_id: str, position: int) -> None:
        current = self._floors.get(conversation_id)
        if current is None or position > current:
            self._floors[conversation_id] = position
        self._floors.move_to_end(conversation_id)
        while len(self._floors) > self.max_conversations:
            self._floors.popitem(last=False)

    def positions(self) -> dict[str, int]:
        """The highest flow position handled per conversation (from the keys and the floors)."""
        found = dict(self._floors)
        for _, position in self._recent.values():
            if position is not None and position[1] > found.get(position[0], 0):
                found[position[0]] = position[1]
        return found

    def export(self) -> dict[str, Any]:
        """The state as a JSON-compatible dict (stored inside the checkpoint)."""
        return {
            "format": _FORMAT,
            "recent": [
                [key, None if pos is None else [pos[0], pos[1]]]
                for key, pos in self._recent.values()
            ],
            "floors": [[conv, floor] for conv, floor in self._floors.items()],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a state written by :meth:`export` or :func:`snapshot_state` (a wrong format is
        ignored: start empty).

        Entries beyond the configured sizes are dropped oldest first, as if evicted.
        """
        self._recent.clear()
        self._order.clear()
        self._floors.clear()
        if state.get("format") != _FORMAT:
            return
        floors = state.get("floors")
        if isinstance(floors, list):
            for item in floors:
                if (
                    isinstance(item, list | tuple)
                    and len(item) == 2
                    and isinstance(item[0], str)
                    and _int(item[1]) is not None
                ):
                    self._raise_floor(item[0], item[1])
        recent = state.get("recent")
        if isinstance(recent, list):
            for item in recent:
                if not (
                    isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)
                ):
                    continue
                pos = item[1]
                position: tuple[str, int] | None = None
                if (
                    isinstance(pos, list | tuple)
                    and len(pos) == 2
                    and isinstance(pos[0], str)
                    and _int(pos[1]) is not None
                ):
                    position = (pos[0], pos[1])
                self.mark(item[0], position)
        self.version += 1


def snapshot_state(dedup: Deduplicator) -> dict[str, Any]:
    """The state of ``dedup`` as :meth:`Deduplicator.export` gives it, with tuples for lists.

    It serialises to the same JSON, but copies the entries at C speed: the engine takes one with
    every checkpoint write, and with dedup every handled record is a change (``export()`` of a
    full deduplicator costs several milliseconds). The entries are immutable, so the snapshot
    does not follow later changes.
    """
    return {
        "format": _FORMAT,
        "recent": list(dedup._recent.values()),
        "floors": list(dedup._floors.items()),
    }
