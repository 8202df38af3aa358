"""The event engine against a scripted requester, on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import attrs
import pytest
import sniffio
import trio
from trio.testing import MockClock

from fleep_async.errors import AuthenticationError, UsageError
from fleep_async.events import (
    DEFAULT_HANDLER_TIMEOUT,
    Checkpoint,
    Context,
    Deduplicator,
    ErrorEvent,
    EventEngine,
    HandlerTimeoutError,
    MemoryStore,
    Router,
    SkipHandler,
)
from fleep_async.events._watermark import Watermark
from fleep_async.models import MessageRecord
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

WAIT = 5.0  # every wait in this module fails the test after this many seconds


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_engine(
    req: ScriptedRequester,
    router: Router,
    *,
    time: FakeTime | None = None,
    **kwargs: Any,
) -> EventEngine[ScriptedRequester]:
    time = time or FakeTime()
    kwargs.setdefault("store", RecordingStore())
    return EventEngine(
        req,
        router,
        sleep=time.sleep,
        clock=time.clock,
        random=lambda: 0.5,
        **kwargs,
    )


async def run_to_horizon(engine: EventEngine[Any], horizon: int) -> None:
    """Run ``engine`` until its store holds ``horizon``, then shut it down (within WAIT)."""
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await engine.store.wait_horizon(horizon)  # type: ignore[attr-defined]
            await engine.shutdown()


class Counter:
    """Counts handled records; lets a test wait for a number of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []
        self._waiters: list[tuple[int, anyio.Event]] = []

    def add(self, record: MessageRecord) -> None:
        self.items.append((record.conversation_id, record.message_nr))
        for count, event in list(self._waiters):
            if len(self.items) >= count:
                event.set()
                self._waiters.remove((count, event))

    async def wait(self, count: int) -> None:
        if len(self.items) >= count:
            return
        event = anyio.Event()
        self._waiters.append((count, event))
        await event.wait()


async def test_runs_on_the_parametrized_backend(anyio_backend: str) -> None:
    assert sniffio.current_async_library() == anyio_backend
    router = Router()
    seen = Counter()

    @router.message()
    async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
        seen.add(record)

    req = ScriptedRequester([poll(101, msg("c1", 1))])
    engine = make_engine(req, router)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(1)
            await engine.shutdown()
    assert seen.items == [("c1", 1)]
    assert engine.store.checkpoint.horizon == 101  # type: ignore[attr-defined]


async def test_order_within_a_conversation_is_kept_under_concurrency() -> None:
    convs = ["a", "b", "c", "d"]
    records = [msg(c, nr) for nr in range(1, 11) for c in convs]
    req = ScriptedRequester([poll(101, *records[:20]), poll(102, *records[20:])])
    router = Router()
    seen = Counter()
    running = 0
    peak = 0

    @router.message()
    async def handler(record: MessageRecord) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        # Yield a varying number of times so that conversations overtake each other.
        for _ in range((record.message_nr * 7 + ord(record.conversation_id)) % 5):
            await anyio.lowlevel.checkpoint()
        running -= 1
        seen.add(record)

    engine = make_engine(req, router, max_concurrency=3)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(len(records))
            await engine.shutdown()
    for c in convs:
        assert [nr for cid, nr in seen.items if cid == c] == list(range(1, 11))
    assert seen.items != [(r["conversation_id"], r["message_nr"]) for r in records]
    assert 1 < peak <= 3


async def test_a_full_queue_pauses_polling_until_there_is_room() -> None:
    release = anyio.Event()
    started = Counter()
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        started.add(record)
        await release.wait()

    req = ScriptedRequester([poll(101, msg("a", 1), msg("b", 1), msg("c", 1)), poll(102)])
    engine = make_engine(req, router, queue_size=2)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await started.wait(2)
            await anyio.wait_all_tasks_blocked()
            # Two records fill the queue: the third waits, and no poll is issued meanwhile.
            assert req.polls == 1
            assert engine.health.queue_depth == 2
            assert len(started.items) == 2
            release.set()
            await req.wait_polls(2)
            await started.wait(3)
            await engine.shutdown()
    assert engine.health.queue_depth == 0


