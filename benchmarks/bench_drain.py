"""P2 drain in-process: the engine draining a backlog as fast as it takes pages, vs a bare loop.

No server: an in-process :class:`~benchmarks._source.PageSource` answers the engine's
``account/poll`` with the next page the moment the engine asks (a feeder keeps one page ready),
so nothing but the engine limits the rate. Pages are what a backlog drain returns: 500 records of
message + conversation header pairs (``benchmarks._data.make_drain_stream``), each page new
(renumbered). Handlers as in P1's ``bot`` profile: a no-op async handler for messages and one for
conversation headers.

The baseline is the bare loop over the same pages, taken from the same kind of channel:
``orjson.loads`` of the page, a loop over the records awaiting the same no-op handler for the
message and header records. Both sides are timed per record (CPU time of this process),
interleaved round by round.

A third side, the **decode floor**, is the bare loop with the typed decode the engine does
(``parse_record`` of each message and header before its handler): no engine that hands typed
records to handlers goes below it, and the engine's ratio to it is what the engine's own work
adds (cache merges, ordering lanes, watermark, contexts, dispatch).

This replaces the old "drain throughput" over loopback, which mostly timed FakeFleep (its poll
answers cost more than the engine's work on them).

Run::

    python -m benchmarks.bench_drain [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import orjson

from benchmarks._aharness import interleave, ratio_stats
from benchmarks._data import make_drain_stream
from benchmarks._harness import Stats
from benchmarks._profile import profile_async
from benchmarks._report import Check, spread
from benchmarks._source import Counter, PageSource, renumber
from fleep_async._converter import parse_record
from fleep_async.events import EventEngine, Router

__all__ = ["FULL", "QUICK", "TARGET_RATIO", "Drain", "measure"]

TARGET_RATIO = 3.0

FULL: dict[str, Any] = {"records": 500, "pages": 40, "rounds": 15}
QUICK: dict[str, Any] = {"records": 40, "pages": 3, "rounds": 2}

_WANTED = frozenset({"message", "conv"})


class Drain:
    """Both sides of the in-process drain, started inside a task group by :meth:`start`."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.records: int = params["records"]
        self.pages: int = params["pages"]
        self.stream = make_drain_stream(self.records)
        self.expected_per_page = sum(r["mk_rec_type"] in _WANTED for r in self.stream)
        self.counter = Counter()
        self.page_number = 0
        router = Router(name="drain")

        async def handler(record: Any, ctx: Any) -> None:
            self.counter.hit()

        router.message.register(handler)
        router.conversation.register(handler)
        self.source = PageSource()
        self.engine: EventEngine[PageSource] = EventEngine(
            self.source, router, backlog="skip", min_poll_interval=0.0
        )
        self._bare_send, self._bare_receive = anyio.create_memory_object_stream[bytes](1)
        self._floor_send, self._floor_receive = anyio.create_memory_object_stream[bytes](1)

    async def _bare_handler(self, record: Any) -> None:
        self.counter.hit()

    async def _bare_loop(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        handler = self._bare_handler
        task_status.started()
        async with self._bare_receive:
            async for page in self._bare_receive:
                for record in orjson.loads(page)["stream"]:
                    kind = record["mk_rec_type"]
                    if kind == "message" or kind == "conv":
                        await handler(record)

    async def _floor_loop(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        handler = self._bare_handler
        task_status.started()
        async with self._floor_receive:
            async for page in self._floor_receive:
                for record in orjson.loads(page)["stream"]:
                    kind = record["mk_rec_type"]
                    if kind == "message" or kind == "conv":
                        await handler(parse_record(record))

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the engine, the bare loop and the decode floor (idle until pages come)."""
        await tg.start(self.engine.run)
        await tg.start(self._bare_loop)
        await tg.start(self._floor_loop)

    def stop(self) -> None:
        """Stop every side."""
        self.engine.stop()
        self._bare_send.close()
        self._floor_send.close()
        self.source.close()

    def new_pages(self) -> list[bytes]:
        """The next ``pages`` pages of the backlog (each one new: renumbered)."""
        pages = []
        for _ in range(self.pages):
            self.page_number += 1
            stream = renumber(self.stream, self.page_number)
            pages.append(orjson.dumps({"event_horizon": 0, "stream": stream}))
        return pages

    async def drain(self, side: str, pages: list[bytes]) -> float:
        """Feed ``pages`` to ``side`` (``engine``, ``bare`` or ``floor``) until all is handled;
        CPU seconds.

        CPU time of this process, not wall time: both sides are single-threaded and CPU-bound,
        and on a shared machine wall time also counts other processes' turns.
        """
        put = {
            "engine": self.source.put,
            "bare": self._bare_send.send,
            "floor": self._floor_send.send,
        }[side]
        done = self.counter.reset(self.expected_per_page * len(pages))
        start = time.process_time()
        for page in pages:
            await put(page)
        with anyio.fail_after(120):
            await done.wait()
        return time.process_time() - start

    def sampler(self, side: str) -> Callable[[], Awaitable[float]]:
        """A sample of ``side``: seconds per record of one drain (new pages made untimed)."""

        async def sample() -> float:
            pages = self.new_pages()
            return await self.drain(side, pages) / (len(pages) * self.records)

        return sample


async def measure(params: dict[str, Any], *, profile: bool = False) -> dict[str, Any]:
    """Run the in-process drain; its table rows, check and notes."""
    drain = Drain(params)
    notes: list[str] = []
    async with anyio.create_task_group() as tg:
        await drain.start(tg)
        samples = await interleave(
            {
                "engine": drain.sampler("engine"),
                "bare": drain.sampler("bare"),
                "floor": drain.sampler("floor"),
            },
            rounds=params["rounds"],
            warmup=2,
        )
        ratio = ratio_stats(samples["engine"], samples["bare"])
        floor_ratio = ratio_stats(samples["floor"], samples["bare"])
        over_floor = ratio_stats(samples["engine"], samples["floor"])
        if profile or ratio.median > TARGET_RATIO:
            pages = drain.new_pages()
            notes.append(
                f"cProfile of the engine draining {drain.pages} pages of {drain.records} "
                "records in-process (by tottime):"
            )
            lines = await profile_async(lambda: drain.drain("engine", pages))
            notes.extend(f"`{line}`" for line in lines)
        health = drain.engine.health
        drain.stop()
    rows = []
    labels = {
        "engine": ("engine (bot handlers)", spread(ratio)),
        "floor": ("decode floor: bare loop + typed decode, no engine", spread(floor_ratio)),
        "bare": ("bare loop", ""),
    }
    for side, (label, ratio_cell) in labels.items():
        stats = Stats.of(samples[side])
        rows.append(
            {
                "side": label,
                "us/record": round(stats.median * 1e6, 2),
                "p10..p90 us": f"{stats.p10 * 1e6:.2f}..{stats.p90 * 1e6:.2f}",
                "records/s": round(1 / stats.median, 0),
                "ratio to bare (min / median / max)": ratio_cell,
            }
        )
    notes.insert(
        0,
        f"Decode floor: the bare loop with the engine's typed decode costs {spread(floor_ratio)} "
        f"(min / median / max) the bare loop; the engine costs {spread(over_floor)} the floor, "
        "the factor its own work adds.",
    )
    notes.insert(
        1,
        f"Engine counters over the run: {health.handled:,} handled, {health.skipped:,} "
        f"skipped, {health.dead_lettered} dead-lettered.",
    )
    check = Check.of_ratio("drain in-process engine/bare loop", ratio, "<=", TARGET_RATIO)
    return {"rows": rows, "check": check, "notes": notes}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_drain", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the engine")
    args = parser.parse_args(argv)
    got = anyio.run(lambda: measure(QUICK if args.quick else FULL, profile=args.profile))
    for row in got["rows"]:
        print(row)
    print(got["check"].as_dict())
    for note in got["notes"]:
        print(note)
    return got


if __name__ == "__main__":
    main()
