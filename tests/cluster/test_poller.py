"""The cluster poller against a real 3-node JetStream cluster and FakeFleep over loopback.

Replicas run as child processes, killed with SIGKILL or paused with SIGSTOP. The judges are
independent of the pollers: the stream's stored messages (with their ``Fleep-Publisher``
header), the lease key and the checkpoint in the buckets.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
import pytest
from anyio.streams.text import TextReceiveStream
from nats.aio.client import Client as NATS

from fleep_async.cluster import (
    EVENTS_STREAM,
    HEADER_MSG_ID,
    HEADER_PUBLISHER,
    Buckets,
    poller_lease_key,
)
from fleep_async.events import Checkpoint
from fleep_async.testing import FakeFleep, FakeFleepServer
from fleep_async.testing.nats import NatsCluster

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and SIGSTOP are POSIX"),
]

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.0
WAIT = 60.0


class Replica:
    """A poller child process and what it wrote to stderr."""

    def __init__(self, name: str, process: anyio.abc.Process) -> None:
        self.name = name
        self.process = process
        self.log = ""

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        async for chunk in TextReceiveStream(self.process.stderr):
            self.log += chunk

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)


@asynccontextmanager
async def replicas(
    cluster: NatsCluster, server: FakeFleepServer
) -> AsyncIterator[Callable[[str, int], Awaitable[Replica]]]:
    started: list[Replica] = []
    async with anyio.create_task_group() as tg:

        async def start(name: str, crash_after: int = 0) -> Replica:
            process = await anyio.open_process(
                [
                    sys.executable,
                    "-m",
                    "tests.cluster._poller_proc",
                    cluster.url,
                    server.base_url,
                    "bot@example.com",
                    name,
                    str(TTL),
                    str(crash_after),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            replica = Replica(name, process)
            started.append(replica)
            tg.start_soon(replica.read_log)
            assert process.stdout is not None
            async for chunk in TextReceiveStream(process.stdout):
                if "ready" in chunk:
                    return replica
            raise AssertionError(f"replica {name} did not start:\n{replica.log}")

        try:
            yield start
        finally:
            for replica in started:
                if replica.process.returncode is None:
                    replica.signal(signal.SIGCONT)
                    replica.signal(signal.SIGKILL)
                    await replica.process.wait()
            tg.cancel_scope.cancel()


@pytest.fixture
def lease_ttl() -> float:
    """Short leases, for quick failovers."""
    return TTL


async def stored(nc: NATS) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """Every message of the events stream: (sequence, headers, record)."""
    js = nc.jetstream()
    info = await js.stream_info(EVENTS_STREAM)
    found: list[tuple[int, dict[str, str], dict[str, Any]]] = []
    if info.state.messages == 0:
        return found
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(EVENTS_STREAM, seq)
        found.append((seq, dict(msg.headers or {}), orjson.loads(msg.data or b"{}")))
    return found


async def holder(buckets: Buckets, account_id: str) -> str | None:
    import nats.js.errors

    try:
        entry = await buckets.leases.get(poller_lease_key(account_id))
    except nats.js.errors.KeyNotFoundError:
        return None
    return str(orjson.loads(entry.value or b"{}").get("holder"))


async def checkpoint(buckets: Buckets, account_id: str) -> tuple[int, Checkpoint | None]:
    import nats.js.errors

    try:
        entry = await buckets.checkpoints.get(account_id)
    except nats.js.errors.KeyNotFoundError:
        return 0, None
    return entry.revision or 0, Checkpoint.from_json(entry.value or b"")


async def until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Re-check an observable condition until it holds (the caller bounds it with fail_after)."""
    while not await predicate():
        await anyio.sleep(0.05)


def message_nrs(
    messages: list[tuple[int, dict[str, str], dict[str, Any]]], author: str
) -> list[int]:
    """The message numbers of the human's messages stored in the stream, in stream order."""
    return [
        int(rec["message_nr"])
        for _, _, rec in messages
        if rec.get("mk_rec_type") == "message" and rec.get("account_id") == author
    ]


def world(fake: FakeFleep) -> tuple[str, Any, str]:
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    return bot.account_id, human, cid


