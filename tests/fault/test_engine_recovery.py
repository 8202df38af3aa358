"""Recovery behaviours of the event engine that the chaos suite relies on, one test each.

Each was found (or could only be seen) under chaos; here each is pinned down deterministically,
against a scripted requester (unit doubles of ``tests/unit/test_events_fakes.py``) or an
in-process FakeFleep:

- a poll answer whose records arrive shuffled is handled in flow order per conversation;
- after a server resync, the messages the initial sync leaves out are fetched and handled, in
  order, for every conversation whose position the engine knows (from this run, or from the
  dedup state saved before a restart); unknown conversations get the sync's messages only;
- a fresh start that skips the backlog has saved its starting horizon by the time ``run()``
  reports started, so a process that dies right after does not skip again;
- ``ctx.idempotency_key`` names a record revision stably across re-deliveries.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from fleep_async import FleepClient, parse_record
from fleep_async.errors import PermissionDeniedError, UsageError
from fleep_async.events import (
    Checkpoint,
    Context,
    Deduplicator,
    EventEngine,
    MemoryStore,
    Router,
)
from fleep_async.models import MessageRecord
from fleep_async.testing import FakeFleep
from tests.unit.test_events_fakes import (
    FakeTime,
    RecordingStore,
    ScriptedRequester,
    contact,
    conv,
    msg,
    poll,
)

pytestmark = pytest.mark.anyio

WAIT = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class SyncingRequester(ScriptedRequester):
    """A scripted requester that also answers ``conversation/sync`` from stored messages."""

    def __init__(self, script: list[Any], *, flows: dict[str, list[dict[str, Any]]], **kw: Any):
        super().__init__(script, **kw)
        self.flows = flows
        self.page = 3
        self.denied: set[str] = set()
        self.syncs: list[tuple[str, int]] = []

    async def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        if not path.startswith("conversation/sync/"):
            return await super().request(
                path, body, idempotent=idempotent, long_poll=long_poll, auth=auth
            )
        cid = path.removeprefix("conversation/sync/")
        after = int((body or {})["from_message_nr"])
        self.syncs.append((cid, after))
        assert idempotent
        if cid in self.denied:
            raise PermissionDeniedError(
                "not a member", status_code=403, endpoint="conversation/sync"
            )
        if "/" in cid:
            raise UsageError("a path segment that is not an id")  # as the real client does
        changed = [r for r in self.flows.get(cid, []) if r["message_nr"] > after]
        return {"header": conv(cid), "stream": changed[: self.page]}


class Handled:
    """The messages handled, in order; a test can wait for a count."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []
        self.keys: list[str | None] = []
        self._changed = anyio.Event()

    def router(self) -> Router:
        router = Router()

        @router.message()
        async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
            self.items.append((record.conversation_id, record.message_nr))
            self.keys.append(ctx.idempotency_key)
            self._changed.set()
            self._changed = anyio.Event()

        return router

    async def wait(self, count: int) -> None:
        while len(self.items) < count:
            await self._changed.wait()

    def of(self, conversation_id: str) -> list[int]:
        return [nr for cid, nr in self.items if cid == conversation_id]


def engine_for(req: ScriptedRequester, handled: Handled, **kwargs: Any) -> EventEngine[Any]:
    time = FakeTime()
    kwargs.setdefault("store", RecordingStore())
    return EventEngine(
        req,
        handled.router(),
        sleep=time.sleep,
        clock=time.clock,
        random=lambda: 0.5,
        **kwargs,
    )


async def run_until(engine: EventEngine[Any], handled: Handled, count: int) -> None:
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await handled.wait(count)
            await anyio.wait_all_tasks_blocked()
            await engine.shutdown()


async def test_a_shuffled_poll_answer_is_handled_in_flow_order_per_conversation() -> None:
    shuffled = [
        msg("a", 3),
        contact("alice"),
        msg("b", 2),
        msg("a", 1),
        msg("a", 5, flow=6),  # an edit of message 5, at flow position 6
        msg("b", 1),
        msg("a", 2),
        msg("a", 4),
    ]
    req = ScriptedRequester([poll(101, *shuffled)])
    handled = Handled()
    engine = engine_for(req, handled)
    await run_until(engine, handled, 7)
    assert handled.of("a") == [1, 2, 3, 4, 5]
    assert handled.of("b") == [1, 2]


async def test_resync_fetches_the_messages_the_initial_sync_leaves_out() -> None:
    flow = [msg("a", nr) for nr in range(1, 10)]
    req = SyncingRequester(
        [
            poll(101, msg("a", 1), msg("a", 2)),
            poll(0),  # the server lost our place
            # The initial sync: the header and only the two latest messages.
            poll(120, conv("a", last_message_nr=9), msg("a", 8), msg("a", 9), sync_progress=1.0),
        ],
        flows={"a": flow},
    )
    handled = Handled()
    resyncs: list[bool] = []
    engine = engine_for(req, handled, on_resync=lambda: resyncs.append(True))
    await run_until(engine, handled, 9)
    assert handled.of("a") == list(range(1, 10))  # 3-7 fetched, all in order, none twice
    # Paged from the last position known, to the end (a later edit of an older message would
    # come after the sync's first message in flow order).
    assert req.syncs == [("a", 2), ("a", 5), ("a", 8), ("a", 9)]
    assert resyncs == [True]
    assert engine.store.checkpoint.horizon == 120  # type: ignore[attr-defined]


