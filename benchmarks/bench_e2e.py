"""P2: end to end: the engine draining in-process, and FakeFleep over loopback for latency.

**Drain in-process** (``benchmarks.bench_drain``, no server): the engine drains a backlog of
500-record pages (message + header pairs) as fast as it takes them, against a bare
``orjson.loads`` + loop over the same pages. This is the engine's throughput cost; target <= 3x
the bare loop's time per record.

**Over loopback** (FakeFleep on uvicorn in its own process): two consumers of the bot account's
event stream, measured one at a time in interleaved rounds:

- ``fleep``: ``FleepClient.run()`` (the event engine, default settings) with a message handler on
  ``client.router``;
- ``bare`` (the baseline): ``httpx.AsyncClient`` posting ``account/poll`` in a loop,
  ``orjson.loads``, a loop over the stream picking the message records.

A "human" account posts marker messages (``x<i>``) through its own connection (raw httpx
``message/send``, in this process). Per round and side:

- **throughput**: ``N`` messages are posted while the consumer is stopped; the consumer then
  starts from the horizon before them; events/s = N / (time from start until the last marker
  reached the handler). The server's answers (up to 500 records each) are the same for both.
- **latency**: with the consumer parked in a long poll, markers are posted one at a time (the
  next once the previous arrived); latency = arrival at the handler - the moment before the
  human's POST.

Target: p99 latency <= 1.2x bare (median of per-round ratios). The loopback throughputs are
reported, not targeted: FakeFleep (pure Python, one core) caps both sides at a few hundred
events/s, so they measure the server, not the engine.

The server runs in a separate process so that its CPU is not billed to the consumer; the human
poster shares the consumer's process but never runs during a throughput window, and during a
latency probe it does the same work for both sides.

Run::

    python -m benchmarks.bench_e2e [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import anyio.abc
import httpx
import orjson

from benchmarks import bench_drain
from benchmarks._aharness import ratio_stats, run_concurrently
from benchmarks._harness import Stats
from benchmarks._profile import profile_async
from benchmarks._report import BenchResult, Check, spread
from benchmarks._server import ServerProcess
from fleep_async import FleepClient
from fleep_async.events import Checkpoint, MemoryStore
from fleep_async.testing.helpers import RawUser

__all__ = ["TARGET_P99", "main", "run"]

TARGET_P99 = 1.2

BOT = ("bot@example.com", "bot-password", "Bot")
HUMAN = ("human@example.com", "human-password", "Human")

FULL: dict[str, Any] = {"messages": 1000, "rounds": 5, "probes": 60}
QUICK: dict[str, Any] = {"messages": 20, "rounds": 2, "probes": 4}

_MARK = "<msg><p>x"


class Sink:
    """Timestamps marker messages as the handler sees them."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.expect = 0
        self.done = anyio.Event()

    def reset(self, expect: int) -> anyio.Event:
        """Forget earlier arrivals; the event fires once ``expect`` markers arrived."""
        self.arrived = {}
        self.expect = expect
        self.done = anyio.Event()
        return self.done

    def see(self, message: object) -> None:
        """Called by a handler with the raw ``message`` field."""
        if isinstance(message, str) and message.startswith(_MARK):
            end = message.find("<", len(_MARK))
            index = int(message[len(_MARK) : end])
            if index not in self.arrived:
                self.arrived[index] = time.perf_counter()
                if len(self.arrived) >= self.expect:
                    self.done.set()