async def test_killed_between_publish_and_commit_the_replica_republishes_and_it_is_stored_once(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, nc: NATS, buckets: Buckets
) -> None:
    fake = fake_server.fake
    bot_id, human, cid = world(fake)
    # Every publish attempt (publisher, Nats-Msg-Id), stored or not.
    attempts: list[tuple[str, str]] = []

    async def seen(msg: Any) -> None:
        headers = msg.headers or {}
        attempts.append((str(headers.get(HEADER_PUBLISHER)), str(headers.get(HEADER_MSG_ID))))

    watch = await nc.subscribe("fleep.events.>", cb=seen)
    with anyio.fail_after(WAIT):
        async with replicas(nats_cluster, fake_server) as start:
            first = await start("replica-a", 1)
            await until(lambda: _is(holder(buckets, bot_id), "replica-a"))
            await until(lambda: _committed(buckets, bot_id))
            _, start_point = await checkpoint(buckets, bot_id)
            assert start_point is not None
            for i in range(5):
                await fake.post_as(human, cid, f"m{i}")
            # replica-a publishes what its poll brought, then dies before it commits it.
            await first.process.wait()
            assert first.process.returncode == -signal.SIGKILL
            assert "crashing before commit" in first.log
            after_crash = await stored(nc)
            assert message_nrs(after_crash, human.account_id)
            _, unmoved = await checkpoint(buckets, bot_id)
            assert unmoved is not None
            assert unmoved.horizon == start_point.horizon  # published, not committed

            second = await start("replica-b", 0)
            await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))
            final = await stored(nc)
            await nc.flush()
        await watch.unsubscribe()
    # The replica polled again from the committed horizon and published the same records again
    # (same Nats-Msg-Id): the stream kept the first copy of each and stored none twice.
    ids = [headers[HEADER_MSG_ID] for _, headers, _ in final]
    assert len(ids) == len(set(ids))
    nrs = message_nrs(final, human.account_id)
    assert len(nrs) == len(set(nrs)) == 5
    crashed_ids = {headers[HEADER_MSG_ID] for _, headers, _ in after_crash}
    republished = {msg_id for publisher, msg_id in attempts if publisher == "replica-b"}
    assert crashed_ids <= republished
    assert final[: len(after_crash)] == after_crash  # the first copies, untouched
    assert "acquired by replica-b" in second.log


async def test_a_paused_poller_publishes_and_commits_nothing_after_its_successor_took_over(
    nats_cluster: NatsCluster, nc: NATS, buckets: Buckets
) -> None:
    # Long polls held long: the paused poller's parked poll is answered (with the records
    # posted meanwhile) while it is stopped, so it wakes up holding records it could publish.
    async with FakeFleep.serve("127.0.0.1", 0, hold_seconds=30.0, seed=15) as server:
        fake = server.fake
        bot_id, human, cid = world(fake)
        # Every publish attempt, stored or not: a core NATS subscriber sees duplicates too.
        attempts: list[str] = []

        async def seen(msg: Any) -> None:
            attempts.append(str((msg.headers or {}).get(HEADER_PUBLISHER)))

        watch = await nc.subscribe("fleep.events.>", cb=seen)
        with anyio.fail_after(WAIT):
            async with replicas(nats_cluster, server) as start:
                old = await start("replica-a", 0)
                await until(lambda: _is(holder(buckets, bot_id), "replica-a"))
                new = await start("replica-b", 0)
                for i in range(3):
                    await fake.post_as(human, cid, f"a{i}")
                await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))

                old.signal(signal.SIGSTOP)  # a GC pause, a partition: longer than the TTL
                await until(lambda: _is(holder(buckets, bot_id), "replica-b"))
                await until(lambda: _has(new, "claimed"))
                for i in range(3):
                    await fake.post_as(human, cid, f"b{i}")
                await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))
                await nc.flush()
                takeover = len(attempts)
                assert attempts[takeover - 1] == "replica-b"

                old.signal(signal.SIGCONT)
                await until(lambda: _has(old, "lost by replica-a"))
                for i in range(3):
                    await fake.post_as(human, cid, f"c{i}")
                await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))
                await nc.flush()
                after = await stored(nc)
                assert await holder(buckets, bot_id) == "replica-b"
            await watch.unsubscribe()
            fake.release_polls()
    # Nothing was even attempted by the old holder after the takeover.
    assert attempts[takeover:]
    assert set(attempts[takeover:]) == {"replica-b"}
    nrs = message_nrs(after, human.account_id)
    assert len(nrs) == len(set(nrs)) == 9
    # The successor never lost a commit to the old holder: its next CAS would have failed.
    assert "fenced" not in new.log
    assert "lost by replica-b" not in new.log


