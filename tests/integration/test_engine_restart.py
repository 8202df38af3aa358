"""The engine against FakeFleep: a bot killed and restarted mid-stream loses nothing.

A simulated human posts messages while an echo bot (FleepClient + EventEngine with a durable
store) is cancelled abruptly at chosen instants: before its reply, after its reply but before
the handler returns, right after a handler returns, and from outside while a handler is
suspended. Each time a new bot
process-equivalent (new client, new engine, same store) takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from fleep_async._client import FleepClient
from fleep_async.events import (
    Context,
    EventEngine,
    FileStore,
    FromAccount,
    HorizonStore,
    SQLiteStore,
)
from fleep_async.events import Router as EventRouter
from fleep_async.models import MessageRecord
from fleep_async.testing import FakeFleep

pytestmark = pytest.mark.anyio

WAIT = 60.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def bot_client(fake: FakeFleep) -> FleepClient:
    return FleepClient(
        "bot@example.com",
        "pw",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,  # in-process ASGI transport: nothing leaves the process
    )


class Scenario:
    """One echo bot, restarted after each kill; a human posting ``total`` messages."""

    def __init__(self, fake: FakeFleep, store_factory: Callable[[], HorizonStore], *, dedup: bool):
        self.fake = fake
        self.store_factory = store_factory
        self.dedup = dedup
        self.bot = fake.create_account("bot@example.com", "pw", "Bot")
        self.human = fake.create_account("human@example.com", "pw", "Human")
        self.conversation_id = fake.create_conversation(self.human, "ops", [self.bot])
        self.posted: list[int] = []
        self.handled: list[int] = []
        self.kill_points: dict[str, str] = {}
        self.incarnations = 0
        self._all_posted = anyio.Event()
        self.outside_kill = anyio.Event()

    def router(self, kill: Callable[[], None], stop: Callable[[], None], total: int) -> Any:
        router = EventRouter()

        @router.message(FromAccount(self.human.account_id))
        async def echo(message: MessageRecord, ctx: Context[Any]) -> None:
            mode = self.kill_points.pop(message.text, None)
            if mode == "outside":
                # Blocked until the test cancels this incarnation from outside.
                self.outside_kill.set()
                await anyio.sleep_forever()
            if mode == "before_reply":
                kill()
                await anyio.lowlevel.checkpoint()
            await ctx.reply(f"echo {message.message_nr}")
            if mode == "after_reply":
                kill()
                await anyio.lowlevel.checkpoint()
            self.handled.append(message.message_nr)
            if mode == "after_return":
                kill()
            if len(set(self.handled)) == total and self._all_posted.is_set():
                stop()

        return router

    async def human_posts(self, total: int, started: anyio.Event) -> None:
        await started.wait()
        for i in range(total):
            self.posted.append(await self.fake.post_as(self.human, self.conversation_id, f"m{i}"))
            await anyio.lowlevel.checkpoint()
        self._all_posted.set()

    async def run(self, total: int) -> None:
        started = anyio.Event()
        async with anyio.create_task_group() as outer:
            outer.start_soon(self.human_posts, total, started)
            while not (self._all_posted.is_set() and set(self.handled) >= set(self.posted)):
                self.incarnations += 1
                async with bot_client(self.fake) as client:
                    with anyio.CancelScope() as kill_scope:
                        engine: EventEngine[FleepClient] = EventEngine(
                            client,
                            store=self.store_factory(),
                            dedup=self.dedup,
                            min_poll_interval=0.01,
                        )
                        engine.router.include_router(
                            self.router(kill_scope.cancel, engine.stop, total)
                        )
                        # Decided before the engine starts: its handler pops the kill point,
                        # possibly before tg.start() returns here.
                        kill_from_outside = "outside" in self.kill_points.values()
                        async with anyio.create_task_group() as tg:
                            await tg.start(engine.run)
                            started.set()
                            if kill_from_outside:
                                await self.outside_kill.wait()
                                self.outside_kill = anyio.Event()
                                kill_scope.cancel()
                    if not kill_scope.cancel_called:
                        # Stopped by the handler after the last message.
                        assert not engine.running


def file_store(tmp_path: Path) -> Callable[[], HorizonStore]:
    return lambda: FileStore(tmp_path / "bot.horizon")


def sqlite_store(tmp_path: Path) -> Callable[[], HorizonStore]:
    return lambda: SQLiteStore(tmp_path / "bot.db", name="echo-bot")


@pytest.mark.parametrize("make_store", [file_store, sqlite_store], ids=["file", "sqlite"])
async def test_killed_and_restarted_bot_handles_every_message_exactly_once(
    tmp_path: Path, make_store: Callable[[Path], Callable[[], HorizonStore]]
) -> None:
    fake = FakeFleep(hold_seconds=0.5, seed=7)
    scenario = Scenario(fake, make_store(tmp_path), dedup=True)
    total = 40
    # Keyed by text: the bot's replies take message numbers too.
    scenario.kill_points = {
        "m4": "before_reply",
        "m11": "after_reply",
        "m19": "after_return",
        "m30": "outside",
    }
    with anyio.fail_after(WAIT):
        await scenario.run(total)
    assert len(scenario.posted) == total
    assert sorted(scenario.handled) == sorted(scenario.posted)  # none lost, none twice
    assert scenario.kill_points == {}  # every kill point was hit
    assert scenario.incarnations >= 5
    replies = [
        m["message"]
        for m in fake.messages(scenario.conversation_id)
        if m["account_id"] == scenario.bot.account_id
    ]
    # The reply to m11 was sent by the incarnation killed after replying, and again by the next
    # one with the same client_req_id: the server posted it once.
    assert len(replies) == total
    assert len(set(replies)) == total


async def test_without_dedup_a_restarted_bot_loses_nothing(tmp_path: Path) -> None:
    fake = FakeFleep(hold_seconds=0.5, seed=8)
    scenario = Scenario(fake, file_store(tmp_path), dedup=False)
    total = 25
    scenario.kill_points = {"m4": "after_return", "m10": "before_reply"}
    with anyio.fail_after(WAIT):
        await scenario.run(total)
    assert len(scenario.posted) == total
    assert set(scenario.handled) == set(scenario.posted)  # at-least-once: nothing lost
    # Records of a batch that was not finished when the bot was killed come again: without
    # dedup their handlers run twice (this is what dedup=True is for).
    assert len(scenario.handled) >= total
