"""The tier's setup against a real 3-node JetStream cluster: streams, buckets, de-duplication."""

from __future__ import annotations

import logging
import signal
import socket
from pathlib import Path

import anyio
import pytest

from fleep_async.cluster import (
    EVENTS_STREAM,
    HEADER_MSG_ID,
    connect,
    ensure_buckets,
    ensure_stream,
    event_subject,
    message_id,
    partition_of,
    record_partition,
)
from fleep_async.errors import ClusterUnavailableError
from fleep_async.testing.nats import NatsCluster, free_port

pytestmark = pytest.mark.anyio


async def test_same_msg_id_published_twice_is_stored_once(nats_cluster: NatsCluster) -> None:
    with anyio.fail_after(30):
        nc = await connect(nats_cluster.urls)
        try:
            js = nc.jetstream()
            replicas = await ensure_stream(js)
            assert replicas == 3
            buckets = await ensure_buckets(js, lease_ttl=2.0)
            assert buckets.lease_ttl == pytest.approx(2.0)
            raw = {"mk_rec_type": "message", "conversation_id": "c1", "message_nr": 3}
            subject = event_subject("acc", record_partition(raw), "message")
            headers = {HEADER_MSG_ID: message_id("acc", raw)}
            first = await js.publish(subject, b"{}", headers=headers)
            second = await js.publish(subject, b"{}", headers=headers)
            assert not first.duplicate
            assert second.duplicate
            info = await js.stream_info(EVENTS_STREAM)
            assert info.state.messages == 1
            assert info.config.num_replicas == 3
        finally:
            await nc.close()


async def test_setup_asks_again_while_the_cluster_cannot_answer_and_ends_once_it_can(
    nats_cluster: NatsCluster,
) -> None:
    # Two of the three nodes frozen: no quorum, so JetStream answers no setup call (as while a
    # leader is elected, or on a loaded machine). Setup must keep asking, not fail at the first
    # timeout; creating a stream or bucket again with the same config is harmless.
    asked_again = anyio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "asking again" in record.getMessage():
                asked_again.set()

    watch = Watch(level=logging.WARNING)
    cluster_logger = logging.getLogger("fleep_async.cluster")
    cluster_logger.addHandler(watch)
    frozen = [p for p in nats_cluster.processes[1:] if p is not None]
    nc = await connect(nats_cluster.urls[:1])
    replicas: list[int] = []
    try:
        with anyio.fail_after(60):
            for process in frozen:
                process.send_signal(signal.SIGSTOP)

            async def set_up() -> None:
                js = nc.jetstream(timeout=0.5)
                replicas.append(await ensure_stream(js))
                await ensure_buckets(js)

            async with anyio.create_task_group() as tg:
                tg.start_soon(set_up)
                await asked_again.wait()
                for process in frozen:
                    process.send_signal(signal.SIGCONT)
            assert replicas == [3]
            info = await nc.jetstream().stream_info(EVENTS_STREAM)
            assert info.config.num_replicas == 3
    finally:
        for process in frozen:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
        cluster_logger.removeHandler(watch)
        await nc.close()


def test_partition_is_a_stable_hash() -> None:
    # Fixed values: the partition of a conversation must never change between versions.
    assert partition_of("c1", 16) == partition_of("c1", 16)
    assert {partition_of(f"conv-{i}", 16) for i in range(200)} == set(range(16))
    record = {"mk_rec_type": "contact", "account_id": "a1"}
    assert 0 <= record_partition(record, 4) < 4
    assert event_subject("a.b", 3, "weird kind*") == "fleep.events.a_b.3.weird_kind_"


async def test_unreachable_nats_is_a_clear_error() -> None:
    url = f"nats://user:secret@127.0.0.1:{free_port()}"
    with anyio.fail_after(20), pytest.raises(ClusterUnavailableError) as info:
        await connect(url, connect_timeout=1.0)
    assert "cannot connect to NATS" in str(info.value)
    assert "secret" not in str(info.value)


async def test_a_single_node_gets_r1_streams_and_buckets(tmp_path: Path) -> None:
    with NatsCluster(tmp_path / "one", nodes=1) as single:
        with anyio.fail_after(30):
            await single.ready()
            nc = await connect(single.urls)
            try:
                js = nc.jetstream()
                assert await ensure_stream(js) == 1
                assert await ensure_stream(js) == 1  # again: idempotent
                buckets = await ensure_buckets(js)
                assert (await buckets.checkpoints.status()).stream_info.config.num_replicas == 1
            finally:
                await nc.close()


def test_a_node_whose_port_was_taken_before_it_bound_it_starts_on_new_ports(
    tmp_path: Path,
) -> None:
    # Ports are picked free and bound by the node a moment later; anything may take one in
    # between. The cluster must come up anyway (a CI run once hung with a two-node cluster).
    cluster = NatsCluster(tmp_path / "taken", nodes=3)
    taken = cluster.cluster_ports[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        with cluster:
            cluster.wait_ready(timeout=20)
            assert cluster.running() == [0, 1, 2]
            assert taken not in cluster.cluster_ports
