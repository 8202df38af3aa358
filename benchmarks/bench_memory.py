"""P4: memory: RSS growth while the engine handles 1,000,000 events across 150k conversations.

An :class:`EventEngine` with ``dedup=True`` and a catch-all no-op handler polls an in-process
:class:`~benchmarks._source.PageSource`: 1000 pages of 1000 realistic records over 150
conversations, each page renumbered and rekeyed so that its messages, headers and contacts are
new and its conversations were never seen before (about 150,000 distinct conversation ids over
the run: per-conversation state must be bounded); hooks and unmodelled records repeat unchanged
and are deduplicated, as repeated snapshots are. The resident set size is read
from ``/proc/self/statm`` after a warm-up and then every 10% of the run; the growth from the
warm-up to the end must stay under 20 MB (bounded structures, no leaks).

Run::

    python -m benchmarks.bench_memory [--quick]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import orjson

from benchmarks._data import make_stream
from benchmarks._report import BenchResult, Check, rss_bytes
from benchmarks._source import Counter, PageSource, conversation_ids, renumber
from fleep_async.events import EventEngine, Router

__all__ = ["TARGET_MB", "main", "run"]

TARGET_MB = 20.0
MB = 1024 * 1024

FULL: dict[str, Any] = {
    "pages": 1000,
    "records": 1000,
    "conversations_per_page": 150,
    "warmup_pages": 50,
}
QUICK: dict[str, Any] = {
    "pages": 12,
    "records": 100,
    "conversations_per_page": 20,
    "warmup_pages": 2,
}


async def _measure(params: dict[str, Any]) -> BenchResult:
    pages: int = params["pages"]
    per_page: int = params["records"]
    warmup: int = params["warmup_pages"]
    template = make_stream(per_page, conversations=params["conversations_per_page"])
    # Every page rekeys its conversations: the run sees this many distinct ids.
    distinct_per_page = len(conversation_ids(template))
    counter = Counter()
    router = Router(name="memory")

    @router.any()
    async def handler(record: Any) -> None:
        counter.hit()

    source = PageSource()
    engine: EventEngine[PageSource] = EventEngine(
        source, router, backlog="skip", dedup=True, min_poll_interval=0.0
    )
    samples: list[dict[str, Any]] = []
    checkpoints = {warmup, *(round(pages * k / 10) for k in range(1, 11))}
    fed = 0
    rss_warm = 0
    rss = 0
    started = time.perf_counter()
    warm_at = started

    async def settle(total: int) -> None:
        # Wait until every fed record was handled or deduplicated (benchmark code: polling the
        # health snapshot is fine here).
        with anyio.fail_after(120):
            while True:
                health = engine.health
                if health.handled + health.deduplicated + health.dead_lettered >= total:
                    return
                await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        for k in range(1, pages + 1):
            page = orjson.dumps({"event_horizon": 0, "stream": renumber(template, k, rekey=True)})
            await source.put(page)
            fed += per_page
            if k in checkpoints:
                await settle(fed)
                gc.collect()
                rss = rss_bytes()
                if k == warmup:
                    rss_warm = rss
                    warm_at = time.perf_counter()
                health = engine.health
                samples.append(
                    {
                        "events": fed,
                        "conversations seen": k * distinct_per_page,
                        "rss MB": round(rss / MB, 2),
                        "growth since warm-up MB": round((rss - rss_warm) / MB, 2)
                        if rss_warm
                        else 0.0,
                        "handled": health.handled,
                        "deduplicated": health.deduplicated,
                        "dedup keys": len(engine._dedup) if engine._dedup is not None else 0,
                        "queue depth": health.queue_depth,
                    }
                )
        elapsed = time.perf_counter() - warm_at
        final = engine.health
        structures = {
            "dedup": repr(engine._dedup),
            "cache": repr(engine.cache),
            "open batches": engine._watermark.open_batches,
            "lanes": len(engine._lanes),
            "pending dedup keys": len(engine._pending_keys),
            "conversation positions": len(getattr(engine, "_positions", ())),
            "conversation floors (checkpoint)": len(getattr(engine, "_floors", ())),
        }
        engine.stop()
    source.close()
    growth = (rss - rss_warm) / MB  # rss: the last sample, at the end of the run
    events_after_warmup = fed - warmup * per_page
    return BenchResult(
        id="P4",
        title="Memory",
        description=(
            f"RSS while the engine (dedup on, catch-all no-op handler) handles {fed:,} events "
            f"from an in-process source: {pages} pages of {per_page} realistic records, each "
            f"page new (renumbered) and in {distinct_per_page} conversations of its own "
            f"({pages * distinct_per_page:,} distinct conversation ids over the run). RSS from "
            "`/proc/self/statm` after a full collection, at "
            f"the warm-up ({warmup * per_page:,} events) and every 10% after it."
        ),
        checks=[
            Check(
                name="RSS growth after warm-up", value=growth, op="<=", target=TARGET_MB, unit="MB"
            )
        ],
        tables={"RSS over the run": samples, "structures at the end": [structures]},
        params={**params, "distinct conversations": pages * distinct_per_page},
        notes=[
            f"{final.handled:,} records handled, {final.deduplicated:,} deduplicated (hooks and "
            f"unmodelled records repeat unchanged), {final.dead_lettered} dead-lettered; "
            f"{events_after_warmup / elapsed:,.0f} events/s after the warm-up."
        ],
    )


def run(*, quick: bool = False) -> BenchResult:
    """Run P4 (``quick``: tiny sizes) and return its result."""
    started = time.perf_counter()
    result = anyio.run(partial(_measure, QUICK if quick else FULL))
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> BenchResult:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