async def test_a_failing_handler_does_not_stop_the_engine() -> None:
    router = Router()
    seen = Counter()
    errors: list[ErrorEvent] = []
    dead: list[tuple[Any, BaseException]] = []

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.message_nr == 2:
            raise ValueError("bad record")
        seen.add(record)

    @router.error(ValueError)
    async def on_error(event: ErrorEvent, ctx: Context[Any]) -> None:
        errors.append(event)

    req = ScriptedRequester(
        [poll(101, msg("a", 1), msg("a", 2), msg("a", 3)), poll(102, msg("b", 1))]
    )
    engine = make_engine(
        req, router, retry_budget=0, on_dead_letter=lambda r, e: dead.append((r, e))
    )
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(3)
            await engine.store.wait_horizon(102)  # type: ignore[attr-defined]
            await engine.shutdown()
    assert sorted(seen.items) == [("a", 1), ("a", 3), ("b", 1)]
    assert len(errors) == 1
    assert isinstance(errors[0].exception, ValueError)
    assert errors[0].will_retry is False
    assert [(r.message_nr, type(e)) for r, e in dead] == [(2, ValueError)]
    health = engine.health
    assert (health.handled, health.handler_errors, health.dead_lettered) == (3, 1, 1)


async def test_a_poison_record_is_retried_with_backoff_then_dead_lettered() -> None:
    router = Router()
    attempts: list[int] = []
    seen = Counter()
    dead: list[Any] = []

    @router.message()
    async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
        if record.message_nr == 1:
            attempts.append(ctx.attempt)
            raise RuntimeError("poison")
        seen.add(record)

    time = FakeTime()
    req = ScriptedRequester([poll(101, msg("a", 1), msg("a", 2))])

    async def on_dead(record: Any, exc: BaseException) -> None:
        dead.append((record.message_nr, str(exc)))

    engine = make_engine(req, router, time=time, retry_budget=2, on_dead_letter=on_dead)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(1)
            await engine.store.wait_horizon(101)  # type: ignore[attr-defined]
            await engine.shutdown()
    assert attempts == [1, 2, 3]
    assert dead == [(1, "poison")]
    # Full jitter with random()=0.5 over the default 0.5 s doubling backoff.
    assert time.sleeps[:2] == [0.25, 0.5]
    assert seen.items == [("a", 2)]  # the conversation went on after the poison record


async def test_a_transient_handler_failure_succeeds_on_retry_with_the_same_reply_id() -> None:
    router = Router()
    calls = 0

    @router.message()
    async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
        nonlocal calls
        calls += 1
        await ctx.reply("pong")
        if calls == 1:
            raise ConnectionError("flaky")

    req = ScriptedRequester([poll(101, msg("a", 1))])
    engine = make_engine(req, router, retry_budget=1)
    await run_to_horizon(engine, 101)
    assert calls == 2
    assert [cid for cid, _ in req.sent] == ["a", "a"]
    ids = {body["client_req_id"] for _, body in req.sent}
    assert len(ids) == 1  # the retried reply is the same request: Fleep posts it once
    send_flags = [flags for path, _, flags in req.calls if path.startswith("message/store/")]
    assert len(send_flags) == 2
    assert all(flags["idempotent"] for flags in send_flags)
    assert engine.health.dead_lettered == 0


async def test_stop_lets_running_handlers_finish_and_leaves_the_rest_uncommitted() -> None:
    release = anyio.Event()
    started = Counter()
    done = Counter()
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        started.add(record)
        if record.message_nr == 1:
            await release.wait()
        done.add(record)

    store = RecordingStore(Checkpoint(horizon=100))
    req = ScriptedRequester([poll(101, msg("a", 1)), poll(102, msg("a", 2))])
    engine = make_engine(req, router, store=store)
    finished = anyio.Event()

    async def run() -> None:
        await engine.run()
        finished.set()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await started.wait(1)
            await req.wait_polls(2)
            await anyio.wait_all_tasks_blocked()
            engine.stop(deadline=WAIT * 2)
            await anyio.wait_all_tasks_blocked()
            assert not finished.is_set()  # draining: waiting for the running handler
            assert engine.health.state == "draining"
            release.set()
            await finished.wait()
    assert done.items == [("a", 1)]  # finished in time
    assert started.items == [("a", 1)]  # ("a", 2) was queued, not started: left for next run
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 101
    assert engine.health.state == "stopped"


