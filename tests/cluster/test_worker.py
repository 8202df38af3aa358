"""ClusterWorker against a real 3-node JetStream cluster and FakeFleep over loopback.

The records are published the way the contract says a poller publishes them (subject, headers,
raw bytes); FakeFleep is the judge of what the handlers did: the replies it stored.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import nats.errors
import nats.js.errors
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext

from fleep_async import FleepClient
from fleep_async._retry import RetryPolicy
from fleep_async.cluster import (
    DEFAULT_PARTITIONS,
    EVENTS_STREAM,
    HEADER_MSG_ID,
    LEASES_BUCKET,
    ClusterWorker,
    EffectLedger,
    bucket_keys,
    connect,
    consumer_name,
    dead_letters,
    partition_of,
    replay_dead_letters,
)
from fleep_async.errors import ClusterError
from fleep_async.events import FromAccount, OfMessageType, Router
from fleep_async.testing import FakeFleep, FakeFleepServer
from fleep_async.testing.nats import NatsCluster
from tests.cluster._support import bot_replies, publish_records, until

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
    pytest.mark.usefixtures("buckets"),  # every test runs with the stream and buckets set up
]

WAIT = 60.0
LEASE_TTL = 1.5
ROOT = Path(__file__).resolve().parents[2]
FAST_RETRY = RetryPolicy(base_delay=0.05, max_delay=0.1)


@pytest.fixture
def lease_ttl() -> float:
    """Short leases, for quick tests."""
    return LEASE_TTL


class Bot:
    """A bot and a human in FakeFleep, with the bot's client logged in."""

    def __init__(self, server: FakeFleepServer) -> None:
        self.server = server
        self.fake: FakeFleep = server.fake
        self.bot = self.fake.create_account("bot@example.com", "pw", "Bot")
        self.human = self.fake.create_account("human@example.com", "pw", "Human")

    def client(self) -> FleepClient:
        return FleepClient("bot@example.com", "pw", base_url=self.server.base_url)

    def conversation(self, topic: str) -> str:
        return self.fake.create_conversation(self.human, topic, [self.bot])

    def replies(self, conversation_id: str) -> list[str]:
        return bot_replies(self.fake, conversation_id, self.bot.account_id)

    def total_replies(self, conversations: list[str]) -> int:
        return sum(len(self.replies(cid)) for cid in conversations)


def echoed(*texts: str) -> list[str]:
    return [f"<msg><p>echo {t}</p></msg>" for t in texts]


async def test_three_workers_keep_each_conversations_order(
    nats_cluster: NatsCluster, nc: NATS, fake_server: FakeFleepServer
) -> None:
    world = Bot(fake_server)
    rnd = random.Random(7)
    convs = [world.conversation(f"c{i}") for i in range(8)]
    posted: dict[str, list[str]] = {cid: [] for cid in convs}
    for n in range(12):
        for cid in convs:
            text = f"{cid[:6]}-{n}"
            posted[cid].append(text)
            await world.fake.post_as(world.human, cid, text)
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def echo(message: Any, ctx: Any) -> None:
        await anyio.sleep(rnd.random() / 100)  # interleave the partitions' handlers
        await ctx.reply(f"echo {message.text}")

    with anyio.fail_after(WAIT):
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            workers = []
            conns = []
            for _ in range(3):
                conn = await connect(nats_cluster.urls)
                conns.append(conn)
                worker = ClusterWorker(conn, router, {world.bot.account_id: client})
                workers.append(worker)
                await tg.start(worker.run)
            await publish_records(
                nc.jetstream(), world.bot.account_id, world.fake.events(world.bot)
            )
            total = sum(len(texts) for texts in posted.values())
            await world.fake.wait_for(lambda: world.total_replies(convs) >= total, timeout=WAIT)
            for worker in workers:
                worker.stop()
        for conn in conns:
            await conn.close()

    for cid in convs:
        assert world.replies(cid) == echoed(*posted[cid])  # all, once, in order
    assert sum(w.health.handled for w in workers) == total