class Consumer:
    """One side: started per round from a horizon, stopped after it."""

    name = ""

    async def run(self, horizon: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        raise NotImplementedError

    def stop(self, scope: anyio.CancelScope) -> None:
        scope.cancel()


class FleepConsumer(Consumer):
    """``FleepClient.run()`` with a message handler on ``client.router``."""

    name = "fleep"

    def __init__(self, client: FleepClient, sink: Sink) -> None:
        self.client = client

        @client.router.message()
        async def on_message(record: Any) -> None:
            sink.see(record.message)

    async def run(self, horizon: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        store = MemoryStore(Checkpoint(horizon=horizon, account_id=self.client.account_id))
        await self.client.run(store=store, backlog="resume", task_status=task_status)

    def stop(self, scope: anyio.CancelScope) -> None:
        self.client.stop(0)


class BareConsumer(Consumer):
    """httpx + orjson long-poll loop."""

    name = "bare"

    def __init__(self, user: RawUser, sink: Sink) -> None:
        self.user = user
        self.sink = sink
        self.headers = {"Content-Type": "application/json", **user.cookie_header}

    async def run(self, horizon: int, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        http = self.user.http
        ticket = self.user.ticket
        task_status.started()
        while True:
            response = await http.post(
                "/api/account/poll",
                content=orjson.dumps({"event_horizon": horizon, "wait": True, "ticket": ticket}),
                headers=self.headers,
            )
            body = orjson.loads(response.content)
            horizon = body["event_horizon"]
            for record in body["stream"]:
                if record["mk_rec_type"] == "message":
                    self.sink.see(record.get("message"))


class Bench:
    """The shared state of a run: server, human poster, marker counter."""

    def __init__(self, human: RawUser, bot_raw: RawUser, conversation_id: str) -> None:
        self.human = human
        self.bot_raw = bot_raw
        self.conversation_id = conversation_id
        self.next_marker = 0

    async def horizon(self) -> int:
        answer = await self.bot_raw.call("account/sync", {})
        return int(answer["event_horizon"])

    async def post(self, index: int) -> None:
        await self.human.call(f"message/send/{self.conversation_id}", {"message": f"x{index}"})

    async def post_many(self, count: int, workers: int = 8) -> tuple[int, float]:
        """Post ``count`` markers with ``workers`` concurrent posts; (first index, start time)."""
        first = self.next_marker
        self.next_marker += count
        markers = iter(range(first, first + count))

        async def post_next() -> None:
            await self.post(next(markers))

        started = time.perf_counter()
        await run_concurrently(post_next, count, workers)
        return first, started

    async def profile_drain(self, consumer: Consumer, sink: Sink, messages: int) -> list[str]:
        """Post a backlog, then profile the consumer draining it; the top profile lines."""
        start = await self.horizon()
        await self.post_many(messages)
        done = sink.reset(messages)
        async with anyio.create_task_group() as tg:
            await tg.start(partial(consumer.run, start))
            with anyio.fail_after(120):
                lines = await profile_async(done.wait)
            consumer.stop(tg.cancel_scope)
        return lines

    async def trial(
        self, consumer: Consumer, sink: Sink, *, messages: int, probes: int
    ) -> tuple[float, float, list[float]]:
        """One side, one round: (live events/s, drain events/s, latencies in seconds)."""
        start = await self.horizon()
        await self.post_many(messages)
        done = sink.reset(messages)
        latencies: list[float] = []
        async with anyio.create_task_group() as tg:
            scope = tg.cancel_scope
            await tg.start(partial(consumer.run, start))
            began = time.perf_counter()
            with anyio.fail_after(120):
                await done.wait()
            drain = messages / (max(sink.arrived.values()) - began)
            # Live: the consumer is parked in a long poll while the human posts.
            done = sink.reset(messages)
            _, began = await self.post_many(messages)
            with anyio.fail_after(120):
                await done.wait()
            live = messages / (max(sink.arrived.values()) - began)
            for _ in range(probes):
                index = self.next_marker
                self.next_marker += 1
                done = sink.reset(1)
                sent = time.perf_counter()
                await self.post(index)
                with anyio.fail_after(30):
                    await done.wait()
                latencies.append(sink.arrived[index] - sent)
            consumer.stop(scope)
        return live, drain, latencies


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def _measure(
    server: ServerProcess, params: dict[str, Any], drain_in: dict[str, Any], *, profile: bool
) -> BenchResult:
    timeout = httpx.Timeout(30.0, read=120.0)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as human_http,
        httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as bot_http,
        FleepClient(BOT[0], BOT[1], base_url=server.base_url) as client,
    ):
        human = await RawUser.login(human_http, HUMAN[0], HUMAN[1])
        bot_raw = await RawUser.login(bot_http, BOT[0], BOT[1])
        created = await human.call("conversation/create", {"topic": "P2", "emails": BOT[0]})
        bench = Bench(human, bot_raw, created["header"]["conversation_id"])
        sink = Sink()
        consumers: dict[str, Consumer] = {
            "fleep": FleepConsumer(client, sink),
            "bare": BareConsumer(bot_raw, sink),
        }
        live: dict[str, list[float]] = {name: [] for name in consumers}
        drain: dict[str, list[float]] = {name: [] for name in consumers}
        latencies: dict[str, list[float]] = {name: [] for name in consumers}
        round_p50: dict[str, list[float]] = {name: [] for name in consumers}
        round_p99: dict[str, list[float]] = {name: [] for name in consumers}
        small = max(5, params["messages"] // 10)
        for consumer in consumers.values():  # warm-up, not recorded
            await bench.trial(consumer, sink, messages=small, probes=3)
        names = list(consumers)
        for i in range(params["rounds"]):
            for name in names if i % 2 == 0 else names[::-1]:
                rate_live, rate_drain, lat = await bench.trial(
                    consumers[name], sink, messages=params["messages"], probes=params["probes"]
                )
                live[name].append(rate_live)
                drain[name].append(rate_drain)
                latencies[name].extend(lat)
                round_p50[name].append(_quantile(lat, 0.5))
                round_p99[name].append(_quantile(lat, 0.99))
        live_ratio = ratio_stats(live["fleep"], live["bare"])
        drain_ratio = ratio_stats(drain["fleep"], drain["bare"])
        notes: list[str] = []
        if profile:
            notes.append(
                f"cProfile of the fleep side draining a backlog of {params['messages']} "
                "messages (by tottime):"
            )
            lines = await bench.profile_drain(consumers["fleep"], sink, params["messages"])
            notes.extend(f"`{line}`" for line in lines)

    p99 = {name: _quantile(values, 0.99) for name, values in latencies.items()}
    p50 = {name: _quantile(values, 0.5) for name, values in latencies.items()}
    rows = []
    for name in consumers:
        live_stats = Stats.of(live[name])
        drain_stats = Stats.of(drain[name])
        rows.append(
            {
                "side": name,
                "live events/s": round(live_stats.median, 0),
                "live p10..p90": f"{live_stats.p10:.0f}..{live_stats.p90:.0f}",
                "drain events/s": round(drain_stats.median, 0),
                "drain p10..p90": f"{drain_stats.p10:.0f}..{drain_stats.p90:.0f}",
                "latency p50 ms": round(p50[name] * 1e3, 3),
                "latency p99 ms": round(p99[name] * 1e3, 3),
                "latency max ms": round(max(latencies[name]) * 1e3, 3),
                "probes": len(latencies[name]),
            }
        )
    p50_rounds = ratio_stats(round_p50["fleep"], round_p50["bare"])
    p99_rounds = ratio_stats(round_p99["fleep"], round_p99["bare"])
    drain_check: Check = drain_in["check"]
    ratios = [
        {
            "ratio": "drain in-process: engine/bare time per record (engine cost)",
            "min / median / max": f"{drain_check.spread[0]:.2f} / {drain_check.value:.2f} / "
            f"{drain_check.spread[1]:.2f}"
            if drain_check.spread
            else "",
        },
        {
            "ratio": "loopback latency p50 fleep/bare, per round",
            "min / median / max": spread(p50_rounds),
        },
        {
            "ratio": "loopback latency p99 fleep/bare, per round",
            "min / median / max": spread(p99_rounds),
        },
        {
            "ratio": "loopback live throughput fleep/bare (capped by FakeFleep)",
            "min / median / max": spread(live_ratio),
        },
        {
            "ratio": "loopback drain throughput fleep/bare (capped by FakeFleep)",
            "min / median / max": spread(drain_ratio),
        },
    ]
    notes[:0] = [
        "The loopback throughputs are capped by FakeFleep (pure-Python h11 server, one core): "
        f"bare reaches {Stats.of(live['bare']).median:,.0f} events/s live and "
        f"{Stats.of(drain['bare']).median:,.0f} events/s draining, far below the in-process "
        "drain; they are not the engine's cost, which the in-process drain measures.",
        *drain_in["notes"],
    ]
    notes.insert(
        0,
        f"Median latency p50 per round: fleep "
        f"{statistics.median(round_p50['fleep']) * 1e3:.2f} ms, bare "
        f"{statistics.median(round_p50['bare']) * 1e3:.2f} ms; p99 per round: fleep "
        f"{statistics.median(round_p99['fleep']) * 1e3:.2f} ms, bare "
        f"{statistics.median(round_p99['bare']) * 1e3:.2f} ms.",
    )
    return BenchResult(
        id="P2",
        title="End to end",
        description=(
            "Drain in-process (the engine's throughput cost, no server): the engine drains "
            "500-record pages of message + header pairs from an in-process source as fast as "
            "it takes them (message and conversation handlers, as P1's `bot`), vs a bare "
            "`orjson.loads` + loop awaiting the same handlers on the same pages; time per "
            "record, interleaved. Over loopback (latency): "
            "FakeFleep served by uvicorn in a separate process; a human account posts marker "
            "messages over its own connection (8 concurrent posts); the bot account's events "
            "are consumed by `FleepClient.run()` (event engine, message handler on "
            "`client.router`) vs a bare httpx + orjson long-poll loop. Live throughput: N "
            "messages posted while the consumer long-polls, events/s from the first post to "
            "the last arrival. Drain throughput: a backlog of N messages (2 records each: "
            "message + conversation header) consumed from the horizon before them (consumer-"
            "bound). Latency: one message at a time into a parked long poll, from before the "
            "human's POST to the handler. Sides alternate round by round."
        ),
        checks=[
            drain_check,
            Check.of_ratio("loopback latency p99 fleep/bare", p99_rounds, "<=", TARGET_P99),
        ],
        tables={"drain in-process": drain_in["rows"], "loopback per side": rows, "ratios": ratios},
        params=dict(params),
        notes=notes,
    )


def run(*, quick: bool = False, profile: bool = False) -> BenchResult:
    """Run P2 (``quick``: tiny sizes) and return its result."""
    params = QUICK if quick else FULL
    drain_params = bench_drain.QUICK if quick else bench_drain.FULL
    started = time.perf_counter()
    drain_in = anyio.run(partial(bench_drain.measure, drain_params, profile=profile))
    with ServerProcess(accounts=[BOT, HUMAN], hold_seconds=60.0) as server:
        result = anyio.run(partial(_measure, server, params, drain_in, profile=profile))
    result.params = {**params, "drain in-process": dict(drain_params)}
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> BenchResult:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_e2e", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--profile", action="store_true", help="add cProfiles of the drains")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, profile=args.profile)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