async def test_stop_cancels_handlers_that_overrun_the_deadline() -> None:
    cancelled = anyio.Event()
    started = Counter()
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        started.add(record)
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    store = RecordingStore(Checkpoint(horizon=100))
    req = ScriptedRequester([poll(101, msg("a", 1))])
    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await started.wait(1)
            await engine.shutdown(deadline=0.01)
    assert cancelled.is_set()
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 100  # the unfinished record keeps its batch uncommitted


async def test_the_committed_horizon_never_passes_an_unfinished_batch() -> None:
    release_a = anyio.Event()
    seen = Counter()
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.conversation_id == "a":
            await release_a.wait()
        seen.add(record)

    store = RecordingStore(Checkpoint(horizon=5))
    req = ScriptedRequester(
        [poll(10, msg("a", 1), msg("b", 1)), poll(20, msg("b", 2)), poll(30, msg("b", 3))]
    )
    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(3)  # b1, b2, b3 done while a1 is stuck
            await req.wait_polls(4)
            await anyio.wait_all_tasks_blocked()
            assert seen.items == [("b", 1), ("b", 2), ("b", 3)]
            assert engine.health.committed_horizon == 5
            assert all(cp.horizon == 5 for cp in store.history)
            assert engine.health.lag == 25
            release_a.set()
            await store.wait_horizon(30)
            await engine.shutdown()
    assert [cp.horizon for cp in store.history] in ([30], [5, 30])


async def test_the_servers_resync_request_restarts_from_zero_without_duplicates() -> None:
    router = Router()
    seen = Counter()
    resyncs: list[int] = []
    progress: list[float] = []

    @router.message()
    async def handler(record: MessageRecord) -> None:
        seen.add(record)

    store = RecordingStore(Checkpoint(horizon=40))
    req = ScriptedRequester(
        [
            poll(50, msg("a", 1)),
            poll(0),  # the server asks for a resync
            poll(-3, conv("a", topic="x"), msg("a", 1), sync_progress=0.5),
            poll(60, msg("a", 2), sync_progress=1.0),
        ]
    )
    engine = make_engine(
        req,
        router,
        store=store,
        dedup=True,
        on_resync=lambda: resyncs.append(1),
        on_sync_progress=progress.append,
    )
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(60)
            await engine.shutdown()
    assert seen.items == [("a", 1), ("a", 2)]  # a1 again in the resync: not delivered again
    assert resyncs == [1]
    assert engine.health.resyncs == 1
    assert engine.health.deduplicated == 0  # dropped before dedup: at the engine's position
    assert progress == [0.0, 0.5, 1.0]  # 0.0: the resync starts a new sync
    sent = [(b["event_horizon"], b["wait"]) for b in req.poll_bodies]
    assert sent[:4] == [(40, True), (50, True), (0, False), (-3, False)]
    assert sent[4] == (60, True)
    # Non-positive horizons are never committed.
    assert all(cp.horizon is not None and cp.horizon > 0 for cp in store.history)
    assert engine.cache.conversation("a") is not None


async def test_an_unrecoverable_auth_error_ends_run_and_checkpoints() -> None:
    router = Router()
    seen = Counter()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        seen.add(record)

    async def expired(body: dict[str, Any]) -> dict[str, Any]:
        await seen.wait(1)  # the session dies after the first record was handled
        raise AuthenticationError(status_code=401, endpoint="account/poll")

    store = RecordingStore(Checkpoint(horizon=5))
    req = ScriptedRequester([poll(10, msg("a", 1)), expired])
    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT), pytest.raises(AuthenticationError):
        await engine.run()
    assert seen.items == [("a", 1)]
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 10
    assert req.polls == 2  # not retried
    assert not engine.running