async def _is(value: Awaitable[str | None], expected: str) -> bool:
    return await value == expected


async def _committed(buckets: Buckets, account_id: str) -> bool:
    _, found = await checkpoint(buckets, account_id)
    return found is not None and found.horizon is not None and found.horizon > 0


async def _horizon_is(buckets: Buckets, account_id: str, horizon: int) -> bool:
    _, found = await checkpoint(buckets, account_id)
    return found is not None and found.horizon == horizon


async def _has(replica: Replica, text: str) -> bool:
    return text in replica.log


async def test_a_full_stream_pauses_polling_and_loses_nothing(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, nc: NATS, buckets: Buckets
) -> None:
    from fleep_async import FleepClient
    from fleep_async.cluster import AccountPoller

    fake = fake_server.fake
    bot_id, human, cid = world(fake)
    js = nc.jetstream()
    async with FleepClient("bot@example.com", "pw", base_url=fake_server.base_url) as client:
        poller = AccountPoller(
            js, buckets, client, holder="solo", min_poll_interval=0.05, publish_timeout=1.0
        )
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(poller.run)
                await until(lambda: _committed(buckets, bot_id))
                _, before = await checkpoint(buckets, bot_id)
                assert before is not None
                info = await js.stream_info(EVENTS_STREAM)
                config = info.config
                cap = info.state.messages + 2
                config.max_msgs = cap  # full after two more records; discard new
                await js.update_stream(config=config)
                for i in range(6):
                    await fake.post_as(human, cid, f"m{i}")

                async def stuck() -> bool:
                    state = (await js.stream_info(EVENTS_STREAM)).state
                    return state.messages == cap and poller.state == "publishing"

                await until(stuck)
                _, during = await checkpoint(buckets, bot_id)
                assert during == before  # nothing committed past what the stream refused
                config.max_msgs = -1
                await js.update_stream(config=config)
                await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))
                tg.cancel_scope.cancel()
    final = await stored(nc)
    nrs = message_nrs(final, human.account_id)
    assert len(nrs) == len(set(nrs)) == 6


async def test_a_checkpoint_write_nats_refuses_puts_the_poller_on_standby_not_down(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, nc: NATS, buckets: Buckets
) -> None:
    # Found by the 5,000-message chaos run: a commit that failed while a NATS node was down
    # (NoStreamResponseError) ended the poller process, and with both replicas gone nothing
    # was polled any more. Here the checkpoint bucket refuses every write for a while (a
    # message-size limit on its stream, set and lifted through the real NATS API).
    from fleep_async import FleepClient
    from fleep_async.cluster import CHECKPOINTS_BUCKET, AccountPoller

    fake = fake_server.fake
    bot_id, human, cid = world(fake)
    js = nc.jetstream()
    kv_stream = f"KV_{CHECKPOINTS_BUCKET}"
    async with FleepClient("bot@example.com", "pw", base_url=fake_server.base_url) as client:
        poller = AccountPoller(js, buckets, client, holder="solo", min_poll_interval=0.05)
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(poller.run)
                await until(lambda: _committed(buckets, bot_id))
                config = (await js.stream_info(kv_stream)).config
                config.max_msg_size = 8  # every checkpoint is larger: refused by the server
                await js.update_stream(config=config)
                await fake.post_as(human, cid, "while refused")

                async def stood_by() -> bool:
                    return poller.state == "standby"

                await until(stood_by)
                config.max_msg_size = -1
                await js.update_stream(config=config)
                await fake.post_as(human, cid, "after")
                # The same process takes its lease back and commits everything.
                await until(lambda: _horizon_is(buckets, bot_id, fake.horizon(bot_id)))
                tg.cancel_scope.cancel()
    nrs = message_nrs(await stored(nc), human.account_id)
    assert len(nrs) == len(set(nrs)) == 2
