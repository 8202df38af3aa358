"""Benchmark: the event engine against a bare httpx + orjson poll loop, over loopback.

FakeFleep runs in a child process (``benchmarks._server.ServerProcess``: uvicorn on 127.0.0.1),
so the server's work does not share the event loop being measured. Two consumers of the bot
account's stream, measured in interleaved rounds (A, B, B, A, ...), one at a time:

- **A, engine**: ``FleepClient`` + ``EventEngine`` with a no-op message handler (default
  settings, no dedup; ``--dedup`` to turn it on).
- **B, bare**: ``httpx.AsyncClient`` posting ``account/poll`` and ``orjson.loads`` of the body,
  a loop over the stream that picks the message records.

Per round and side:

- **throughput**: N messages are posted while the consumer is stopped, then the consumer starts
  from the horizon before them; events/s = N / (time until the last one reached the handler).
- **latency**: with the consumer parked in a long poll, messages are posted one at a time (the
  next once the previous arrived); latency = handler time - time before the post was sent.

Both sides see the raw ``message`` field only (no XML-to-text conversion), so the difference is
the engine's own cost: typed decoding, routing, bookkeeping, checkpoints.

Run::

    python -m benchmarks.bench_engine            # 2000 messages x 6 rounds, 100 latency probes
    python -m benchmarks.bench_engine --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx
import orjson

from benchmarks._harness import Stats
from benchmarks._server import ServerProcess
from fleep_async._client import FleepClient
from fleep_async.events import Checkpoint, EventEngine, MemoryStore, Router
from fleep_async.testing.helpers import RawUser

__all__ = ["Result", "main", "run"]

BOT = ("bot@example.com", "pw")
HUMAN = ("human@example.com", "pw")


@attrs.frozen(kw_only=True)
class Result:
    """What one side measured over all rounds."""

    name: str
    rates: tuple[float, ...]
    latencies: tuple[float, ...]

    @property
    def rate(self) -> float:
        """Median events/s over the rounds."""
        return statistics.median(self.rates)

    def percentile(self, q: float) -> float:
        """A latency percentile in seconds (nearest rank)."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def describe(self) -> str:
        """One line for a terminal."""
        lat = Stats.of(list(self.latencies))
        return (
            f"{self.name:>6}: {self.rate:9.0f} events/s (rounds: "
            f"{', '.join(f'{r:.0f}' for r in self.rates)}); latency p50 "
            f"{self.percentile(0.5) * 1e3:.2f} ms, p99 {self.percentile(0.99) * 1e3:.2f} ms "
            f"(spread {lat.spread:.0%})"
        )


