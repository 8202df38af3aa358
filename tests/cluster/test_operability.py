"""What operators see: the poller's and the worker's Prometheus endpoints (scraped over HTTP),
``cluster status`` (poll lag, lease holders) and ``cluster worker --accounts``, as processes
against a real 3-node JetStream cluster and FakeFleep over loopback."""

from __future__ import annotations

import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.text import TextReceiveStream
from prometheus_client.parser import text_string_to_metric_families

from fleep_async.cluster import EVENTS_STREAM, connect, ensure_buckets, ensure_stream
from fleep_async.testing import FakeFleepServer
from fleep_async.testing.nats import NatsCluster
from tests.cluster._support import bot_replies, publish_records
from tests.cluster.test_cli import cli, env

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX"),
]

WAIT = 90.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Child:
    """A CLI process whose stderr is read line by line (kept for the failure message)."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stderr is not None
        self._lines = TextReceiveStream(process.stderr)
        self._buffer = ""
        self.log: list[str] = []

    async def line(self, pattern: str) -> re.Match[str]:
        """The next stderr line matching ``pattern`` (the caller bounds the wait)."""
        while True:
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                self.log.append(line)
                found = re.search(pattern, line)
                if found:
                    return found
            try:
                self._buffer += await self._lines.receive()
            except anyio.EndOfStream:
                raise AssertionError(f"exited before {pattern!r}: {self.log}") from None


@asynccontextmanager
async def child(*args: str, **extra: str) -> AsyncIterator[Child]:
    """``python -m fleep_async ARGS``; SIGTERMed (and reaped) on exit."""
    process = await anyio.open_process(
        [sys.executable, "-m", "fleep_async", *args], env=env(**extra)
    )
    try:
        yield Child(process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(20):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def status(nats_url: str) -> dict[str, Any]:
    code, out, err = await cli("cluster", "status", "--nats", nats_url, "--json")
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


async def test_a_poller_serves_metrics_and_status_shows_its_poll_lag(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer
) -> None:
    fake = fake_server.fake
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    account = bot.account_id
    login = {
        "FLEEP_EMAIL": "bot@example.com",
        "FLEEP_PASSWORD": "pw",
        "FLEEP_BASE_URL": fake_server.base_url,
    }
    nc = await connect(nats_cluster.urls)
    try:
        js = nc.jetstream()
        with anyio.fail_after(WAIT):
            async with child(
                "cluster",
                "poller",
                "--nats",
                nats_cluster.url,
                "--lease-ttl",
                "1.5",
                "--metrics-port",
                "0",
                **login,
            ) as poller:
                url = (await poller.line(r"metrics on (http://\S+)")).group(1)
                holder = (await poller.line(r"cluster poller (\S+): 1 account")).group(1)
                source = f"poller:{holder}"
                per_account = (("account", account), ("source", source))

                async def scraped(name: str, labels: tuple[tuple[str, str], ...]) -> float:
                    return (await scrape(url)).get((name, labels), -1.0)

                # A first poll completed: the poller has its starting horizon (without a
                # checkpoint it starts at the current one; what was posted before is skipped).
                while await scraped("fleep_poller_poll_age_seconds", per_account) < 0:
                    await anyio.sleep(0.05)
                for text in ("one", "two", "three"):
                    await fake.post_as(human, cid, text)
                stored = len(fake.events(bot))  # at least what the poll brings
                while (await js.stream_info(EVENTS_STREAM)).state.messages < 3:
                    await anyio.sleep(0.05)
                while await scraped("fleep_poller_published_total", per_account) < 3:
                    await anyio.sleep(0.05)
                values = await scrape(url)
                report = await status(nats_cluster.url)

                # The poll stalls (FakeFleep holds the next poll 6 s): the lag grows, in the
                # metrics and in what the poller writes to its lease for `cluster status`.
                fake.faults.delay("account/poll", seconds=6.0)
                stalled_status = 0.0
                while stalled_status < 3.0:
                    stalled_status = (await status(nats_cluster.url))["accounts"][account].get(
                        "poll_lag_seconds", 0.0
                    )
                    await anyio.sleep(0.1)
                stalled_metric = await scraped("fleep_poller_poll_age_seconds", per_account)
                code, text_report, _ = await cli("cluster", "status", "--nats", nats_cluster.url)
                # ... and falls back once the poll returns.
                recovered = stalled_status
                while recovered >= stalled_status:
                    recovered = (await status(nats_cluster.url))["accounts"][account].get(
                        "poll_lag_seconds", stalled_status
                    )
                    await anyio.sleep(0.1)
    finally:
        await nc.close()

    assert stored >= 3
    assert values[("fleep_poller_active", per_account)] == 1
    published = values[("fleep_poller_published_total", per_account)]
    assert published >= 3
    assert values[("fleep_publish_seconds_count", (("source", source),))] == published
    assert values[("fleep_poller_publish_pending", per_account)] == 0
    assert values[("fleep_poller_publish_failures_total", per_account)] == 0
    assert 0 <= values[("fleep_poller_poll_age_seconds", per_account)] < stalled_metric
    assert values[("fleep_poller_record_age_seconds", per_account)] >= 0
    gained = (("change", "gained"), ("lease", "poller"), ("source", source))
    lost = (("change", "lost"), ("lease", "poller"), ("source", source))
    assert values[("fleep_lease_changes_total", gained)] == 1
    assert values[("fleep_lease_changes_total", lost)] == 0
    assert stalled_metric >= 3.0
    # `cluster status`: who polls the account and how long ago, beside the horizon.
    seen = report["accounts"][account]
    assert seen["poller"] == holder
    assert 0 <= seen["poll_lag_seconds"] < stalled_status
    assert seen["record_age_seconds"] >= 0
    assert {"key": f"poller.{account}", "holder": holder} in [
        {"key": lease["key"], "holder": lease["holder"]} for lease in report["leases"]
    ]
    assert code == 0
    assert re.search(
        rf"account {account}: committed horizon \d+, .*polled \d+\.\ds ago by {re.escape(holder)}",
        text_report,
    ), text_report
    assert recovered < stalled_status


APP = """
from fleep_async.events import OfMessageType, Router