WORKER_SCRIPT = """
import sys
from pathlib import Path

import anyio

from fleep_async import FleepClient
from fleep_async.cluster import ClusterWorker, connect
from fleep_async.events import OfMessageType, Router

urls, base_url, marker = sys.argv[1].split(","), sys.argv[2], Path(sys.argv[3])
router = Router()


@router.message(OfMessageType("text"))
async def echo(message, ctx):
    await ctx.reply("echo " + message.text)
    if message.text == "slow":
        marker.write_text(str(ctx.attempt))
        await anyio.sleep_forever()  # killed here, its reply already posted


async def main():
    nc = await connect(urls)
    async with FleepClient("bot@example.com", "pw", base_url=base_url) as client:
        await client.account.sync()
        worker = ClusterWorker(nc, router, {client.account_id: client}, ack_wait=2.0)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            print("ready", flush=True)


anyio.run(main)
"""


async def settled_but(js: JetStreamContext, account_id: str, busy: int) -> None:
    """Wait until the server has seen every record of every partition acked, except one
    delivered and unacked record in partition ``busy`` (the records after it wait for it)."""

    async def settled() -> bool:
        for number in range(DEFAULT_PARTITIONS):
            name = consumer_name(account_id, number)
            try:
                info = await js.consumer_info(EVENTS_STREAM, name, timeout=1.0)
            except (nats.errors.TimeoutError, nats.js.errors.NotFoundError):
                return False  # not created yet, or its leader not elected
            unacked = info.num_ack_pending or 0
            if number == busy:
                if unacked != 1:
                    return False
            elif unacked or info.num_pending:
                return False
        return True

    while not await settled():
        await anyio.sleep(0.05)


