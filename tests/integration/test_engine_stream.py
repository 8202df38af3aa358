"""The engine against FakeFleep: session expiry, server resync, faults in the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from fleep_async._client import FleepClient
from fleep_async._retry import RetryPolicy
from fleep_async.errors import AuthenticationError
from fleep_async.events import (
    Context,
    EventEngine,
    FromAccount,
    MemoryStore,
    OfMessageType,
    Router,
)
from fleep_async.models import MessageRecord
from fleep_async.testing import FakeFleep

pytestmark = pytest.mark.anyio

WAIT = 30.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


class Harness:
    """A FakeFleep with a bot and a human in one conversation; the bot's handled texts."""

    def __init__(self, **fake_options: Any) -> None:
        fake_options.setdefault("hold_seconds", 0.5)
        self.fake = FakeFleep(**fake_options)
        self.bot = self.fake.create_account("bot@example.com", "pw", "Bot")
        self.human = self.fake.create_account("human@example.com", "pw", "Human")
        self.conversation_id = self.fake.create_conversation(self.human, "ops", [self.bot])
        self.handled: list[str] = []
        self.store = MemoryStore()
        self._changed = anyio.Event()

    def client(self, **kwargs: Any) -> FleepClient:
        if "session" not in kwargs:
            kwargs.update(email="bot@example.com", password="pw")
        return FleepClient(
            base_url=self.fake.base_url,
            transport=self.fake.transport(),
            allow_insecure_http=True,  # in-process ASGI transport
            **kwargs,
        )

    def router(self) -> Router:
        router = Router()

        @router.message(FromAccount(self.human.account_id), OfMessageType("text"))
        async def record(message: MessageRecord, ctx: Context[Any]) -> None:
            self.handled.append(message.text)
            self._changed.set()

        return router

    async def post(self, *texts: str) -> None:
        for text in texts:
            await self.fake.post_as(self.human, self.conversation_id, text)

    async def wait_handled(self, count: int) -> None:
        """Wait until ``count`` messages were handled (woken by the handler itself)."""
        while len(self.handled) < count:
            self._changed = anyio.Event()
            await self._changed.wait()

    @asynccontextmanager
    async def running(
        self, client: FleepClient, **engine_options: Any
    ) -> AsyncIterator[EventEngine[FleepClient]]:
        engine_options.setdefault("store", self.store)
        engine_options.setdefault("min_poll_interval", 0.01)
        engine = EventEngine(client, self.router(), **engine_options)
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            yield engine
            await engine.shutdown()


async def test_an_expired_session_mid_stream_is_renewed_without_loss() -> None:
    h = Harness()
    with anyio.fail_after(WAIT):
        async with h.client() as client, h.running(client) as engine:
            await h.post("one", "two")
            await h.wait_handled(2)
            await h.fake.wait_for(lambda: h.fake.parked_polls >= 1)
            old_ticket = client.session_state.ticket  # type: ignore[union-attr]
            assert h.fake.expire_session(h.bot) >= 1  # the parked poll answers 401
            await h.post("three", "four")
            await h.wait_handled(4)
            assert client.session_state.ticket != old_ticket  # type: ignore[union-attr]
            assert engine.running
    assert h.handled == ["one", "two", "three", "four"]