async def test_backlog_skip_starts_at_the_current_horizon_and_saves_it() -> None:
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        pass

    store = RecordingStore(Checkpoint(horizon=5))
    req = ScriptedRequester(sync_horizon=77)
    engine = make_engine(req, router, store=store, backlog="skip")
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await req.wait_polls(1)
            await store.wait_horizon(77)
            await engine.shutdown()
    # The starting point: the conversations' positions, then the horizon.
    assert [c[0] for c in req.calls[:3]] == ["conversation/list", "account/sync", "account/poll"]
    assert req.poll_bodies[0] == {"event_horizon": 77, "wait": True}


async def test_backlog_resume_without_a_stored_horizon_skips_history() -> None:
    req = ScriptedRequester(sync_horizon=33)
    engine = make_engine(req, Router(), store=RecordingStore())
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await req.wait_polls(1)
            await engine.shutdown()
    assert [c[0] for c in req.calls[:2]] == ["conversation/list", "account/sync"]
    assert req.poll_bodies[0]["event_horizon"] == 33


async def test_backlog_full_syncs_from_zero_and_reports_progress() -> None:
    router = Router()
    seen = Counter()
    progress: list[float] = []

    @router.message()
    async def handler(record: MessageRecord) -> None:
        seen.add(record)

    req = ScriptedRequester(
        [
            poll(-1, conv("a"), msg("a", 1), sync_progress=0.25, sync_cursor="cur1"),
            poll(-2, msg("b", 1), sync_progress=0.75),
            poll(9, sync_progress=1.0),
        ]
    )
    store = RecordingStore(Checkpoint(horizon=5))
    engine = make_engine(req, router, store=store, backlog="full", poll_flags=["skip_hidden"])
    engine.on_sync_progress = progress.append
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(9)
            await req.wait_polls(4)  # after the (empty, so paced) last page of the sync
            await engine.shutdown()
    assert seen.items == [("a", 1), ("b", 1)]
    assert progress == [0.25, 0.75, 1.0]
    assert req.poll_bodies[0] == {"event_horizon": 0, "wait": False, "poll_flags": ["skip_hidden"]}
    assert req.poll_bodies[1]["event_horizon"] == -1
    assert req.poll_bodies[3] == {"event_horizon": 9, "wait": True}
    assert engine.health.sync_progress == 1.0
    assert engine._poller is not None
    assert engine._poller.sync_cursor == "cur1"


async def test_a_kinds_only_handler_called_directly_keeps_what_feed_means() -> None:
    """The lane worker calls a kind's only handler without the dispatcher's coroutine
    (Dispatcher.begin): the bot's own messages still go unhandled, a SkipHandler from that
    handler leaves its record unhandled (no error, no retry), a filtered handler sees only
    what matches, and the checkpoint still moves past all of them."""
    router = Router()
    messages: list[str] = []
    convs: list[str] = []
    errors: list[ErrorEvent] = []

    @router.message()
    async def on_message(record: MessageRecord) -> None:
        messages.append(record.text)
        if record.text == "skip":
            raise SkipHandler

    @router.conversation(lambda record: record.topic == "wanted")
    async def on_conv(record: Any) -> None:
        convs.append(record.conversation_id)

    @router.error()
    async def on_error(event: ErrorEvent) -> None:
        errors.append(event)

    stream = [
        msg("a", 1, "one"),
        msg("a", 2, "mine", account="bot"),  # the bot's own: skipped
        msg("a", 3, "skip"),
        conv("a", topic="wanted"),
        conv("b", topic="other"),
        msg("a", 4, "four"),
    ]
    req = ScriptedRequester([poll(101, *stream)])
    engine = make_engine(req, router)
    await run_to_horizon(engine, 101)
    assert messages == ["one", "skip", "four"]
    assert convs == ["a"]
    assert errors == []
    health = engine.health
    assert (health.handled, health.handler_errors, health.dead_lettered) == (3, 0, 0)