async def test_a_record_whose_worker_is_killed_is_handled_elsewhere_and_replied_once(
    nats_cluster: NatsCluster, nc: NATS, fake_server: FakeFleepServer, tmp_path: Path
) -> None:
    world = Bot(fake_server)
    cid = world.conversation("ops")
    for text in ("first", "slow", "after"):
        await world.fake.post_as(world.human, cid, text)
    marker = tmp_path / "slow.attempt"
    attempts: dict[str, int] = {}
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def echo(message: Any, ctx: Any) -> None:
        attempts[message.text] = ctx.attempt
        await ctx.reply(f"echo {message.text}")

    with anyio.fail_after(WAIT):
        process = await anyio.open_process(
            [sys.executable, "-c", WORKER_SCRIPT, nats_cluster.url, fake_server.base_url, marker],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            await publish_records(
                nc.jetstream(), world.bot.account_id, world.fake.events(world.bot)
            )
            await until(marker.exists)
            assert marker.read_text() == "1"
            # The server's view before the kill: every other record acked (an ack still in the
            # killed process's buffer would bring its record again), "slow" the only one out.
            await settled_but(nc.jetstream(), world.bot.account_id, partition_of(cid))
            # Killed mid-handler: its reply to "slow" is posted, "after" is not handled yet.
            assert world.replies(cid) == echoed("first", "slow")
            process.send_signal(signal.SIGKILL)
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            worker = ClusterWorker(nc, router, {world.bot.account_id: client}, ack_wait=2.0)
            await tg.start(worker.run)
            await world.fake.wait_for(lambda: len(world.replies(cid)) >= 3, timeout=WAIT)
            worker.stop()

    # The record came again (a second delivery), and its reply, the same request, is stored once.
    assert attempts == {"slow": 2, "after": 1}
    assert world.replies(cid) == echoed("first", "slow", "after")
    assert worker.health.redelivered == 1


async def test_a_failing_record_goes_to_the_dead_letters_after_max_deliver(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    world = Bot(fake_server)
    cid = world.conversation("ops")
    for text in ("poison", "next"):
        await world.fake.post_as(world.human, cid, text)
    seen: list[tuple[str, int]] = []
    errors: list[bool] = []
    fixed = False
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def handler(message: Any, ctx: Any) -> None:
        seen.append((message.text, ctx.attempt))
        if message.text == "poison" and not fixed:
            raise ValueError("cannot handle it; password=hunter2")
        await ctx.reply(f"echo {message.text}")

    @router.error(ValueError)
    async def on_error(event: Any) -> None:
        errors.append(event.will_retry)

    js = nc.jetstream()
    with anyio.fail_after(WAIT):
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            worker = ClusterWorker(
                nc, router, {world.bot.account_id: client}, max_deliver=3, retry_backoff=FAST_RETRY
            )
            await tg.start(worker.run)
            await publish_records(js, world.bot.account_id, world.fake.events(world.bot))
            await world.fake.wait_for(lambda: len(world.replies(cid)) >= 1, timeout=WAIT)
            await until(lambda: worker.health.dead_lettered == 1)
            dead = await dead_letters(js)
            # The bug is fixed: the replay hands it to the handlers again, after "next".
            fixed = True
            assert await replay_dead_letters(js, dead) == 1
            await world.fake.wait_for(lambda: len(world.replies(cid)) >= 2, timeout=WAIT)
            worker.stop()
        left = await dead_letters(js)

    # Tried three times, in order before "next"; then moved aside and the partition went on.
    assert seen[:4] == [("poison", 1), ("poison", 2), ("poison", 3), ("next", 1)]
    assert errors == [True, True, False]
    assert len(dead) == 1
    letter = dead[0]
    assert letter.error == "ValueError: cannot handle it; password=***"
    assert letter.deliveries == 3
    assert letter.account_id == world.bot.account_id
    assert letter.original_subject.startswith(f"fleep.events.{world.bot.account_id}.")
    assert letter.msg_id.startswith(f"{world.bot.account_id}:")
    poison = [r for r in world.fake.events(world.bot) if "poison" in str(r.get("message"))]
    assert orjson.loads(letter.data) == poison[0]  # the original record, as published
    assert "hunter2" not in repr(dead) + letter.data.decode()
    # Replayed: handled once more (a first delivery of a new message), gone from the stream.
    assert seen[4:] == [("poison", 1)]
    assert world.replies(cid) == echoed("next", "poison")
    assert left == []


async def delivered_unacked(js: JetStreamContext, names: list[str]) -> int:
    """Records the server has delivered and not seen acked on these consumers; 0 while one of
    them cannot answer yet (new, its leader not elected: the caller polls again)."""
    total = 0
    for name in names:
        try:
            info = await js.consumer_info(EVENTS_STREAM, name, timeout=1.0)
        except (nats.errors.TimeoutError, nats.js.errors.NotFoundError):
            return 0
        total += info.num_ack_pending or 0
    return total


async def test_a_record_waiting_for_a_handler_slot_stays_with_its_worker(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    """Two partitions, one handler slot: the record that waits for the slot past ack_wait is
    neither delivered to anyone else nor handled twice; the running one neither."""
    world = Bot(fake_server)
    convs: dict[int, str] = {}
    while len(convs) < 2:  # two conversations in two different partitions
        cid = world.conversation(f"c{len(convs)}")
        convs.setdefault(partition_of(cid), cid)
    for cid in convs.values():
        await world.fake.post_as(world.human, cid, f"hello {cid[:6]}")
    calls: list[tuple[str, int]] = []
    holding = anyio.Event()
    release = anyio.Event()
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def hold(message: Any, ctx: Any) -> None:
        calls.append((message.text, ctx.attempt))
        if len(calls) == 1:  # the first holds the only slot; the other waits for it
            holding.set()
            await release.wait()
        await ctx.reply(f"echo {message.text}")

    js = nc.jetstream()
    account = world.bot.account_id
    names = [consumer_name(account, partition) for partition in convs]
    ack_wait = 1.0

    async def steal(name: str, found: list[str]) -> None:
        # Another client pulling from the partition's consumer, as a new lease holder would.
        sub = await js.pull_subscribe_bind(name, EVENTS_STREAM)
        try:
            found.extend(m.data.decode() for m in await sub.fetch(1, timeout=3 * ack_wait))
        except nats.errors.TimeoutError:
            pass
        finally:
            await sub.unsubscribe()

    with anyio.fail_after(WAIT):
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            worker = ClusterWorker(nc, router, {account: client}, concurrency=1, ack_wait=ack_wait)
            await tg.start(worker.run)
            await publish_records(js, account, world.fake.events(world.bot))
            await holding.wait()
            # The second record fetched, waiting for the slot.
            while await delivered_unacked(js, names) < 2:
                await anyio.sleep(0.05)
            stolen: list[str] = []
            async with anyio.create_task_group() as thieves:
                for name in names:  # pulls that last three times ack_wait
                    thieves.start_soon(steal, name, stolen)
            release.set()
            await world.fake.wait_for(
                lambda: world.total_replies(list(convs.values())) >= 2, timeout=WAIT
            )
            worker.stop()

    assert stolen == []  # the server gave neither record to anyone else
    assert sorted(calls) == sorted((f"hello {cid[:6]}", 1) for cid in convs.values())
    for cid in convs.values():
        assert world.replies(cid) == echoed(f"hello {cid[:6]}")
    assert worker.health.redelivered == 0


async def test_a_worker_stopped_past_its_deadline_hands_back_every_record_it_holds(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    """A handler that ignores the stop, and a record waiting for its slot: both go back to the
    server when the deadline passes (NAK), not after ack_wait (30 s here)."""
    world = Bot(fake_server)
    convs: dict[int, str] = {}
    while len(convs) < 2:  # two conversations in two different partitions
        cid = world.conversation(f"c{len(convs)}")
        convs.setdefault(partition_of(cid), cid)
    for cid in convs.values():
        await world.fake.post_as(world.human, cid, f"hello {cid[:6]}")
    holding = anyio.Event()
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def stuck(message: Any) -> None:
        holding.set()
        await anyio.sleep_forever()

    js = nc.jetstream()
    account = world.bot.account_id
    names = [consumer_name(account, partition) for partition in convs]

    with anyio.fail_after(WAIT):
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            worker = ClusterWorker(
                nc, router, {account: client}, concurrency=1, shutdown_deadline=0.5
            )  # ack_wait: the default 30 s, far beyond the bound below
            await tg.start(worker.run)
            await publish_records(js, account, world.fake.events(world.bot))
            await holding.wait()
            # One in the handler, one waiting for the slot.
            while await delivered_unacked(js, names) < 2:
                await anyio.sleep(0.05)
            worker.stop()
        # Handed back: another puller gets each record again at once (ack_wait is 30 s).
        again: list[int] = []
        for name in names:
            sub = await js.pull_subscribe_bind(name, EVENTS_STREAM)
            try:
                for msg in await sub.fetch(1, timeout=5.0):
                    again.append(msg.metadata.num_delivered)
                    await msg.ack()
            finally:
                await sub.unsubscribe()
    assert again == [2, 2]
    assert world.total_replies(list(convs.values())) == 0


async def test_partitions_rebalance_when_a_worker_joins(
    nats_cluster: NatsCluster, nc: NATS, fake_server: FakeFleepServer
) -> None:
    world = Bot(fake_server)
    convs = [world.conversation(f"c{i}") for i in range(24)]
    for cid in convs:
        await world.fake.post_as(world.human, cid, f"hello {cid[:6]}")
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def echo(message: Any, ctx: Any) -> None:
        await ctx.reply(f"echo {message.text}")

    js = nc.jetstream()
    kv = await js.key_value(LEASES_BUCKET)

    async def holders(expected: dict[str, int]) -> dict[str, int]:
        """The partition leases' holders, per the bucket, once they are ``expected`` (a busy
        machine may move a lease for a moment: a key can vanish between listing and get())."""
        while True:
            counts: dict[str, int] = {}
            try:
                for key in await bucket_keys(js, LEASES_BUCKET, "partition.>"):
                    if key.startswith("partition."):
                        owner = str(orjson.loads((await kv.get(key)).value or b"{}")["holder"])
                        counts[owner] = counts.get(owner, 0) + 1
            except nats.js.errors.KeyNotFoundError:
                continue
            if counts == expected:
                return counts
            await anyio.sleep(0.05)

    with anyio.fail_after(WAIT):
        other = await connect(nats_cluster.urls)
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            accounts = {world.bot.account_id: client}
            first = ClusterWorker(nc, router, accounts, worker_id="first")
            await tg.start(first.run)
            await until(lambda: len(first.health.partitions) == 16)
            assert await holders({"first": 16}) == {"first": 16}
            second = ClusterWorker(other, router, accounts, worker_id="second")
            await tg.start(second.run)
            await until(
                lambda: len(first.health.partitions) == 8 and len(second.health.partitions) == 8
            )
            # What the cluster says (bounded by the fail_after above).
            assert await holders({"first": 8, "second": 8}) == {"first": 8, "second": 8}
            await publish_records(
                nc.jetstream(), world.bot.account_id, world.fake.events(world.bot)
            )
            await world.fake.wait_for(lambda: world.total_replies(convs) >= 24, timeout=WAIT)
            first.stop()
            second.stop()
        await other.close()

    for cid in convs:
        assert world.replies(cid) == echoed(f"hello {cid[:6]}")
    assert first.health.handled > 0
    assert second.health.handled > 0
    assert first.health.handled + second.health.handled == 24


async def test_the_effect_ledger_skips_what_a_handler_already_did(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    world = Bot(fake_server)
    cid = world.conversation("ops")
    await world.fake.post_as(world.human, cid, "pay")
    router = Router()

    @router.message(FromAccount(world.human.account_id), OfMessageType("text"))
    async def pay(message: Any, ctx: Any) -> None:
        # An effect Fleep cannot de-duplicate: a fresh client_req_id on every run.
        await ctx.reply(f"paid {ctx.attempt}", client_req_id=os.urandom(8).hex())

    js = nc.jetstream()
    records = [r for r in world.fake.events(world.bot) if r.get("mk_rec_type") == "message"]
    ledger = await EffectLedger.open(js)
    with anyio.fail_after(WAIT):
        async with world.client() as client, anyio.create_task_group() as tg:
            await client.account.sync()
            worker = ClusterWorker(nc, router, {world.bot.account_id: client}, effects=ledger)
            await tg.start(worker.run)
            await publish_records(js, world.bot.account_id, records)
            await until(lambda: worker.health.handled == 1)  # replied, and marked
            # The same record again, past the stream's de-duplication (another message id).
            await js.publish(
                f"fleep.events.{world.bot.account_id}.0.message",
                orjson.dumps(records[-1]),
                headers={HEADER_MSG_ID: "again"},
            )
            await js.publish(
                f"fleep.events.{world.bot.account_id}.0.message",
                orjson.dumps(records[-1]),
                headers={HEADER_MSG_ID: "and-again"},
            )
            await until(lambda: worker.health.deduplicated == 2)
            worker.stop()

    assert world.replies(cid) == ["<msg><p>paid 1</p></msg>"]
    assert worker.health.handled == 1


async def test_a_stream_deleted_under_a_running_worker_stops_it_with_a_clear_error(
    nc: NATS, fake_server: FakeFleepServer
) -> None:
    world = Bot(fake_server)
    router = Router()

    @router.message()
    async def never(message: Any) -> None:  # pragma: no cover - nothing is published
        raise AssertionError("no record")

    with anyio.fail_after(WAIT):
        async with world.client() as client:
            await client.account.sync()
            worker = ClusterWorker(nc, router, {world.bot.account_id: client})

            async def delete_the_stream() -> None:
                await until(lambda: len(worker.health.partitions) == 16)
                await nc.jetstream().delete_stream(EVENTS_STREAM)

            async with anyio.create_task_group() as tg:
                tg.start_soon(delete_the_stream)
                with pytest.raises(ClusterError, match=f"{EVENTS_STREAM} was deleted"):
                    await worker.run()
    assert not worker.health.running