async def test_unrecoverable_session_expiry_ends_run_with_the_error() -> None:
    h = Harness()
    with anyio.fail_after(WAIT):
        async with h.client() as first:
            state = first.session_state
        assert state is not None
        # A client resumed from a saved session, without a password: it cannot log in again.
        async with h.client(session=state) as client:
            engine = EventEngine(client, h.router(), store=h.store, min_poll_interval=0.01)
            failed: list[BaseException] = []

            async def run(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                try:
                    await engine.run(task_status=task_status)
                except AuthenticationError as exc:
                    failed.append(exc)

            async with anyio.create_task_group() as tg:
                await tg.start(run)
                await h.post("one")
                await h.wait_handled(1)
                await h.fake.wait_for(lambda: h.fake.parked_polls >= 1)
                h.fake.expire_session(h.bot)
    assert len(failed) == 1
    assert failed[0].status_code == 401  # type: ignore[attr-defined]
    assert not engine.running
    assert h.store.checkpoint is not None  # checkpointed on the way out
    assert h.handled == ["one"]


async def test_a_server_resync_is_handled_reported_and_loses_nothing() -> None:
    h = Harness(sync_messages=10)
    resyncs: list[bool] = []
    with anyio.fail_after(WAIT):
        async with (
            h.client() as client,
            h.running(client, dedup=True, on_resync=lambda: resyncs.append(True)) as engine,
        ):
            await h.post("one", "two", "three")
            await h.wait_handled(3)
            h.fake.force_resync(h.bot)
            # The initial sync re-sends the recent messages: deduplicated, not handled again.
            # A poll parks again once the resync is over.
            await h.fake.wait_for(lambda: engine.health.resyncs == 1 and h.fake.parked_polls >= 1)
            await h.post("four")
            await h.wait_handled(4)
            health = engine.health
    # The resync re-sent one, two and three, and the conversation's "create" system message
    # (older than the bot's start): all at or below the engine's positions, so not delivered
    # (dropped before the deduplicator sees them).
    assert h.handled == ["one", "two", "three", "four"]
    assert resyncs == [True]
    assert health.deduplicated == 0
    assert h.store.checkpoint is not None
    assert h.store.checkpoint.horizon is not None
    assert h.store.checkpoint.horizon > 0


async def test_duplicated_and_reordered_stream_records_are_handled_once() -> None:
    h = Harness()
    # Stream faults apply to the next polls with records: one fault per poll.
    h.fake.faults.duplicate_records(times=2)
    h.fake.faults.reorder_records(times=2)
    with anyio.fail_after(WAIT):
        async with h.client() as client, h.running(client, dedup=True) as engine:
            for round_ in range(4):
                await h.post(*[f"m{round_}-{i}" for i in range(3)])
                await h.wait_handled(3 * (round_ + 1))
            deduplicated = engine.health.deduplicated
    assert sorted(h.handled) == sorted(f"m{r}-{i}" for r in range(4) for i in range(3))
    assert len(h.handled) == 12
    assert h.fake.faults.counts["duplicate"] == 2
    assert h.fake.faults.counts["reorder"] == 2
    assert deduplicated >= 6  # every record of the two duplicated answers came twice


async def test_poll_failures_back_off_and_recover() -> None:
    h = Harness()
    with anyio.fail_after(WAIT):
        # No transport retries: every failure reaches the engine's own backoff.
        async with (
            h.client(retry=RetryPolicy.none()) as client,
            h.running(client, sleep=no_sleep) as engine,
        ):
            await h.post("one")
            await h.wait_handled(1)
            h.fake.faults.fail("account/poll", 503, times=2)
            h.fake.faults.fail("account/poll", 429, retry_after=3)
            h.fake.faults.malformed("account/poll")
            h.fake.faults.drop("account/poll", commit=False)
            h.fake.release_polls()  # the parked poll answers now; the next ones fail
            h.fake.reopen()
            # Five failed polls later, a poll parks again.
            await h.fake.wait_for(
                lambda: sum(engine.health.retries.values()) == 5 and h.fake.parked_polls >= 1
            )
            await h.post("two")
            await h.wait_handled(2)
            retries = dict(engine.health.retries)
    assert h.handled == ["one", "two"]
    assert retries.get("server", 0) == 2
    assert retries.get("rate_limit", 0) == 1
    assert retries.get("decode", 0) == 1
    assert retries.get("transport", 0) == 1


async def test_a_full_backlog_syncs_history_in_batches_with_progress() -> None:
    h = Harness(sync_batch_size=2, sync_messages=3)
    others = []
    for i in range(5):
        cid = h.fake.create_conversation(h.human, f"topic {i}", [h.bot])
        others.append(cid)
        await h.fake.post_as(h.human, cid, f"old {i}")
    progress: list[float] = []
    with anyio.fail_after(WAIT):
        async with (
            h.client() as client,
            h.running(
                client, backlog="full", dedup=True, on_sync_progress=progress.append
            ) as engine,
        ):
            await h.wait_handled(5)
            await h.fake.wait_for(lambda: h.fake.parked_polls >= 1)
            await h.post("new")
            await h.wait_handled(6)
            header = engine.cache.conversation(others[0])
    assert sorted(h.handled) == sorted([*(f"old {i}" for i in range(5)), "new"])
    assert progress == sorted(progress)
    assert len(progress) >= 3  # 6 conversations in batches of 2
    assert progress[-1] == 1.0
    assert header is not None
    assert header.topic == "topic 0"


async def test_the_events_iterator_resumes_where_it_stopped() -> None:
    h = Harness()
    got: list[str] = []
    with anyio.fail_after(WAIT):
        async with h.client() as client:
            engine = EventEngine(client, store=h.store, dedup=True, min_poll_interval=0.01)
            async with engine.events(kinds=["message"]) as stream:
                await h.post("a", "b", "c", "d")
                async for record in stream:
                    if record.account_id == h.human.account_id:
                        got.append(record.text)
                    if len(got) == 2:
                        break
            # a second consumer (a restarted bot) continues from the checkpoint
            engine2 = EventEngine(client, store=h.store, dedup=True, min_poll_interval=0.01)
            async with engine2.events(kinds=["message"]) as stream:
                async for record in stream:
                    if record.account_id == h.human.account_id:
                        got.append(record.text)
                    if got[-1] == "d":
                        break
    # "b" was being processed at the break: not committed, so delivered again (and not
    # deduplicated: it was never marked handled); "a" was, so it is not delivered again.
    assert got == ["a", "b", "b", "c", "d"]


async def test_the_partial_header_after_the_bots_own_team_change_merges_into_the_cache() -> None:
    # After its own team change the poll brings the actor a partial header (no cmail,
    # autojoin_url or mk_init_mode, as the real server): the cache keeps what it knew.
    h = Harness()
    cid = h.conversation_id
    with anyio.fail_after(WAIT):
        async with h.client() as client, h.running(client) as engine:
            await h.post("hello")
            await h.wait_handled(1)
            full = engine.cache.conversation(cid)
            assert full is not None
            assert full.cmail
            assert full.mk_init_mode == "ic_full"
            created = await client.team.create(team_name="ops team")
            team_id = created.stream[0].team_id  # type: ignore[union-attr]
            await client.team.configure(team_id, add_conversations=[cid])

            def linked() -> bool:
                header = engine.cache.conversation(cid)
                return header is not None and header.teams == (team_id,)

            await h.fake.wait_for(lambda: linked() and h.fake.parked_polls >= 1, timeout=WAIT)
            header = engine.cache.conversation(cid)
    # What the server sent the bot last for this conversation was indeed partial.
    log, _ = h.fake.world.accounts[h.bot.account_id].log.after(0, 100_000)
    sent = [r for r in log if r.get("mk_rec_type") == "conv" and r["conversation_id"] == cid]
    assert "cmail" not in sent[-1]
    assert sent[-1]["teams"] == [team_id]
    assert header is not None
    assert (header.cmail, header.autojoin_url) == (full.cmail, full.autojoin_url)
    assert header.mk_init_mode == "ic_full"
    assert header.label_ids  # the team label came with the partial header
    assert header.guests == ()
    assert sorted(header.members or ()) == sorted([h.bot.account_id, h.human.account_id])