async def test_dedup_prevents_double_handling_after_a_crash_mid_batch() -> None:
    store = RecordingStore(Checkpoint(horizon=5))
    first = Counter()
    router = Router()
    stuck = anyio.Event()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.message_nr == 3:
            stuck.set()
            await anyio.sleep_forever()  # the crash happens while this one runs
        first.add(record)

    batch = [msg("a", 1), msg("a", 2), msg("a", 3), msg("b", 1)]
    req = ScriptedRequester([poll(10, *batch)])
    engine = make_engine(req, router, store=store, dedup=True)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await first.wait(3)
            await stuck.wait()
            tg.cancel_scope.cancel()  # abrupt: no drain
    assert sorted(first.items) == [("a", 1), ("a", 2), ("b", 1)]
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 5  # batch 10 was not finished
    assert store.checkpoint.dedup is not None

    # The restart polls from 5 again and gets the same records (plus a new one).
    second = Counter()
    router2 = Router()

    @router2.message()
    async def handler2(record: MessageRecord) -> None:
        second.add(record)

    req2 = ScriptedRequester([poll(10, *batch), poll(11, msg("a", 4))])
    engine2 = make_engine(req2, router2, store=store, dedup=True)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine2.run)
            await store.wait_horizon(11)
            await engine2.shutdown()
    assert req2.poll_bodies[0]["event_horizon"] == 5
    assert second.items == [("a", 3), ("a", 4)]
    assert engine2.health.deduplicated == 3


async def test_each_handled_record_is_saved_before_a_suspending_handler_of_the_next_ends() -> None:
    """With dedup on, every mark reaches the store while the next handler awaits: the writer
    is woken again after each save (a mark that left it asleep would be lost to a SIGKILL)."""
    store = RecordingStore(Checkpoint(horizon=5))
    router = Router()
    handled: list[int] = []

    def marked(nr: int) -> Callable[[Checkpoint], bool]:
        def holds(cp: Checkpoint) -> bool:
            if cp.dedup is None:
                return False
            saved = Deduplicator()
            saved.restore(cp.dedup)  # what a restarted engine would know
            return saved.seen(f"m:a:{nr}:{nr}", None)

        return holds

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if handled:  # the previous record's mark is written while this one waits for it
            await store.wait_for(marked(handled[-1]))
        handled.append(record.message_nr)

    req = ScriptedRequester([poll(10, *(msg("a", nr) for nr in range(1, 6)))])
    engine = make_engine(req, router, store=store, dedup=True)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_for(marked(5))
            await engine.shutdown()
    assert handled == [1, 2, 3, 4, 5]


async def test_without_dedup_a_restart_redelivers_what_was_not_committed() -> None:
    store = RecordingStore(Checkpoint(horizon=5))
    router = Router()
    seen = Counter()
    stuck = anyio.Event()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.message_nr == 2:
            stuck.set()
            await anyio.sleep_forever()
        seen.add(record)

    req = ScriptedRequester([poll(10, msg("a", 1), msg("a", 2))])
    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await stuck.wait()
            tg.cancel_scope.cancel()
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 5
    req2 = ScriptedRequester([poll(10, msg("a", 1), msg("a", 2))])
    router2 = Router()

    @router2.message()
    async def handler2(record: MessageRecord) -> None:
        seen.add(record)

    engine2 = make_engine(req2, router2, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine2.run)
            await store.wait_horizon(10)
            await engine2.shutdown()
    assert seen.items == [("a", 1), ("a", 1), ("a", 2)]  # at-least-once: a1 twice, a2 not lost


async def test_own_messages_are_skipped_unless_the_router_asks_for_them() -> None:
    default = Router()
    wants_own = Router(skip_own=False)
    default_seen = Counter()
    own_seen = Counter()

    @default.message()
    async def h1(record: MessageRecord) -> None:
        default_seen.add(record)
        raise AssertionError("unreachable for the bot's own message")

    @wants_own.message()
    async def h2(record: MessageRecord) -> None:
        own_seen.add(record)

    default.include_router(wants_own)
    req = ScriptedRequester([poll(101, msg("a", 1, account="bot"))], account_id="bot")
    engine = make_engine(req, default)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await own_seen.wait(1)
            await engine.shutdown()
    assert default_seen.items == []
    assert own_seen.items == [("a", 1)]