class Sink:
    """Receives marker messages (``<msg><p>x{i}</p></msg>``) and timestamps them."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.expect = -1
        self.done = anyio.Event()

    def reset(self, expect: int) -> None:
        self.arrived.clear()
        self.expect = expect
        self.done = anyio.Event()

    def see(self, message: object) -> None:
        if isinstance(message, str) and message.startswith("<msg><p>x"):
            index = int(message[9 : message.index("<", 9)])
            self.arrived.setdefault(index, time.perf_counter())
            if len(self.arrived) >= self.expect:
                self.done.set()


Consumer = Callable[[int, Sink, anyio.abc.TaskStatus[None]], Coroutine[Any, Any, None]]


async def post_messages(
    human: RawUser, conversation_id: str, start: int, count: int
) -> dict[int, float]:
    """Post ``count`` marker messages; return their send times."""
    sent: dict[int, float] = {}
    for i in range(start, start + count):
        sent[i] = time.perf_counter()
        await human.call(f"message/send/{conversation_id}", {"message": f"x{i}"})
    return sent


async def horizon_of(bot: RawUser) -> int:
    answer = await bot.call("account/sync", {})
    return int(answer["event_horizon"])


def engine_consumer(base_url: str, *, dedup: bool) -> Consumer:
    async def consume(horizon: int, sink: Sink, task_status: anyio.abc.TaskStatus[None]) -> None:
        router = Router()

        @router.message()
        async def noop(record: Any) -> None:
            sink.see(record.message)

        async with FleepClient(*BOT, base_url=base_url) as client:
            engine = EventEngine(
                client, router, store=MemoryStore(Checkpoint(horizon=horizon)), dedup=dedup
            )
            await engine.run(task_status=task_status)

    return consume


def bare_consumer(base_url: str) -> Consumer:
    async def consume(horizon: int, sink: Sink, task_status: anyio.abc.TaskStatus[None]) -> None:
        timeout = httpx.Timeout(30.0, read=120.0)
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
            bot = await RawUser.login(http, *BOT)
            task_status.started()
            while True:
                response = await http.post(
                    "/api/account/poll",
                    content=orjson.dumps(
                        {"event_horizon": horizon, "wait": True, "ticket": bot.ticket}
                    ),
                    headers={"Content-Type": "application/json", **bot.cookie_header},
                )
                body = orjson.loads(response.content)
                horizon = body["event_horizon"]
                for record in body["stream"]:
                    if record["mk_rec_type"] == "message":
                        sink.see(record.get("message"))

    return consume


async def trial(
    consumer: Consumer,
    human: RawUser,
    bot: RawUser,
    conversation_id: str,
    counter: list[int],
    *,
    burst: int,
    probes: int,
) -> tuple[float, list[float]]:
    """One side, one round: (events/s, latencies in seconds)."""
    sink = Sink()
    # Throughput: the backlog is there before the consumer starts.
    start_horizon = await horizon_of(bot)
    first = counter[0]
    await post_messages(human, conversation_id, first, burst)
    counter[0] += burst
    sink.reset(burst)
    async with anyio.create_task_group() as tg:
        # Timed from the consumer being ready (logged in), not including the login.
        await tg.start(consumer, start_horizon, sink)
        began = time.perf_counter()
        with anyio.fail_after(120):
            await sink.done.wait()
        rate = burst / (max(sink.arrived.values()) - began)
        # Latency: one message at a time into a parked long poll.
        latencies = []
        for _ in range(probes):
            index = counter[0]
            counter[0] += 1
            sink.reset(1)
            sink.expect = 1
            sent = await post_messages(human, conversation_id, index, 1)
            with anyio.fail_after(30):
                while index not in sink.arrived:
                    sink.done = anyio.Event()
                    await sink.done.wait()
            latencies.append(sink.arrived[index] - sent[index])
        tg.cancel_scope.cancel()
    return rate, latencies


async def run(
    *, burst: int = 2000, rounds: int = 6, probes: int = 100, dedup: bool = False
) -> tuple[Result, Result]:
    """Measure both sides; return (engine, bare)."""
    server = ServerProcess(
        hold_seconds=60.0, accounts=[(*BOT, "Bot"), (*HUMAN, "Human")], start_timeout=60.0
    )
    await anyio.to_thread.run_sync(server.start)
    base_url = server.base_url
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
            human = await RawUser.login(http, *HUMAN)
            created = await human.call("conversation/create", {"topic": "bench", "emails": BOT[0]})
            conversation_id = created["header"]["conversation_id"]
            async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http_bot:
                bot = await RawUser.login(http_bot, *BOT)
                sides = {
                    "engine": engine_consumer(base_url, dedup=dedup),
                    "bare": bare_consumer(base_url),
                }
                rates: dict[str, list[float]] = {name: [] for name in sides}
                latencies: dict[str, list[float]] = {name: [] for name in sides}
                counter = [0]
                # One warm-up round each, not recorded.
                for consumer in sides.values():
                    await trial(consumer, human, bot, conversation_id, counter, burst=50, probes=5)
                for i in range(rounds):
                    order = list(sides) if i % 2 == 0 else list(reversed(sides))
                    for name in order:
                        rate, lat = await trial(
                            sides[name],
                            human,
                            bot,
                            conversation_id,
                            counter,
                            burst=burst,
                            probes=probes,
                        )
                        rates[name].append(rate)
                        latencies[name].extend(lat)
    finally:
        await anyio.to_thread.run_sync(server.stop)
    return tuple(  # type: ignore[return-value]
        Result(name=name, rates=tuple(rates[name]), latencies=tuple(latencies[name]))
        for name in ("engine", "bare")
    )


def main(argv: Sequence[str] | None = None) -> tuple[Result, Result]:
    """Run, print a summary, return the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_engine", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per burst")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per side")
    parser.add_argument("--probes", type=int, default=100, help="latency probes per round")
    parser.add_argument("--dedup", action="store_true", help="engine with dedup=True")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.probes = 100, 2, 10
    engine, bare = anyio.run(
        lambda: run(burst=args.messages, rounds=args.rounds, probes=args.probes, dedup=args.dedup)
    )
    # A benchmark talks to its user on stdout.
    print(engine.describe())
    print(bare.describe())
    print(
        f"engine/bare: throughput {engine.rate / bare.rate:.2f}x, "
        f"p50 latency {engine.percentile(0.5) / bare.percentile(0.5):.2f}x, "
        f"p99 latency {engine.percentile(0.99) / bare.percentile(0.99):.2f}x"
    )
    return engine, bare


if __name__ == "__main__":
    main()
