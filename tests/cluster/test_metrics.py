"""Prometheus metrics scraped over HTTP from a real engine and a real cluster worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from nats.aio.client import Client as NATS
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from fleep_async import FleepClient
from fleep_async.cluster import ClusterWorker, Metrics, connect, ensure_buckets, ensure_stream
from fleep_async.events import EventEngine, FromAccount, OfMessageType, Router
from fleep_async.testing import FakeFleepServer
from fleep_async.testing.nats import NatsCluster
from tests.cluster._support import publish_records, until

WAIT = 60.0


@pytest.fixture
def scrape() -> Iterator[tuple[Metrics, Any]]:
    """A Metrics on its own registry, served over HTTP; and a function scraping it."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    async def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
        response.raise_for_status()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    try:
        yield metrics, read
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.anyio
async def test_an_engine_s_metrics_are_scraped(
    fake_server: FakeFleepServer, scrape: tuple[Metrics, Any]
) -> None:
    metrics, read = scrape
    fake = fake_server.fake
    fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", ["bot@example.com"])
    router = Router()
    router.outer_middleware(metrics.timer("bot"))

    @router.message(FromAccount(human.account_id), OfMessageType("text"))
    async def handler(message: Any, ctx: Any) -> None:
        if message.text == "bad":
            raise ValueError("no")

    with anyio.fail_after(WAIT):
        async with (
            FleepClient("bot@example.com", "pw", base_url=fake_server.base_url) as client,
            anyio.create_task_group() as tg,
        ):
            engine = EventEngine(client, router, retry_budget=0, min_poll_interval=0.01)
            metrics.track_engine(engine, "bot")
            await tg.start(engine.run)
            for text in ("one", "bad", "two"):
                await fake.post_as(human, cid, text)
            await until(lambda: engine.health.handled + engine.health.dead_lettered >= 3)
            values = await read()
            engine.stop()

    source = (("source", "engine:bot"),)
    assert values[("fleep_handled_total", source)] == 2
    assert values[("fleep_dead_letters_total", source)] == 1
    assert values[("fleep_handler_errors_total", source)] == 1
    assert values[("fleep_queue_depth", source)] == 0
    assert values[("fleep_poll_age_seconds", source)] >= 0
    timed = (("kind", "message"), ("source", "engine:bot"))
    assert values[("fleep_handler_seconds_count", timed)] >= 3


@pytest.mark.anyio
async def test_a_workers_metrics_are_scraped(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, scrape: tuple[Metrics, Any]
) -> None:
    metrics, read = scrape
    fake = fake_server.fake
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    for text in ("one", "two", "three"):
        await fake.post_as(human, cid, text)
    router = Router()

    @router.message(FromAccount(human.account_id), OfMessageType("text"))
    async def handler(message: Any, ctx: Any) -> None:
        await ctx.reply("ok " + message.text)

    nc: NATS = await connect(nats_cluster.urls)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await ensure_buckets(js, lease_ttl=1.5)
        with anyio.fail_after(WAIT):
            async with (
                FleepClient("bot@example.com", "pw", base_url=fake_server.base_url) as client,
                anyio.create_task_group() as tg,
            ):
                await client.account.sync()
                worker = ClusterWorker(nc, router, {bot.account_id: client}, worker_id="w1")
                metrics.track_worker(worker)
                await tg.start(worker.run)
                await publish_records(js, bot.account_id, fake.events(bot))
                await until(lambda: worker.health.handled == 3 and worker.health.pending == 0)
                await until(lambda: len(worker.health.partitions) == 16)
                while True:  # the last ack reaches the server on its own time
                    await metrics.refresh_cluster(js)
                    values = await read()
                    if values.get(("fleep_stream_pending", (("source", "cluster"),))) == 0:
                        break
                    await anyio.sleep(0.05)
                worker.stop()
    finally:
        await nc.close()

    source = (("source", "worker:w1"),)
    assert values[("fleep_handled_total", source)] == 3
    assert values[("fleep_partitions_held", source)] == 16
    assert values[("fleep_live_workers", source)] == 1
    lease = (("lease", "partition"), ("source", "worker:w1"))
    assert values[("fleep_lease_changes_total", (("change", "gained"), *lease))] == 16
    assert values[("fleep_lease_changes_total", (("change", "lost"), *lease))] == 0
    assert values[("fleep_redeliveries_total", source)] == 0
    assert values[("fleep_stream_pending", source)] == 0
    assert values[("fleep_stream_pending", (("source", "cluster"),))] == 0
    assert values[("fleep_dead_letter_stream_messages", (("source", "cluster"),))] == 0
    timed = (("kind", "message"), ("source", "worker:w1"))
    assert values[("fleep_handler_seconds_count", timed)] == 3


def test_the_cluster_package_imports_without_nats_py() -> None:
    # A single-process bot with only the metrics extra: no nats-py to import.
    code = (
        "import sys\n"
        "sys.modules['nats'] = None\n"
        "import fleep_async.cluster as cluster\n"
        "from prometheus_client import CollectorRegistry\n"
        "cluster.Metrics(CollectorRegistry())\n"
        "print(cluster.ClusterWorker.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ClusterWorker"
