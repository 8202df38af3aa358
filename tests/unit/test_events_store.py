"""Checkpoint stores, the deduplicator and the low watermark."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleep_async.errors import DecodeError, StoreLockedError, UsageError
from fleep_async.events import (
    Checkpoint,
    Deduplicator,
    EventCache,
    EventEngine,
    FileStore,
    MemoryStore,
    Router,
    SQLiteStore,
)
from fleep_async.events._watermark import Watermark
from fleep_async.models import ContactRecord, ConversationRecord, MessageRecord
from tests.unit.test_events_fakes import ScriptedRequester, conv, msg, poll

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "cp.json.lock"]  # no temp


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "cp.json.lock"]


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
    assert other.startswith("s:conv:c:")  # identity, then a digest of the snapshot
    assert key(conv("c", topic="a"))[0] == other
    assert key(conv("c", topic="b"))[0] != other
    hook = {"mk_rec_type": "hook", "hook_key": "SECRETKEY123", "hook_url": "https://x/hook/K"}
    assert "SECRET" not in key(hook)[0]
    hook["conversation_id"] = "c"
    assert key(hook)[0].startswith("s:hook:c:")
    assert "SECRET" not in key(hook)[0]


def test_dedup_keys_versioned_snapshots_by_identity_and_version() -> None:
    key = Deduplicator.key
    team = {"mk_rec_type": "team", "team_id": "t1", "team_name": "Ops", "team_version_nr": 3}
    assert key(team) == ("v:team:t1:3", None)
    # Same version, same key (what else it carries is not read); a new version is new.
    assert key({**team, "team_name": "Other"})[0] == "v:team:t1:3"
    assert key({**team, "team_version_nr": 4})[0] == "v:team:t1:4"
    # Without its version the whole record decides.
    unversioned = {k: v for k, v in team.items() if k != "team_version_nr"}
    assert key(unversioned)[0].startswith("s:team:t1:")


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


# --- single owner, damaged stores, orphan temp files ---------------------------------------


async def test_a_file_store_has_one_owner_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    first, second = FileStore(path), FileStore(path)
    assert await first.load() is None
    with pytest.raises(StoreLockedError) as info:
        await second.load()
    assert str(path) in str(info.value)
    assert "another bot" in str(info.value)
    assert info.value.path == str(path)
    assert info.value.owner == f"pid {os.getpid()} on {socket.gethostname()}"
    with pytest.raises(StoreLockedError):
        await second.save(Checkpoint(horizon=3))
    await first.aclose()
    assert await second.load() is None  # released: the next owner starts
    await second.aclose()


async def test_an_sqlite_store_has_one_owner_per_name(tmp_path: Path) -> None:
    db = tmp_path / "bots.db"
    first, second = SQLiteStore(db, name="bot"), SQLiteStore(db, name="bot")
    other = SQLiteStore(db, name="other-bot")
    await first.save(Checkpoint(horizon=5))
    assert await other.load() is None  # another name in the same file: its own owner
    with pytest.raises(StoreLockedError) as info:
        await second.load()
    assert str(db) in str(info.value)
    assert f"pid {os.getpid()}" in str(info.value)
    await first.aclose()
    assert await second.load() == Checkpoint(horizon=5)
    for store in (second, other):
        await store.aclose()


async def test_an_sqlite_owner_row_of_a_dead_process_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "bot.db"
    store = SQLiteStore(db)
    await store.save(Checkpoint(horizon=9))
    await store.aclose()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO fleep_owner VALUES ('default', 'x', ?, ?, 0)",
            (socket.gethostname(), int(gone.stdout)),
        )
    conn.close()
    again = SQLiteStore(db)
    assert await again.load() == Checkpoint(horizon=9)  # a killed bot's restart works
    assert "taking over" in caplog.text
    await again.aclose()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"format": 1, "horizon": -5}', "negative horizon"),
        (b'{"format": 1, "horizon": 5, "dedup": {"format": 99}}', "unknown format"),
        (b'{"format": 1, "horizon": 5, "dedup": {"recent": []}}', "unknown format"),
        (b"", "empty"),
    ],
)
async def test_a_damaged_checkpoint_file_names_the_file_and_the_way_out(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    store = FileStore(path)
    with pytest.raises(DecodeError) as info:
        await store.load()
    message = str(info.value)
    assert reason in message
    assert str(path) in message
    assert "delete it" in message
    await store.aclose()


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty (0 bytes"), (b"not a database at all " * 200, "not usable")],
)
async def test_a_damaged_sqlite_store_is_an_error_not_no_checkpoint(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    # A disk-full truncate leaves 0 bytes: SQLite would call it a new, empty database, and a
    # resume would jump to the current horizon, skipping what was posted meanwhile.
    db = tmp_path / "bot.db"
    db.write_bytes(content)
    store = SQLiteStore(db)
    with pytest.raises(DecodeError) as info:
        await store.load()
    assert reason in str(info.value)
    assert str(db) in str(info.value)
    assert "delete it" in str(info.value)
    await store.aclose()
    assert db.read_bytes() == content  # left as it was, for the operator


async def test_a_stored_negative_horizon_in_sqlite_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = SQLiteStore(db)
    await store.save(Checkpoint(horizon=4))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE fleep_checkpoint SET data = ?", (b'{"format":1,"horizon":-1}',))
    conn.close()
    with pytest.raises(DecodeError, match="negative horizon"):
        await store.load()
    await store.aclose()


async def test_the_sqlite_store_is_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = SQLiteStore(tmp_path / "bot.db")
        await store.save(Checkpoint(horizon=1))
    finally:
        os.umask(old)
    for path in tmp_path.iterdir():  # the database and its WAL and shared-memory files
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    await store.aclose()


_SAVE_THAT_STALLS = """
import os, sys
import anyio
from fleep_async.events import Checkpoint, FileStore

