"""Listing a KV bucket's keys (``bucket_keys``) against a real 3-node JetStream cluster.

Workers list the lease bucket at every rebalance, pollers count their peers, ``cluster status``
lists leases and checkpoints: the listing must be complete every time and leave nothing behind.
"""

from __future__ import annotations

import anyio
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from fleep_async.cluster import (
    LEASES_BUCKET,
    Buckets,
    bucket_keys,
)

pytestmark = pytest.mark.anyio

LEASES_STREAM = f"KV_{LEASES_BUCKET}"


@pytest.fixture
def lease_ttl() -> float:
    """Long: no key expires during a listing test."""
    return 60.0


async def test_live_keys_are_listed_and_deleted_or_purged_ones_are_not(
    nc: NATS, buckets: Buckets
) -> None:
    js = nc.jetstream()
    kv = buckets.leases
    with anyio.fail_after(20):
        assert await bucket_keys(js, LEASES_BUCKET) == []
        for key in ("worker.a", "worker.b", "partition.x.0", "partition.x.1", "member.poller.p"):
            await kv.put(key, b"{}")
        await kv.put("worker.a", b'{"again": 1}')  # a key rewritten is listed once
        await kv.delete("worker.b")
        await kv.purge("partition.x.1")

        everything = await bucket_keys(js, LEASES_BUCKET)
        workers = await bucket_keys(js, LEASES_BUCKET, "worker.>")

    assert sorted(everything) == ["member.poller.p", "partition.x.0", "worker.a"]
    assert workers == ["worker.a"]


async def test_every_key_is_listed_past_one_fetch_and_while_others_are_written(
    nc: NATS, buckets: Buckets
) -> None:
    js = nc.jetstream()
    kv = buckets.leases
    before = [f"partition.acc.{n}" for n in range(600)]  # more than one fetch batch (256)
    with anyio.fail_after(60):
        for key in before:
            await kv.put(key, b"{}")
        written: list[str] = []

        async def write_more() -> None:
            for n in range(200):
                await kv.put(f"worker.{n}", b"{}")
                written.append(f"worker.{n}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(write_more)
            listings = [await bucket_keys(js, LEASES_BUCKET) for _ in range(5)]

    for listing in listings:
        assert len(listing) == len(set(listing))
        assert set(before) <= set(listing)  # what was there before the listing began
        assert set(listing) <= set(before) | set(written)
    assert len(written) == 200


async def test_a_listing_leaves_no_consumer_behind(nc: NATS, buckets: Buckets) -> None:
    # nats-py's KeyValue.keys() leaves one ephemeral consumer per call for five minutes; a
    # worker listing at every rebalance reached the server's cap of 1,000 per stream.
    js = nc.jetstream()
    await buckets.leases.put("worker.a", b"{}")
    with anyio.fail_after(30):
        for _ in range(50):
            assert await bucket_keys(js, LEASES_BUCKET) == ["worker.a"]
        assert await bucket_keys(js, LEASES_BUCKET, "nothing.>") == []
        info = await js.stream_info(LEASES_STREAM)
    assert info.state.consumer_count == 0


async def test_a_listing_of_a_bucket_that_does_not_exist_is_not_found(nc: NATS) -> None:
    with anyio.fail_after(10), pytest.raises(nats.js.errors.NotFoundError):
        await bucket_keys(nc.jetstream(), "no_such_bucket")
