"""A partition's consumer deleted under a running worker, with the real NATS API.

The stream keeps its records (limits retention), so a consumer recreated from the stream's start
would hand the handlers every record again. FakeFleep is the judge: the handler replies with a
fresh ``client_req_id`` each time (an effect Fleep cannot de-duplicate), so a record handled twice
shows as two replies.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import pytest
from nats.aio.client import Client as NATS

from fleep_async import FleepClient
from fleep_async.cluster import (
    EVENTS_STREAM,
    ClusterWorker,
    consumer_name,
    partition_of,
)
from fleep_async.events import FromAccount, OfMessageType, Router
from fleep_async.testing import FakeFleepServer
from tests.cluster._support import bot_replies, publish_records, until

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX NATS processes"),
    pytest.mark.usefixtures("buckets"),  # every test runs with the stream and buckets set up
]

WAIT = 60.0


@pytest.fixture
def lease_ttl() -> float:
    """Short leases, for a quick test."""
    return 1.5


async def test_a_consumer_deleted_under_a_running_worker_resumes_where_it_was(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    fake = fake_server.fake
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    durable = consumer_name(bot.account_id, partition_of(cid))
    router = Router()

    @router.message(FromAccount(human.account_id), OfMessageType("text"))
    async def echo(message: Any, ctx: Any) -> None:
        # A fresh client_req_id: Fleep stores every run of the handler (a duplicate shows).
        await ctx.reply(f"echo {message.text}", client_req_id=os.urandom(8).hex())

    def replies() -> list[str]:
        return bot_replies(fake, cid, bot.account_id)

    js = nc.jetstream()

    async def settled(last_seq: int) -> None:
        """The partition's consumer acked everything up to ``last_seq`` (the server says)."""
        while True:
            try:
                info = await js.consumer_info(EVENTS_STREAM, durable)
            except Exception:  # being recreated just now
                info = None
            if (
                info is not None
                and info.ack_floor is not None
                and info.ack_floor.stream_seq >= last_seq
                and not info.num_ack_pending
            ):
                return
            await anyio.sleep(0.05)

    with anyio.fail_after(WAIT):
        async with (
            FleepClient("bot@example.com", "pw", base_url=fake_server.base_url) as client,
            anyio.create_task_group() as tg,
        ):
            await client.account.sync()
            worker = ClusterWorker(nc, router, {bot.account_id: client}, worker_id="w1")
            await tg.start(worker.run)
            for text in ("one", "two", "three"):
                await fake.post_as(human, cid, text)
            await publish_records(js, bot.account_id, fake.events(bot))
            await settled((await js.stream_info(EVENTS_STREAM)).state.last_seq)
            assert len(replies()) == 3

            await js.delete_consumer(EVENTS_STREAM, durable)  # what an operator's mistake does
            seen = len(fake.events(bot))
            for text in ("four", "five"):
                await fake.post_as(human, cid, text)
            await publish_records(js, bot.account_id, fake.events(bot, after=seen))
            await settled((await js.stream_info(EVENTS_STREAM)).state.last_seq)
            await until(lambda: len(replies()) >= 5)
            worker.stop()

    # Every record handled once: the recreated consumer started after the last ack.
    assert replies() == [
        f"<msg><p>echo {t}</p></msg>" for t in ("one", "two", "three", "four", "five")
    ]