def stalled_disk(fd):
    print("in fsync", flush=True)  # the temp file is written: the test kills us now
    os.read(0, 1)  # blocks (stdin is a pipe nobody writes)

os.fsync = stalled_disk
anyio.run(FileStore(sys.argv[1]).save, Checkpoint(horizon=int(sys.argv[2]), dedup=None))
"""


async def test_temp_files_of_saves_killed_by_sigkill_are_removed_at_open(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    store = FileStore(path)
    await store.save(Checkpoint(horizon=1))
    await store.aclose()
    for horizon in (2, 3, 4):
        with anyio.fail_after(30):
            process = await anyio.open_process(
                [sys.executable, "-c", _SAVE_THAT_STALLS, str(path), str(horizon)],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            async with process:
                assert process.stdout is not None
                assert b"in fsync" in await process.stdout.receive()
                process.send_signal(signal.SIGKILL)
                assert await process.wait() == -signal.SIGKILL
        # What the kill left, and only that: the next owner removed the previous kill's.
        orphans = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(orphans) == 1, orphans
    reopened = FileStore(path)
    assert await reopened.load() == Checkpoint(horizon=1)  # the last whole checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "cp.json.lock"]
    await reopened.aclose()


async def test_an_engine_whose_sqlite_store_is_taken_over_stops_with_the_typed_error(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    store = SQLiteStore(db)
    handled: list[int] = []
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        handled.append(record.message_nr)
        if record.message_nr == 1:
            # Another bot takes the store over (say, on another host after the lease).
            conn = sqlite3.connect(db)
            with conn:
                conn.execute("UPDATE fleep_owner SET owner = 'someone-else'")
            conn.close()

    req = ScriptedRequester([poll(101, msg("a", 1)), poll(102, msg("a", 2))])
    engine = EventEngine(req, router, store=store)
    with anyio.fail_after(30), pytest.raises(StoreLockedError, match="taken over"):
        await engine.run()
    assert handled[0] == 1
    assert not engine.running
