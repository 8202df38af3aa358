"""Leases and fenced checkpoints against a real 3-node JetStream cluster."""

from __future__ import annotations

import anyio
import anyio.abc
import orjson
import pytest
from nats.aio.client import Client as NATS

from fleep_async.cluster import (
    LEASES_BUCKET,
    Buckets,
    FencedError,
    JetStreamHorizonStore,
    Lease,
    poller_lease_key,
)
from fleep_async.events import Checkpoint

pytestmark = pytest.mark.anyio

TTL = 1.0


@pytest.fixture
def lease_ttl() -> float:
    """Short leases, so expiry is quick to see."""
    return TTL


async def test_one_holder_at_a_time_and_the_next_takes_over_after_the_ttl(
    buckets: Buckets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="fleep_async.cluster")
    key = poller_lease_key("acc-1")
    first = Lease(buckets.leases, key, "proc-a", ttl=buckets.lease_ttl)
    second = Lease(buckets.leases, key, "proc-b", ttl=buckets.lease_ttl)
    with anyio.fail_after(20):
        assert await first.try_acquire()
        assert first.valid()
        assert not await second.try_acquire()
        assert await second.current_holder() == "proc-a"
        before = first.revision
        assert await first.renew()
        assert first.revision is not None
        assert before is not None
        assert first.revision > before
        assert not await second.try_acquire()
        # proc-a stops renewing (a crash): the key expires server-side, proc-b gets it.
        while not await second.try_acquire():
            await anyio.sleep(0.05)
        assert await second.current_holder() == "proc-b"
        # proc-a wakes up: its renewal loses the CAS; it knows it no longer holds the lease.
        assert not await first.renew()
        assert not first.valid()
        assert second.valid()
        await second.release()
    # What the metrics report per lease: taken, lost (without giving it up), given up.
    assert (first.gains, first.losses, first.releases) == (1, 1, 0)
    assert (second.gains, second.losses, second.releases) == (1, 0, 1)
    assert first.changes == second.changes == 2
    messages = [r.getMessage() for r in caplog.records]
    assert f"lease {key} acquired by proc-a" in " ".join(messages)
    assert any(f"lease {key} lost by proc-a (held by proc-b)" in m for m in messages)


async def test_a_released_lease_is_taken_at_once(buckets: Buckets) -> None:
    key = poller_lease_key("acc-2")
    first = Lease(buckets.leases, key, "proc-a", ttl=60.0)
    second = Lease(buckets.leases, key, "proc-b", ttl=60.0)
    with anyio.fail_after(10):
        assert await first.try_acquire()
        assert not await second.try_acquire()
        await first.release()
        assert not first.valid()
        assert await second.try_acquire()


async def test_a_lease_value_carries_the_holders_details(buckets: Buckets) -> None:
    progress = {"horizon": 10}
    key = poller_lease_key("acc-5")
    lease = Lease(buckets.leases, key, "proc-a", ttl=60.0, details=lambda: dict(progress))
    with anyio.fail_after(10):
        assert await lease.try_acquire()
        first = orjson.loads((await buckets.leases.get(key)).value or b"{}")
        progress.update(horizon=11, holder="not-me")  # the lease's own fields win
        assert await lease.renew()
        second = orjson.loads((await buckets.leases.get(key)).value or b"{}")
        await lease.release()
    assert first["horizon"] == 10
    assert first["holder"] == "proc-a"
    assert second["horizon"] == 11
    assert second["holder"] == "proc-a"
    assert second["at"] >= first["at"]
    assert second["ttl"] == 60.0


async def test_validity_is_local_and_ends_with_the_ttl(buckets: Buckets) -> None:
    now = [100.0]
    lease = Lease(buckets.leases, poller_lease_key("acc-3"), "p", ttl=5.0, clock=lambda: now[0])
    with anyio.fail_after(10):
        assert await lease.try_acquire()
    now[0] += 4.4
    assert lease.valid()
    now[0] += 0.2  # a pause past the TTL since the last renewal started: no longer valid
    assert not lease.valid()