async def test_the_event_stream_gets_the_same_order_and_resync_backfill() -> None:
    req = SyncingRequester(
        [
            poll(101, msg("a", 2), msg("a", 1)),  # shuffled
            poll(0),
            poll(120, conv("a", last_message_nr=6), msg("a", 6), sync_progress=1.0),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 7)]},
    )
    time = FakeTime()
    engine = EventEngine(req, Router(), sleep=time.sleep, clock=time.clock, random=lambda: 0.5)
    seen: list[int] = []
    with anyio.fail_after(WAIT):
        async with engine.events(kinds=["message"]) as stream:
            async for record in stream:
                seen.append(record.message_nr)
                if len(seen) == 6:
                    break
    assert seen == [1, 2, 3, 4, 5, 6]


async def test_resync_backfill_starts_from_the_positions_saved_before_a_restart() -> None:
    saved = Deduplicator()
    for nr in range(1, 6):
        saved.mark(f"m:a:{nr}:{nr}", ("a", nr))
    store = MemoryStore(Checkpoint(horizon=101, account_id="bot", dedup=saved.export()))
    req = SyncingRequester(
        [
            poll(0),  # the first poll after the restart: resync
            poll(130, conv("a", last_message_nr=9), msg("a", 8), msg("a", 9), sync_progress=1.0),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 10)]},
    )
    handled = Handled()
    engine = engine_for(req, handled, store=store, dedup=True)
    await run_until(engine, handled, 4)
    assert handled.of("a") == [6, 7, 8, 9]
    assert req.syncs[0] == ("a", 5)


async def test_resync_gives_unknown_conversations_the_initial_sync_only() -> None:
    # The documented limit: with no position for a conversation there is nothing to fetch from.
    req = SyncingRequester(
        [
            poll(101, msg("a", 1)),
            poll(0),
            poll(
                140,
                conv("a", last_message_nr=4),
                msg("a", 4),
                conv("new", last_message_nr=7),
                msg("new", 7),
                sync_progress=1.0,
            ),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 5)]},
    )
    handled = Handled()
    engine = engine_for(req, handled)
    await run_until(engine, handled, 5)
    assert handled.of("a") == [1, 2, 3, 4]
    assert handled.of("new") == [7]
    assert {cid for cid, _ in req.syncs} == {"a"}


async def test_resync_never_delivers_what_preceded_the_starting_point() -> None:
    # The engine starts by skipping the backlog: "old" has messages 1-6, "a" 1-2. After a
    # resync the sync brings the latest of each again: none of "old" (all before the start),
    # "a" from 3 on, each once.
    req = SyncingRequester(
        [
            poll(101, msg("a", 3)),
            poll(0),
            poll(
                140,
                conv("old", last_message_nr=6),
                msg("old", 5),
                msg("old", 6),
                conv("a", last_message_nr=5),
                msg("a", 2),
                msg("a", 3),
                msg("a", 4),
                msg("a", 5),
                sync_progress=1.0,
            ),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 6)]},
        positions={"old": 6, "a": 2},
    )
    handled = Handled()
    engine = engine_for(req, handled)
    await run_until(engine, handled, 3)
    assert handled.items == [("a", 3), ("a", 4), ("a", 5)]
    assert req.syncs == []  # no gap to fetch: the sync brought everything after position 3
    assert engine.store.checkpoint.positions == {"old": 6, "a": 5}  # type: ignore[attr-defined]


async def test_resync_after_a_restart_delivers_once_what_follows_the_saved_positions() -> None:
    # Without dedup: the positions are saved with the checkpoint, so a resync after a restart
    # neither repeats what was handled nor skips what the sync leaves out.
    store = RecordingStore()
    first = SyncingRequester([poll(101, msg("a", 3))], flows={}, positions={"a": 2, "old": 9})
    handled = Handled()
    await run_until(engine_for(first, handled, store=store), handled, 1)
    assert store.checkpoint is not None
    assert store.checkpoint.positions == {"a": 3, "old": 9}
    second = SyncingRequester(
        [
            poll(0),  # the first poll after the restart: the server lost our place
            poll(
                150,
                conv("a", last_message_nr=7),
                msg("a", 6),
                msg("a", 7),
                conv("old", last_message_nr=9),
                msg("old", 8),
                msg("old", 9),
                sync_progress=1.0,
            ),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 8)]},
    )
    again = Handled()
    await run_until(engine_for(second, again, store=store), again, 4)
    assert again.items == [("a", 4), ("a", 5), ("a", 6), ("a", 7)]
    assert second.syncs[0] == ("a", 3)