async def test_records_nobody_wants_are_not_decoded() -> None:
    # A broken message record: decoding it would fail and dead-letter it.
    broken = {"mk_rec_type": "message", "conversation_id": "a"}
    dead: list[Any] = []

    async def scenario(router: Router) -> EventEngine[ScriptedRequester]:
        req = ScriptedRequester([poll(101, broken, contact("u1", display_name="U"))])
        engine = make_engine(req, router, on_dead_letter=lambda r, e: dead.append(r))
        await run_to_horizon(engine, 101)
        return engine

    only_conv = Router()

    @only_conv.conversation()
    async def on_conv(record: Any) -> None:
        pass

    engine = await scenario(only_conv)
    assert dead == []
    assert engine.health.skipped == 2
    contact_record = engine.cache.contact("u1")  # contacts still feed the cache
    assert contact_record is not None
    assert contact_record.display_name == "U"

    wants_messages = Router()

    @wants_messages.message()
    async def on_message(record: Any) -> None:
        pass

    engine = await scenario(wants_messages)
    assert dead == [broken]  # decoded because wanted; undecodable, so dead-lettered
    assert engine.health.dead_lettered == 1


async def test_a_handler_timeout_is_a_failure() -> None:
    router = Router()
    errors: list[ErrorEvent] = []

    @router.message(timeout=0.01)
    async def slow(record: MessageRecord) -> None:
        await anyio.sleep_forever()

    @router.error()
    async def on_error(event: ErrorEvent) -> None:
        errors.append(event)

    req = ScriptedRequester([poll(101, msg("a", 1))])
    engine = make_engine(req, router, retry_budget=0)
    await run_to_horizon(engine, 101)
    assert len(errors) == 1
    assert isinstance(errors[0].exception, HandlerTimeoutError)
    assert "slow" in str(errors[0].exception)


@pytest.mark.parametrize(
    "anyio_backend",
    # Trio's autojump clock: the default timeout (minutes) passes in virtual time.
    [pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}), id="trio-mockclock")],
)
async def test_a_stuck_handler_cannot_hold_its_conversation_forever_by_default() -> None:
    router = Router()
    handled: list[int] = []
    dead: list[tuple[Any, BaseException]] = []

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.message_nr == 1:
            await anyio.sleep_forever()  # a dead socket, a lost lock
        handled.append(record.message_nr)

    store = RecordingStore()
    req = ScriptedRequester([poll(101, msg("a", 1), msg("a", 2))])
    # Library defaults: no handler_timeout, retry_budget or sleep passed.
    engine = EventEngine(req, router, store=store, on_dead_letter=lambda r, e: dead.append((r, e)))
    started = trio.current_time()
    # Virtual time: a stuck engine jumps straight to this deadline and fails the test.
    with anyio.fail_after(DEFAULT_HANDLER_TIMEOUT * 10):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(101)
            await engine.shutdown()
    # Three attempts (retry_budget=2) of 300 s each, then the dead letter; a2 is handled next.
    assert [type(exc) for _, exc in dead] == [HandlerTimeoutError]
    assert dead[0][0].message_nr == 1
    assert handled == [2]
    assert engine.health.handler_errors == 3
    assert trio.current_time() - started >= 3 * DEFAULT_HANDLER_TIMEOUT
    assert engine.handler_timeout == DEFAULT_HANDLER_TIMEOUT


async def test_the_committed_horizon_never_goes_back_without_a_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RecordingStore(Checkpoint(horizon=100))
    req = ScriptedRequester(
        [
            poll(200, msg("a", 1)),
            poll(150, msg("a", 2)),
            poll(50, msg("a", 3)),
            poll(0),  # the server's explicit resync: only then may the horizon go down
            poll(40, msg("a", 4)),
        ]
    )
    counter = Counter()
    router = Router()

    @router.message()
    async def handler(record: MessageRecord) -> None:
        counter.add(record)

    engine = make_engine(req, router, store=store)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await store.wait_horizon(40)
            await engine.shutdown()
    assert [n for _, n in counter.items] == [1, 2, 3, 4]
    committed = [cp.horizon for cp in store.history]
    assert 150 not in committed
    assert 50 not in committed
    assert committed[-1] == 40
    assert committed.index(200) < committed.index(40)
    assert "after 200; keeping 200" in caplog.text


