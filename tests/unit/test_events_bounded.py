"""The engine's per-page bookkeeping: bounded state, the lazy cache, cheap handler timeouts."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import anyio
import pytest

import fleep_async.events._cache as cache_module
from fleep_async.events import (
    ErrorEvent,
    EventCache,
    HandlerTimeoutError,
    Router,
)
from fleep_async.models import ConversationRecord, MessageRecord
from tests.unit.test_events_engine import WAIT, make_engine
from tests.unit.test_events_fakes import (
    RecordingStore,
    ScriptedRequester,
    Step,
    conv,
    msg,
    poll,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _conversation(i: int) -> str:
    return f"c{i:06d}"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_state_stays_bounded_over_100k_conversations() -> None:
    # 100,000 conversations, each seen once (a message and a partial header), with dedup on:
    # every per-conversation structure must stay within its bound, the newest remembered.
    conversations = 100_000
    per_page = 1000
    handled = 0
    router = Router()

    @router.message()
    async def on_message(record: MessageRecord) -> None:
        nonlocal handled
        handled += 1

    @router.conversation()
    async def on_conversation(record: ConversationRecord) -> None:
        nonlocal handled
        handled += 1

    pages: list[Step] = []
    for start in range(0, conversations, per_page // 2):
        records: list[dict[str, Any]] = []
        for i in range(start, start + per_page // 2):
            records.append(msg(_conversation(i), 7))
            records.append(conv(_conversation(i), last_message_nr=7, topic=None))
        pages.append(poll(1000 + len(pages), *records))
    last_horizon = 1000 + len(pages) - 1
    store = RecordingStore()
    engine = make_engine(ScriptedRequester(pages), router, store=store, dedup=True)
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(last_horizon)
            assert handled == 2 * conversations
            assert len(engine._positions) == 10_000  # the default max_conversations
            limit = engine.max_conversations
            assert engine._positions.get(_conversation(conversations - 1)) == 7
            assert engine._positions.get(_conversation(0)) is None  # forgotten, oldest first
            assert engine.cache.sizes == (engine.cache.max_conversations, 0)
            dedup = engine._dedup
            assert dedup is not None
            assert len(dedup) == engine.dedup_size
            assert len(dedup._floors) <= limit
            assert not engine._lanes
            assert not engine._pending_keys
            assert engine._watermark.open_batches == 0
            await engine.shutdown()


async def test_headers_no_one_asks_for_are_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    real = getattr(cache_module, "parse_record")  # noqa: B009 - patched below

    def counting(raw: Any, **kwargs: Any) -> Any:
        builds.append(str(raw.get("conversation_id")))
        return real(raw, **kwargs)

    monkeypatch.setattr(cache_module, "parse_record", counting)
    router = Router()
    topics: list[str | None] = []

    @router.message()
    async def on_message(record: MessageRecord, ctx: Any) -> None:
        if record.conversation_id == "asked":
            header = ctx.conversation
            topics.append(header.topic if header is not None else None)

    store = RecordingStore()
    headers = [conv(f"quiet{i}", topic="Q", last_message_nr=i) for i in range(50)]
    req = ScriptedRequester(
        [
            poll(101, *headers, conv("asked", topic="Ops", last_message_nr=1)),
            poll(102, conv("asked", last_message_nr=2), msg("asked", 2)),
        ]
    )
    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(102)
            await engine.shutdown()
    assert topics == ["Ops"]  # the partial header was merged into the full one
    assert builds == ["asked"]  # only the header a handler asked for, once
    cached = engine.cache.conversation("asked")
    assert cached is not None
    assert cached.last_message_nr == 2
    assert builds == ["asked"]  # unchanged since: the built record is reused


def test_raw_merges_apply_explicit_nulls_and_resets() -> None:
    cache = EventCache()
    cache.merge_raw("conv", conv("a", topic="Ops", members=["x"], last_message_nr=1))
    cache.merge_raw("conv", conv("a", topic=None, last_message_nr=3))
    header = cache.conversation("a")
    assert header is not None
    # null on the wire means "now empty"; a field not sent keeps its value
    assert (header.topic, header.members, header.last_message_nr) == (None, ("x",), 3)
    cache.merge_raw("conv", conv("a", is_reset=True, last_message_nr=4))
    header = cache.conversation("a")
    assert header is not None
    assert (header.members, header.last_message_nr) == (None, 4)  # replaced, not merged
    # A record that cannot be decoded keeps the last good one.
    cache.merge_raw("conv", conv("a", last_message_nr="not a number"))
    header = cache.conversation("a")
    assert header is not None
    assert header.last_message_nr == 4
    cache.merge_raw("contact", {"mk_rec_type": "contact", "account_id": "u", "display_name": "U"})
    contact = cache.contact("u")
    assert contact is not None
    assert contact.display_name == "U"
    assert cache.sizes == (1, 1)


def test_typed_and_raw_merges_mix() -> None:
    from fleep_async._converter import parse_record

    cache = EventCache()
    typed = parse_record(conv("a", topic="Ops", last_message_nr=1))
    assert isinstance(typed, ConversationRecord)
    cache.update_conversation(typed)
    cache.merge_raw("conv", conv("a", last_message_nr=2))
    header = cache.conversation("a")
    assert header is not None
    assert (header.topic, header.last_message_nr) == ("Ops", 2)


def _raw_kinds(cache: EventCache) -> list[type]:
    return [type(entry.raw) for entry in cache._conversations.entries.values()]


def test_headers_out_of_the_working_set_are_packed_and_read_back_unchanged() -> None:
    # Only the recently used headers stay as dicts; the others are packed (JSON bytes), and
    # merges, nulls and resets into packed headers give what an unpacked cache gives.
    packed, plain = EventCache(), EventCache()
    packed._conversations.working = 2
    updates = [
        conv("a", topic="Ops", members=["x", "y"], last_message_nr=1, inbox_time=1.5),
        conv("b", topic="Dev", members=["z"], last_message_nr=1),
        conv("c", topic="QA", last_message_nr=1),
        conv("d", topic="Sales", last_message_nr=1),
        conv("a", topic=None, last_message_nr=3),  # into a packed header: null clears
        conv("e", topic="Support", last_message_nr=1),
        conv("f", topic="Legal", last_message_nr=1),
        conv("b", is_reset=True, last_message_nr=9),  # a reset of a packed header
        conv("g", topic="HR", last_message_nr=1),
        conv("h", topic="IT", last_message_nr=1),
    ]
    for raw in updates:
        packed.merge_raw("conv", raw)
        plain.merge_raw("conv", raw)
    kinds = _raw_kinds(packed)
    assert kinds.count(dict) == 2
    assert kinds.count(bytes) == 6
    for cid in "abcdefgh":
        assert packed.conversation(cid) == plain.conversation(cid)
    header = packed.conversation("a")
    assert header is not None
    assert (header.topic, header.members, header.last_message_nr, header.inbox_time) == (
        None,
        ("x", "y"),
        3,
        1.5,
    )
    header = packed.conversation("b")
    assert header is not None
    assert (header.topic, header.members, header.last_message_nr) == (None, None, 9)
    assert _raw_kinds(packed).count(dict) == 2  # looking headers up keeps the bound too


def test_a_packed_header_is_built_again_equal_and_a_broken_one_keeps_its_last_good_record() -> None:
    cache = EventCache()
    cache._conversations.working = 1
    cache.merge_raw("conv", conv("a", topic="Ops", last_message_nr=1))
    first = cache.conversation("a")
    assert first is not None
    assert cache.conversation("a") is first  # unchanged and in the working set: reused
    cache.merge_raw("conv", conv("b", topic="Dev"))  # "a" is packed, its record dropped
    assert _raw_kinds(cache) == [bytes, dict]
    again = cache.conversation("a")
    assert again == first
    # A bad update: the last good record stays, through packing as well.
    cache.merge_raw("conv", conv("a", last_message_nr="not a number"))
    kept = cache.conversation("a")
    assert kept is not None
    assert kept.last_message_nr == 1
    cache.merge_raw("conv", conv("c", topic="QA"))
    kept = cache.conversation("a")
    assert kept is not None
    assert kept.last_message_nr == 1
    cache.merge_raw("conv", conv("a", last_message_nr=4))  # a good update heals it
    healed = cache.conversation("a")
    assert healed is not None
    assert (healed.topic, healed.last_message_nr) == ("Ops", 4)


def test_a_header_json_cannot_carry_stays_unpacked_and_unchanged() -> None:
    cache = EventCache()
    cache._conversations.working = 1
    huge = 2**70  # beyond what orjson writes: packing must not change or lose it
    cache.merge_raw("conv", conv("a", topic="Ops", last_message_nr=huge))
    cache.merge_raw("conv", conv("b", topic="Dev"))
    entry = cache._conversations.entries["a"]
    assert isinstance(entry.raw, dict)
    assert entry.raw["last_message_nr"] == huge
    header = cache.conversation("a")
    assert header is not None
    assert (header.topic, header.last_message_nr) == ("Ops", huge)


async def test_a_timed_out_attempt_is_retried_and_no_later_handler_inherits_its_deadline() -> None:
    router = Router()
    calls: list[tuple[str, int]] = []
    errors: list[ErrorEvent] = []

    @router.message(timeout=0.05)
    async def on_message(record: MessageRecord) -> None:
        calls.append(("message", record.message_nr))
        if len(calls) == 1:
            await anyio.sleep_forever()  # the first attempt hangs: timed out, retried

    @router.conversation()
    async def on_conversation(record: ConversationRecord) -> None:
        # No timeout of its own, and the engine has none: it must outlive the deadline the
        # message handler's timeout set in the same burst.
        await anyio.sleep(0.3)
        calls.append(("conv", record.last_message_nr or 0))

    @router.error()
    async def on_error(event: ErrorEvent) -> None:
        errors.append(event)

    store = RecordingStore()
    req = ScriptedRequester([poll(101, msg("a", 1), msg("a", 2), conv("a", last_message_nr=2))])
    engine = make_engine(req, router, store=store, handler_timeout=None)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(101)
            await engine.shutdown()
    assert calls == [("message", 1), ("message", 1), ("message", 2), ("conv", 2)]
    assert len(errors) == 1
    assert isinstance(errors[0].exception, HandlerTimeoutError)
    assert errors[0].will_retry
    assert engine.health.handled == 3
    assert engine.health.dead_lettered == 0


def test_the_event_stream_does_not_import_the_engine() -> None:
    # The dependency runs one way: _engine imports _stream, never the reverse (not even for
    # type checking), so the stream's contract with the engine is its StreamHost protocol.
    source = Path(cache_module.__file__).with_name("_stream.py").read_text(encoding="utf-8")
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "fleep_async.events._engine" not in imported
    assert "fleep_async.events" not in imported