@pytest.mark.parametrize("gone", ["gone", "../account/close"])
async def test_resync_backfill_skips_a_conversation_it_cannot_read(gone: str) -> None:
    req = SyncingRequester(
        [
            poll(101, msg(gone, 1), msg("a", 1)),
            poll(0),
            poll(
                150,
                conv(gone, last_message_nr=5),
                msg(gone, 5),
                conv("a", last_message_nr=3),
                msg("a", 3),
                sync_progress=1.0,
            ),
        ],
        flows={"a": [msg("a", nr) for nr in range(1, 4)]},
    )
    req.denied.add("gone")
    handled = Handled()
    engine = engine_for(req, handled)
    await run_until(engine, handled, 5)
    assert handled.of("a") == [1, 2, 3]
    assert handled.of(gone) == [1, 5]
    assert engine.store.checkpoint.horizon == 150  # type: ignore[attr-defined]


async def test_a_skip_backlog_start_saves_its_horizon_before_reporting_started() -> None:
    req = ScriptedRequester([], sync_horizon=77)
    store = RecordingStore()
    engine = EventEngine(req, Router(), store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            # A process killed right now restarts from 77, not from a new current horizon.
            assert store.checkpoint is not None
            assert store.checkpoint.horizon == 77
            engine.stop()


async def test_idempotency_key_names_the_record_revision_across_redeliveries() -> None:
    handled = Handled()
    req = ScriptedRequester(
        [
            poll(101, msg("a", 1), msg("a", 2)),
            poll(102, msg("a", 1)),  # delivered again (say, after a restart)
            poll(103, msg("a", 1, "edited", flow=3)),  # a new revision of message 1
        ]
    )
    engine = engine_for(req, handled)  # no dedup: the handler sees the repeat
    await run_until(engine, handled, 4)
    assert handled.keys == ["m:a:1:1", "m:a:2:2", "m:a:1:1", "m:a:1:3"]
    # The same key as the deduplicator uses, and the reply's client_req_id derives from it.
    assert Deduplicator.key(msg("a", 1))[0] == "m:a:1:1"


async def test_idempotency_key_without_the_raw_record_is_none() -> None:
    keys: list[str | None] = []
    router = Router()

    @router.message()
    async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
        keys.append(ctx.idempotency_key)

    engine = EventEngine(ScriptedRequester([]), router)
    assert await engine.feed(msg("a", 1))
    assert await engine.feed(parse_record(msg("a", 2)))
    assert keys == ["m:a:1:1", None]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_resync_behind_a_long_backlog_loses_no_message_against_fakefleep(
    anyio_backend: str,
) -> None:
    # The engine is held back (a full queue) while 12 messages arrive in one conversation and
    # the server forgets the bot's place; the initial sync brings only the last 2 of them.
    fake = FakeFleep(hold_seconds=0.5, sync_messages=2, seed=9, welcome=False)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    started, gate, done = anyio.Event(), anyio.Event(), anyio.Event()
    seen: list[str] = []
    client = FleepClient(
        "bot@example.com",
        "pw",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,
    )

    @client.router.message()
    async def handler(record: MessageRecord) -> None:
        if record.text == "first":
            started.set()
            await gate.wait()
        seen.append(record.text)
        if len(seen) == 13:
            done.set()

    with anyio.fail_after(WAIT):
        async with client, anyio.create_task_group() as tg:
            await tg.start(lambda task_status: client.run(queue_size=1, task_status=task_status))
            await fake.post_as(human, cid, "first")
            await started.wait()
            texts = [f"m{i}" for i in range(12)]
            for text in texts:
                await fake.post_as(human, cid, text)
            fake.force_resync(bot)
            gate.set()
            await done.wait()
            await anyio.wait_all_tasks_blocked()
            client.stop()
    assert seen == ["first", *texts]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_resync_against_fakefleep_skips_the_history_before_the_start(
    anyio_backend: str,
) -> None:
    # The attack: 11 messages posted before the bot's first start, which skips them as
    # backlog; then the server forgets the bot's place. Before, the bot answered the 8 of them
    # that the initial sync brought back. Now: only what was posted after the start, once.
    fake = FakeFleep(hold_seconds=0.5, sync_messages=4, seed=3)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    convs = [fake.create_conversation(human, f"c{i}", [bot]) for i in range(3)]
    for i in range(11):
        await fake.post_as(human, convs[i % 3], f"old{i}")
    seen: list[str] = []
    done = anyio.Event()
    client = FleepClient(
        "bot@example.com",
        "pw",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,
    )

    @client.router.message()
    async def handler(record: MessageRecord) -> None:
        seen.append(record.text)
        if record.text == "last":
            done.set()

    with anyio.fail_after(WAIT):
        async with client, anyio.create_task_group() as tg:
            await tg.start(lambda task_status: client.run(task_status=task_status))
            await fake.post_as(human, convs[0], "new0")
            fake.force_resync(bot)
            await fake.post_as(human, convs[1], "new1")
            await fake.post_as(human, convs[2], "last")
            await done.wait()
            await anyio.wait_all_tasks_blocked()
            client.stop()
    assert sorted(seen) == ["last", "new0", "new1"]