def test_the_watermark_refuses_a_lower_horizon_unless_a_resync_came_first() -> None:
    mark = Watermark(200)
    assert not mark.seal(mark.open(150))
    assert mark.committed == 200
    assert mark.refused == 1
    mark.seal(mark.open(0, resync=True))
    mark.seal(mark.open(-3))
    assert mark.seal(mark.open(40))
    assert mark.committed == 40
    assert not mark.seal(mark.open(30))  # the resync allowed one step back, not more
    assert mark.committed == 40


async def test_the_events_iterator_commits_when_the_next_record_is_asked_for() -> None:
    store = RecordingStore(Checkpoint(horizon=5))
    req = ScriptedRequester([poll(10, msg("a", 1), msg("b", 1)), poll(20, msg("a", 2))])
    engine = make_engine(req, Router(), store=store, dedup=True)
    got: list[tuple[str, int]] = []
    with anyio.fail_after(WAIT):
        async with engine.events(kinds=["message"]) as stream:
            async for record in stream:
                got.append((record.conversation_id, record.message_nr))
                if len(got) == 2:
                    # b1 is being processed: batch 10 is not committed yet.
                    assert engine.health.committed_horizon == 5
                if len(got) == 3:
                    # asking for the 3rd committed batch 10
                    assert engine.health.committed_horizon == 10
                    break
    assert got == [("a", 1), ("b", 1), ("a", 2)]
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 10  # a2 was being processed at the break: not committed
    assert not engine.running

    # Restart: a2 comes again (not committed), a1 and b1 are deduplicated.
    req2 = ScriptedRequester([poll(20, msg("a", 1), msg("b", 1), msg("a", 2))])
    engine2 = make_engine(req2, Router(), store=store, dedup=True)
    with anyio.fail_after(WAIT):
        async with engine2.events() as stream:
            record = await stream.__anext__()
            assert (record.conversation_id, record.message_nr) == ("a", 2)
            engine2.stop()
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
    assert store.checkpoint.horizon == 20


async def test_stop_ends_an_events_iterator_blocked_in_a_poll() -> None:
    req = ScriptedRequester([poll(101, msg("a", 1))])
    engine = make_engine(req, Router())
    got = []
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for record in engine.events():
                    got.append(record)

            tg.start_soon(consume)
            await req.wait_polls(2)
            await anyio.wait_all_tasks_blocked()
            engine.stop()
    assert len(got) == 1
    assert engine.store.checkpoint.horizon == 101  # type: ignore[attr-defined]


async def test_health_is_a_frozen_snapshot() -> None:
    req = ScriptedRequester([poll(101, msg("a", 1))])  # not empty: the next poll is not paced
    time = FakeTime()
    engine = make_engine(req, Router(), time=time)
    before = engine.health
    assert before.state == "idle"
    assert not before.running
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await req.wait_polls(2)
            time.now += 3
            health = engine.health
            assert health.running
            assert health.polls == 1
            assert health.horizon == 101
            assert health.seconds_since_poll == pytest.approx(3.0)
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                health.polls = 5  # type: ignore[misc]
            with pytest.raises(TypeError):
                health.retries["x"] = 1  # type: ignore[index]
            await engine.shutdown()
    assert engine.health.state == "stopped"


async def test_stop_before_run_returns_without_polling() -> None:
    req = ScriptedRequester([poll(101)])
    engine = make_engine(req, Router())
    engine.stop()
    with anyio.fail_after(WAIT):
        await engine.run()
    assert req.calls == []


async def test_run_is_not_reentrant_and_a_foreign_checkpoint_is_refused() -> None:
    req = ScriptedRequester()
    engine = make_engine(req, Router(), store=RecordingStore(Checkpoint(horizon=5)))
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            with pytest.raises(UsageError, match="already running"):
                await engine.run()
            await engine.shutdown()

    other = make_engine(
        ScriptedRequester(account_id="bot"),
        Router(),
        store=MemoryStore(Checkpoint(horizon=5, account_id="someone-else")),
    )
    with anyio.fail_after(WAIT), pytest.raises(UsageError, match="another account"):
        await other.run()