router = Router()


@router.message(OfMessageType("text"))
async def echo(message, ctx):
    await ctx.reply("echo " + message.text)
"""


async def test_a_worker_for_many_accounts_serves_metrics_and_status_names_its_partitions(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, tmp_path: Path
) -> None:
    fake = fake_server.fake
    human = fake.create_account("human@example.com", "pw", "Human")
    bots = [fake.create_account(f"bot{i}@example.com", "pw", f"Bot {i}") for i in range(2)]
    conversations = [fake.create_conversation(human, f"c{i}", [b]) for i, b in enumerate(bots)]
    for cid in conversations:
        await fake.post_as(human, cid, "hello")
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            [{"email": b.email, "password": "pw", "base_url": fake_server.base_url} for b in bots]
        )
    )
    accounts.chmod(0o600)
    (tmp_path / "echo_app.py").write_text(APP)
    nc = await connect(nats_cluster.urls)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await ensure_buckets(js, lease_ttl=1.5)
        with anyio.fail_after(WAIT):
            async with child(
                "cluster",
                "worker",
                "--nats",
                nats_cluster.url,
                "--app",
                "echo_app:router",
                "--accounts",
                str(accounts),
                "--metrics-port",
                "0",
                PYTHONPATH=f"{tmp_path}:{env()['PYTHONPATH']}",
            ) as worker:
                url = (await worker.line(r"metrics on (http://\S+)")).group(1)
                worker_id = (await worker.line(r"worker (\S+) running for 2 accounts")).group(1)
                for bot in bots:
                    await publish_records(js, bot.account_id, fake.events(bot))
                for bot, cid in zip(bots, conversations, strict=True):
                    await fake.wait_for(
                        lambda b=bot, c=cid: bool(bot_replies(fake, c, b.account_id)),
                        timeout=WAIT,
                    )
                source = (("source", f"worker:{worker_id}"),)
                while (await scrape(url)).get(("fleep_partitions_held", source)) != 32:
                    await anyio.sleep(0.05)
                values = await scrape(url)
                report = await status(nats_cluster.url)
    finally:
        await nc.close()

    # Both accounts' records handled by the one process (FakeFleep stored each reply once).
    for bot, cid in zip(bots, conversations, strict=True):
        assert bot_replies(fake, cid, bot.account_id) == ["<msg><p>echo hello</p></msg>"]
    assert values[("fleep_handled_total", source)] >= 2  # the two "hello"s (and any other text)
    lease = (("lease", "partition"), ("source", f"worker:{worker_id}"))
    assert values[("fleep_lease_changes_total", (("change", "gained"), *lease))] == 32
    assert values[("fleep_lease_changes_total", (("change", "lost"), *lease))] == 0
    # `cluster status` names the worker as the holder of every partition lease.
    partitions = [x for x in report["leases"] if x["key"].startswith("partition.")]
    assert len(partitions) == 32
    assert {x["holder"] for x in partitions} == {worker_id}
    assert any(
        x["key"] == f"worker.{worker_id}" and x["holder"] == worker_id for x in report["leases"]
    )


async def test_a_bad_accounts_file_for_a_worker_exits_2_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "echo_app.py").write_text(APP)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([{"email": "bot@example.com"}]))  # no password
    code, _, err = await cli(
        "cluster",
        "worker",
        "--nats",
        "nats://127.0.0.1:1",  # never reached: the file is read first
        "--app",
        "echo_app:router",
        "--accounts",
        str(accounts),
        environ=env(PYTHONPATH=f"{tmp_path}:{env()['PYTHONPATH']}"),
    )
    assert code == 2, err
    assert "account 0 needs email and password, or session_file" in err
