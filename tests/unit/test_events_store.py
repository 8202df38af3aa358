"""Checkpoint stores, the deduplicator and the low watermark."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleep_async.errors import DecodeError, UsageError
from fleep_async.events import (
    Checkpoint,
    Deduplicator,
    EventCache,
    FileStore,
    MemoryStore,
    SQLiteStore,
)
from fleep_async.events._watermark import Watermark
from fleep_async.models import ContactRecord, ConversationRecord
from tests.unit.test_events_fakes import conv, msg

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sample_dedup() -> dict[str, Any]:
    dedup = Deduplicator(max_keys=2)
    for nr in (1, 2, 3):
        key, pos = dedup.key(msg("c", nr))
        dedup.mark(key, pos)
    key, pos = dedup.key(conv("c", topic="t"))
    dedup.mark(key, pos)
    return dedup.export()


@pytest.fixture(params=["memory", "file", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "file":
        return FileStore(tmp_path / "bot.horizon")
    return SQLiteStore(tmp_path / "bot.db")


async def test_stores_round_trip_the_horizon_and_the_dedup_state(store: Any) -> None:
    assert await store.load() is None
    first = Checkpoint(horizon=42, account_id="acc", dedup=sample_dedup())
    await store.save(first)
    assert await store.load() == first
    second = Checkpoint(horizon=43, account_id="acc", dedup=None)
    await store.save(second)
    assert await store.load() == second
    await store.aclose()
    assert await store.load() == second  # reopens after aclose
    await store.aclose()


async def test_file_store_survives_a_new_instance_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    await FileStore(path).save(Checkpoint(horizon=7, account_id="a"))
    assert await FileStore(path).load() == Checkpoint(horizon=7, account_id="a")
    assert b'"horizon":7' in path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]  # no temp file left


async def test_file_store_write_is_atomic_and_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cp.json"
    store = FileStore(path)
    await store.save(Checkpoint(horizon=1))
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    await store.save(Checkpoint(horizon=2))
    assert len(synced) == 2  # the temp file, then the directory

    # A crash before the rename (simulated by a failing rename) leaves the old checkpoint whole.
    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk went away"):
        await store.save(Checkpoint(horizon=3))
    monkeypatch.undo()
    assert await store.load() == Checkpoint(horizon=2)
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]


async def test_a_corrupt_checkpoint_is_an_error_not_a_silent_restart(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    for content in (b"{not json", b'{"format": 99}', b'{"format": 1, "horizon": "7"}'):
        path.write_bytes(content)
        with pytest.raises(DecodeError):
            await FileStore(path).load()


async def test_sqlite_store_uses_wal_and_keeps_rows_per_name(tmp_path: Path) -> None:
    db = tmp_path / "bots.db"
    one = SQLiteStore(db, name="bot-1")
    two = SQLiteStore(db, name="bot-2")
    await one.save(Checkpoint(horizon=1, account_id="a1"))
    await two.save(Checkpoint(horizon=2, account_id="a2"))
    await one.save(Checkpoint(horizon=3, account_id="a1"))
    assert (await one.load()) == Checkpoint(horizon=3, account_id="a1")
    assert (await two.load()) == Checkpoint(horizon=2, account_id="a2")
    await one.aclose()
    await two.aclose()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM fleep_checkpoint").fetchone()[0] == 2
    finally:
        conn.close()
    with pytest.raises(UsageError):
        SQLiteStore(db, name="")


async def test_sqlite_store_saves_are_serialised(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "bot.db")
    async with anyio.create_task_group() as tg:
        for horizon in range(1, 21):
            tg.start_soon(store.save, Checkpoint(horizon=horizon))
    loaded = await store.load()
    assert loaded is not None
    assert loaded.horizon in range(1, 21)
    await store.aclose()


def test_dedup_keys_messages_by_conversation_number_and_revision() -> None:
    key = Deduplicator.key
    assert key(msg("c", 2))[0] == "m:c:2:2"
    assert key(msg("c", 2, flow=5)) == ("m:c:2:5", ("c", 5))
    assert key(msg("c", 2, "edited text")) == key(msg("c", 2, "other"))
    other, position = key(conv("c", topic="a"))
    assert position is None
    assert other.startswith("h:")
    assert key(conv("c", topic="a"))[0] == other
    assert key(conv("c", topic="b"))[0] != other
    hook = {"mk_rec_type": "hook", "hook_key": "SECRETKEY123", "hook_url": "https://x/hook/K"}
    assert "SECRET" not in key(hook)[0]


def test_dedup_remembers_recent_keys_and_floors_after_eviction() -> None:
    dedup = Deduplicator(max_keys=3)
    handled = [msg("c", nr) for nr in range(1, 6)]
    for raw in handled:
        dedup.mark(*dedup.key(raw))
    for raw in handled:
        assert dedup.seen(*dedup.key(raw))
    assert len(dedup) == 3
    # 1 and 2 were evicted: the conversation's floor (2) still covers them ...
    assert dedup.seen(*dedup.key(msg("c", 1)))
    # ... and new revisions or new messages above it are not "seen".
    assert not dedup.seen(*dedup.key(msg("c", 1, flow=9)))
    assert not dedup.seen(*dedup.key(msg("c", 6)))
    assert not dedup.seen(*dedup.key(msg("other", 1)))
    # An out-of-order message below the newest but not handled is not seen while keys remain.
    assert not dedup.seen(*dedup.key(msg("d", 1)))


def test_dedup_export_restore_round_trip_and_bounds() -> None:
    # 9 messages through 4 keys: a1-a3 and b1-b2 are evicted into the floors a=3, b=2, and
    # with room for one floor only, a's floor is evicted in turn.
    dedup = Deduplicator(max_keys=4, max_conversations=1)
    for cid in ("a", "b", "c"):
        for nr in range(1, 4):
            dedup.mark(*dedup.key(msg(cid, nr)))
    state = dedup.export()
    assert state["floors"] == [["b", 2]]
    restored = Deduplicator(max_keys=4, max_conversations=1)
    restored.restore(state)
    assert restored.export() == state
    for cid in ("b", "c"):
        for nr in range(1, 4):
            assert restored.seen(*restored.key(msg(cid, nr)))
    # Floors are bounded too: conversation "a" fell out (its messages may come again).
    assert not restored.seen(*restored.key(msg("a", 1)))
    smaller = Deduplicator(max_keys=1)
    smaller.restore(state)
    assert len(smaller) == 1
    junk = Deduplicator()
    junk.restore({"format": 1, "recent": [["k", None], "bad", [1, 2]], "floors": [["x"], ["c", 3]]})
    assert junk.seen("k", None)
    assert junk.seen(*junk.key(msg("c", 2)))
    junk.restore({"format": 2})
    assert len(junk) == 0


def test_watermark_commits_in_poll_order_only() -> None:
    wm = Watermark(committed=5)
    b10 = wm.open(10)
    Watermark.add(b10)  # slow record of conversation A
    assert not wm.seal(b10)
    b20 = wm.open(20)
    Watermark.add(b20)
    wm.seal(b20)
    assert not wm.done(b20)  # finished, but behind b10
    assert wm.committed == 5
    assert wm.done(b10)
    assert wm.committed == 20
    assert wm.open_batches == 0
    empty = wm.open(21)
    assert wm.seal(empty)
    assert wm.committed == 21
    syncing = wm.open(-3)
    assert not wm.seal(syncing)  # non-positive horizons are never committed
    assert wm.committed == 21
    resync = wm.open(0)
    assert not wm.seal(resync)
    assert wm.committed == 21


def test_cache_merges_partial_headers_and_is_bounded() -> None:
    from fleep_async._converter import parse_record

    cache = EventCache(max_conversations=2, max_contacts=1)
    full = parse_record(conv("a", topic="Ops", members=["x", "y"], last_message_nr=1))
    partial = parse_record(conv("a", last_message_nr=5))
    assert isinstance(full, ConversationRecord)
    assert isinstance(partial, ConversationRecord)
    cache.update_conversation(full)
    merged = cache.update_conversation(partial)
    assert (merged.topic, merged.members, merged.last_message_nr) == ("Ops", ("x", "y"), 5)
    for cid in ("b", "c"):
        record = parse_record(conv(cid))
        assert isinstance(record, ConversationRecord)
        cache.update_conversation(record)
    assert cache.conversation("a") is None  # least recently used went out
    assert cache.conversation("c") is not None
    for aid in ("u1", "u2"):
        record = parse_record({"mk_rec_type": "contact", "account_id": aid})
        assert isinstance(record, ContactRecord)
        cache.update_contact(record)
    assert cache.contact("u1") is None
    assert cache.contact("u2") is not None
    cache.clear()
    assert cache.conversation("c") is None
    with pytest.raises(UsageError):
        EventCache(max_conversations=0)