async def test_conversation_headers_are_merged_into_the_cache_for_handlers() -> None:
    router = Router()
    topics: list[str | None] = []

    @router.message()
    async def handler(record: MessageRecord, ctx: Context[Any]) -> None:
        assert ctx.conversation is not None
        topics.append(ctx.conversation.topic)
        assert ctx.conversation.last_message_nr == 7

    req = ScriptedRequester(
        [
            poll(101, conv("a", topic="Ops", members=["x"])),
            poll(102, conv("a", last_message_nr=7), msg("a", 7)),
        ]
    )
    engine = make_engine(req, router)
    await run_to_horizon(engine, 102)
    assert topics == ["Ops"]  # the partial header did not wipe the topic
    header = engine.cache.conversation("a")
    assert header is not None
    assert header.members == ("x",)


async def test_feed_dispatches_one_record_for_tests() -> None:
    router = Router()
    got: list[str] = []

    @router.message()
    async def handler(record: MessageRecord) -> None:
        got.append(record.text)

    engine = EventEngine(ScriptedRequester(), router)
    assert await engine.feed(msg("a", 1, "hi there")) is True
    assert await engine.feed(conv("a")) is False
    assert got == ["hi there"]


async def test_failing_hooks_error_handlers_and_middleware_are_contained() -> None:
    router = Router()
    seen = Counter()

    async def picky_middleware(handler: Any, record: Any, ctx: Context[Any]) -> Any:
        if record.message_nr == 2:
            raise KeyError("middleware bug")
        return await handler(record, ctx)

    router.outer_middleware(picky_middleware)

    @router.message()
    async def handler(record: MessageRecord) -> None:
        if record.message_nr == 1:
            raise ValueError("handler bug")
        seen.add(record)

    @router.error()
    async def broken_error_handler(event: ErrorEvent) -> None:
        raise RuntimeError("the error handler fails too")

    def broken_dead_letter(record: Any, exc: BaseException) -> None:
        raise RuntimeError("so does the dead-letter hook")

    req = ScriptedRequester([poll(101, msg("a", 1), msg("a", 2), msg("a", 3))])
    engine = make_engine(req, router, retry_budget=0, on_dead_letter=broken_dead_letter)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await seen.wait(1)
            await engine.store.wait_horizon(101)  # type: ignore[attr-defined]
            await engine.shutdown()
    assert seen.items == [("a", 3)]
    assert engine.health.dead_lettered == 2
    assert engine.health.handler_errors == 2


@pytest.mark.parametrize("where", ["outside the engine", "the engine's own"])
async def test_a_handler_that_cancels_its_engine_and_never_suspends_starts_no_other_record(
    anyio_backend: str, where: str
) -> None:
    # The handler cancels a scope around the engine (or stops the engine) and returns without
    # suspending; the cancellation reaches the worker only at its next suspension, so the
    # engine must look before it starts each record, not once per burst of them.
    router = Router()
    seen: list[int] = []
    records = [msg("a", nr) for nr in range(1, 11)]
    req = ScriptedRequester([poll(101, *records)])

    with anyio.fail_after(WAIT):
        with anyio.CancelScope() as kill:
            engine = make_engine(req, router)

            @router.message()
            async def handler(record: MessageRecord) -> None:
                seen.append(record.message_nr)
                if record.message_nr == 3:
                    if where == "outside the engine":
                        kill.cancel()
                    else:
                        engine.stop(0.0)

            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                if where == "outside the engine":
                    await anyio.sleep_forever()
    assert seen == [1, 2, 3]


async def test_a_shielded_scope_around_the_engine_keeps_an_outer_cancellation_out(
    anyio_backend: str,
) -> None:
    # Cancelling a scope outside a shield must not stop records inside it (the per-record test
    # looks no further out than the first shielded scope, as the backend's own check does).
    router = Router()
    seen = Counter()
    records = [msg("a", nr) for nr in range(1, 6)]
    req = ScriptedRequester([poll(101, *records)])
    engine = make_engine(req, router)

    with anyio.fail_after(WAIT):
        with anyio.CancelScope() as outer:

            @router.message()
            async def handler(record: MessageRecord) -> None:
                if record.message_nr == 2:
                    outer.cancel()
                seen.add(record)

            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as tg:
                    await tg.start(engine.run)
                    await seen.wait(5)
                    engine.stop()
    assert [nr for _, nr in seen.items] == [1, 2, 3, 4, 5]
    assert outer.cancel_called
