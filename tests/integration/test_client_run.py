"""FleepClient's own event API (router, run, stop, events, health) against FakeFleep."""

from __future__ import annotations

import anyio
import pytest

from fleep_async import FleepClient, MessageRecord, UsageError
from fleep_async.events import Command, Context
from fleep_async.testing import FakeFleep

pytestmark = pytest.mark.anyio

WAIT = 20.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _world() -> tuple[FakeFleep, str]:
    fake = FakeFleep(hold_seconds=0.5)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    return fake, fake.create_conversation(human, "ops", [bot])


def _client(fake: FakeFleep) -> FleepClient:
    return FleepClient("bot@example.com", "pw", base_url=fake.base_url, transport=fake.transport())


async def test_run_dispatches_to_the_client_router_and_stop_ends_it() -> None:
    fake, conversation_id = _world()
    replied = anyio.Event()
    async with _client(fake) as client:

        @client.router.message(Command("echo"))
        async def echo(message: MessageRecord, ctx: Context) -> None:
            await ctx.reply("echo: " + ctx.data["command"].args)
            replied.set()

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(client.run)
                assert client.health is not None
                await fake.post_as("human@example.com", conversation_id, "/echo hello")
                await replied.wait()
                client.stop()
        assert client.health is None

    bodies = [m["message"] for m in fake.messages(conversation_id)]
    assert "<msg><p>echo: hello</p></msg>" in bodies


async def test_run_twice_at_once_is_a_usage_error() -> None:
    fake, _ = _world()
    async with _client(fake) as client:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(client.run)
                with pytest.raises(UsageError, match="already running"):
                    await client.run()
                client.stop()


async def test_events_iterates_over_new_messages() -> None:
    fake, conversation_id = _world()
    async with _client(fake) as client:
        with anyio.fail_after(WAIT):
            async with client.events(kinds=["message"], backlog="skip") as stream:
                await fake.post_as("human@example.com", conversation_id, "first")
                async for record in stream:
                    assert isinstance(record, MessageRecord)
                    if record.text.strip() == "first":
                        break
