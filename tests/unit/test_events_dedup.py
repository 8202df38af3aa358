"""The deduplicator's cost-sensitive paths keep its behaviour (see also test_events_store.py)."""

from __future__ import annotations

import random
import tracemalloc
from collections import OrderedDict
from typing import Any

import orjson

from fleep_async.events import Deduplicator
from fleep_async.events._dedup import snapshot_state


class _ReferenceLRU:
    """The deduplicator's rules written the plain way: an LRU of keys, floors raised on eviction."""

    def __init__(self, max_keys: int, max_conversations: int) -> None:
        self.max_keys = max_keys
        self.max_conversations = max_conversations
        self.recent: OrderedDict[str, tuple[str, int] | None] = OrderedDict()
        self.floors: OrderedDict[str, int] = OrderedDict()

    def mark(self, key: str, position: tuple[str, int] | None) -> None:
        self.recent.pop(key, None)
        self.recent[key] = position
        if position is not None and position[0] in self.floors:
            self.floors.move_to_end(position[0])
        while len(self.recent) > self.max_keys:
            _, evicted = self.recent.popitem(last=False)
            if evicted is not None:
                conversation_id, flow = evicted
                self.floors[conversation_id] = max(flow, self.floors.get(conversation_id, flow))
                self.floors.move_to_end(conversation_id)
                while len(self.floors) > self.max_conversations:
                    self.floors.popitem(last=False)

    def restore(self, state: dict[str, Any]) -> None:
        """Floors first, then the keys marked again in their order (as a restart does)."""
        self.recent.clear()
        self.floors.clear()
        for conversation_id, floor in state["floors"]:
            self.floors[conversation_id] = floor
        for key, position in state["recent"]:
            self.mark(key, None if position is None else (position[0], position[1]))

    def seen(self, key: str, position: tuple[str, int] | None) -> bool:
        if key in self.recent:
            return True
        return position is not None and position[1] <= self.floors.get(position[0], -1)

    def export(self) -> dict[str, Any]:
        return {
            "format": 1,
            "recent": [[k, None if p is None else list(p)] for k, p in self.recent.items()],
            "floors": [[c, f] for c, f in self.floors.items()],
        }


def test_marks_evictions_and_floors_follow_the_plain_lru_rules() -> None:
    rng = random.Random(13)
    for max_keys, max_conversations in ((1, 1), (3, 2), (8, 3), (40, 100)):
        dedup = Deduplicator(max_keys=max_keys, max_conversations=max_conversations)
        model = _ReferenceLRU(max_keys, max_conversations)
        for step in range(3000):
            conversation = f"c{rng.randrange(5)}"
            nr = rng.randrange(1, 30)
            if rng.random() < 0.7:
                key, position = f"m:{conversation}:{nr}:{nr}", (conversation, nr)
            else:  # snapshots, some repeated: a repeat moves the key to the newest end
                key, position = f"s:conv:{conversation}:{rng.randrange(4)}", None
            assert dedup.seen(key, position) == model.seen(key, position), step
            dedup.mark(key, position)
            model.mark(key, position)
            if step % 97 == 0:
                state = dedup.export()
                assert state == model.export(), step
                snapshot = snapshot_state(dedup)
                assert orjson.dumps(snapshot) == orjson.dumps(state)
                assert len(dedup) == len(model.recent)
                # A restart restores the same state, and goes on by the same rules.
                dedup = Deduplicator(max_keys=max_keys, max_conversations=max_conversations)
                dedup.restore(orjson.loads(orjson.dumps(snapshot)))
                model.restore(state)
                assert dedup.export() == model.export(), step
                assert dedup.export()["recent"] == state["recent"]
        assert dedup.export() == model.export()


def test_restore_of_repeated_keys_keeps_the_last_place() -> None:
    dedup = Deduplicator(max_keys=2)
    dedup.restore({"format": 1, "recent": [["k", None], ["j", None], ["k", None]], "floors": []})
    assert [key for key, _ in dedup.export()["recent"]] == ["j", "k"]
    dedup.mark("n", None)  # j is the oldest now, so it goes first
    assert [key for key, _ in dedup.export()["recent"]] == ["k", "n"]
    assert not dedup.seen("j", None)


def test_a_checkpoint_snapshot_copies_references_not_a_pair_per_key() -> None:
    # The engine takes one with every checkpoint write (about once per poll page): it must not
    # build a new (key, position) pair for each of the thousands of keys every time.
    dedup = Deduplicator(max_keys=4096)
    for nr in range(1, 5001):
        dedup.mark(f"m:c:{nr}:{nr}", ("c", nr))
    snapshot_state(dedup)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = snapshot_state(dedup)
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # One list of references is 8 bytes a key; a pair per key would add 56 more.
    assert allocated < 16 * 4096, allocated
    assert orjson.dumps(state) == orjson.dumps(dedup.export())


def test_snapshot_keys_match_the_ones_older_versions_stored() -> None:
    # Keys live in checkpoints across upgrades: the same record must keep the same key, or a
    # header handled before an upgrade would be handled again after it.
    header = {
        "mk_rec_type": "conv",
        "conversation_id": "7f3d8e2a-1c4b-4e5f-9a6b-0c1d2e3f4a5b",
        "last_message_nr": 12,
        "topic": "release ✓",
        "members": ["a", "b"],
        "is_mark_unread": False,
        "snooze_time": None,
    }
    key = "s:conv:7f3d8e2a-1c4b-4e5f-9a6b-0c1d2e3f4a5b:8be081f5e7a1deaa3c72d4642db8992b"
    assert Deduplicator.key(header) == (key, None)
    # The digest does not depend on the order the fields came in.
    assert Deduplicator.key(dict(reversed(list(header.items())))) == (key, None)
    # A record that is no JSON (a non-str key) still has a key.
    odd: dict[Any, Any] = {**header, 1: "x"}
    assert Deduplicator.key(odd)[0].startswith("s:conv:7f3d8e2a-1c4b-4e5f-9a6b-0c1d2e3f4a5b:")