async def test_a_stale_holders_save_is_fenced(buckets: Buckets) -> None:
    old = JetStreamHorizonStore(buckets.checkpoints, "acc-4")
    new = JetStreamHorizonStore(buckets.checkpoints, "acc-4")
    with anyio.fail_after(10):
        assert await old.load() is None
        await old.save(Checkpoint(horizon=10, account_id="acc-4"))
        await old.save(Checkpoint(horizon=20, account_id="acc-4"))
        claimed = await new.claim()
        assert claimed is not None
        assert claimed.horizon == 20
        with pytest.raises(FencedError) as info:
            await old.save(Checkpoint(horizon=30, account_id="acc-4"))
        assert info.value.key == "acc-4"
        await new.save(Checkpoint(horizon=25, account_id="acc-4"))
        # The independent judge: the bucket itself.
        entry = await buckets.checkpoints.get("acc-4")
        assert entry.value is not None
        assert Checkpoint.from_json(entry.value).horizon == 25
        assert entry.revision == new.revision


async def test_claim_fences_a_holder_that_never_saved(buckets: Buckets) -> None:
    old = JetStreamHorizonStore(buckets.checkpoints, "acc-5")
    new = JetStreamHorizonStore(buckets.checkpoints, "acc-5")
    with anyio.fail_after(10):
        assert await old.load() is None
        assert await new.claim() is None
        with pytest.raises(FencedError):
            await old.save(Checkpoint(horizon=5, account_id="acc-5"))
        stored = await JetStreamHorizonStore(buckets.checkpoints, "acc-5").load()
        assert stored == Checkpoint(account_id="acc-5")


async def test_a_damaged_checkpoint_is_an_error_that_names_the_key(buckets: Buckets) -> None:
    from fleep_async.errors import DecodeError

    with anyio.fail_after(10):
        await buckets.checkpoints.put("acc-6", b"{not json")
        with pytest.raises(DecodeError, match="acc-6"):
            await JetStreamHorizonStore(buckets.checkpoints, "acc-6").load()


async def test_an_engine_on_a_jetstream_store_stops_when_another_process_claims_it(
    buckets: Buckets,
) -> None:
    from fleep_async import FleepClient
    from fleep_async.events import EventEngine
    from fleep_async.testing import FakeFleep

    fake = FakeFleep(hold_seconds=0.2, seed=3)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    handled: list[str] = []
    client = FleepClient(
        "bot@example.com",
        "pw",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,  # in-process ASGI transport: nothing leaves the process
    )
    store = JetStreamHorizonStore(buckets.checkpoints, bot.account_id)
    async with client:
        engine: EventEngine[FleepClient] = EventEngine(client, store=store, min_poll_interval=0.01)

        @engine.router.message()
        async def handler(message: object, ctx: object) -> None:
            handled.append(str(getattr(message, "message_nr", "")))

        stopped: list[BaseException] = []

        async def run_engine(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                await engine.run(task_status=task_status)
            except FencedError as exc:
                stopped.append(exc)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await tg.start(run_engine)
                await fake.post_as(human, cid, "one")
                while not handled:
                    await anyio.sleep(0.02)
                # Another process takes the checkpoint over (a successor after a lease).
                await JetStreamHorizonStore(buckets.checkpoints, bot.account_id).claim()
                await fake.post_as(human, cid, "two")
                while not stopped:
                    await anyio.sleep(0.02)
        assert not engine.running
        assert isinstance(stopped[0], FencedError)


async def test_a_key_that_expires_while_create_looks_at_it_is_taken(
    buckets: Buckets, nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nats-py's create() reads the key back after the server refuses the write; the key's TTL
    # can run out between the two. The interleaving is forced here: the key's message is removed
    # from the bucket's stream (what an expiry does) just before that read.
    key = poller_lease_key("acc-4")
    first = Lease(buckets.leases, key, "proc-a", ttl=60.0)
    kv = buckets.leases
    real_get = kv._get
    expired: list[str] = []

    async def expire_then_get(k: str, revision: int | None = None) -> object:
        if not expired:
            expired.append(k)
            await nc.jetstream().purge_stream(
                f"KV_{LEASES_BUCKET}", subject=f"$KV.{LEASES_BUCKET}.{k}"
            )
        return await real_get(k, revision)

    with anyio.fail_after(10):
        assert await first.try_acquire()
        monkeypatch.setattr(kv, "_get", expire_then_get)
        second = Lease(kv, key, "proc-b", ttl=60.0)
        assert await second.try_acquire()
        assert expired == [key]
        assert await second.current_holder() == "proc-b"
