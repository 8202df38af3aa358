"""P1 and P2's drain in instructions: the engine and its baseline, independent of machine load.

CPU and wall times on a shared machine move with other processes' load: in one run on a busy
2-core machine P1's `bot` ratio ranged 2.5x..6.4x over its rounds. The number of instructions a
process executes does not move with load. This tool runs P1's sides (the ``orjson.loads`` + dict
loop baseline, the decode floor and chosen engine variants, the same code as
``bench_dispatch``) and P2's in-process drain (``bench_drain``: the engine, the decode floor
and the bare loop on 500-record message + header pages) in child processes under
``valgrind --tool=callgrind`` and reports instructions per record.

Each side runs twice, with a fixed hash seed: feeding ``warmup`` pages, and feeding
``warmup + pages`` pages. Both runs build the same pages before anything is fed (the dedup
variant's pages are renumbered copies), so the difference of the two counts is exactly the cost
of the extra pages: start-up, imports, page building and the first pages' specialisation cancel
out. Instructions are not time (a cache miss costs more than an add), so this complements the
CPU-time ratios rather than replacing them.

Needs ``valgrind`` on the PATH. Each run takes a minute or two under valgrind; two run at once.

Run::

    python -m benchmarks.instructions [--variants bot,"bot dedup"] [--no-drain] [--pages 10]
                                      [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import orjson

from benchmarks import bench_drain
from benchmarks._data import make_stream
from benchmarks.bench_dispatch import (
    BOT_KINDS,
    FLOOR,
    TARGET_DEDUP,
    TARGET_RATIO,
    VARIANTS,
    _Variant,
    baseline,
    decode_floor,
)

__all__ = ["count", "main"]

RECORDS = 1000  # per P1 page
DRAIN_RECORDS = 500  # per P2 drain page
_DRAIN_SIDES = {
    "drain engine": "engine",
    "drain decode floor": "floor",
    "drain bare loop": "bare",
}
_COLLECTED = re.compile(rb"Collected : (\d+)")
_TARGETS = {
    "bot": TARGET_RATIO,
    "bot dedup": TARGET_DEDUP,
    "drain engine": bench_drain.TARGET_RATIO,
}


def _child(side: str, feed: int, build: int) -> None:
    """Build ``build`` pages, then feed the first ``feed`` of them to ``side``."""
    if side in _DRAIN_SIDES:
        _drain_child(_DRAIN_SIDES[side], feed, build)
        return
    stream = make_stream(RECORDS)
    if side in ("baseline", FLOOR):
        pages = [orjson.dumps({"event_horizon": 0, "stream": stream}) for _ in range(build)]
        for page in pages[:feed]:
            if side == FLOOR:
                decode_floor(page, BOT_KINDS)
            else:
                baseline(page)
        return
    variant = _Variant(side, VARIANTS[side], stream)
    pages = [variant.next_page() for _ in range(build)]

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(variant.engine.run)
            for page in pages[:feed]:
                await variant.feed(page)
            variant.engine.stop()
        variant.source.close()

    anyio.run(run)


def _drain_child(side: str, feed: int, build: int) -> None:
    drain = bench_drain.Drain({"records": DRAIN_RECORDS, "pages": build})
    pages = drain.new_pages()

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await drain.start(tg)
            await drain.drain(side, pages[:feed])
            drain.stop()

    anyio.run(run)


def _instructions(side: str, feed: int, build: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        side,
        str(feed),
        str(build),
    ]
    # A fixed hash seed: string hashes decide dict and set layouts, which moved the counts by
    # about a thousand instructions per record from one run to the next.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, check=False, timeout=1800, env=env)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-2000:]
        msg = f"valgrind run of {side!r} failed (exit {done.returncode}):\n{tail}"
        raise RuntimeError(msg)
    return int(found.group(1))


def count(sides: Sequence[str], *, pages: int, warmup: int) -> dict[str, float]:
    """Instructions per record of each side (two valgrind runs each, two at a time)."""
    build = warmup + pages
    runs = [(side, feed) for side in sides for feed in (warmup, build)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(pool.map(lambda run: _instructions(run[0], run[1], build), runs))
    by_run = dict(zip(runs, counts, strict=True))
    return {
        side: (by_run[(side, build)] - by_run[(side, warmup)])
        / (pages * (DRAIN_RECORDS if side in _DRAIN_SIDES else RECORDS))
        for side in sides
    }


def _markdown(per_record: dict[str, float], *, pages: int, warmup: int, seconds: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# P1 and P2 drain in instructions (valgrind)",
        "",
        f"- Command: `python -m benchmarks.instructions`, {when}",
        f"- {pages} pages counted per side after {warmup} warm-up pages (P1: {RECORDS} records a "
        f"page, the P2 drain: {DRAIN_RECORDS}); "
        f"CPython {sys.version.split()[0]}; {seconds:.0f} s",
        "- Instructions executed per record of the page, start-up and warm-up taken out (see "
        "`benchmarks/instructions.py`). Independent of the machine's load; not a time.",
        "",
        "| side | instructions per record | ratio to its baseline | ratio to its decode floor "
        "| target (in CPU time) |",
        "|---|---|---|---|---|",
    ]
    for side, value in per_record.items():
        drain = side in _DRAIN_SIDES
        base = per_record["drain bare loop" if drain else "baseline"]
        floor = per_record.get("drain decode floor" if drain else FLOOR)
        engine = side == "drain engine" or side in VARIANTS
        over_floor = f"{value / floor:.2f} x" if engine and floor else ""
        target = _TARGETS.get(side)
        lines.append(
            f"| {side} | {value:,.0f} | {value / base:.2f} x | {over_floor} | "
            f"{'' if target is None else f'<= {target:.1f} x'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        _child(args[1], int(args[2]), int(args[3]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument(
        "--variants", default="bot,bot dedup", help="engine variants, comma-separated"
    )
    parser.add_argument("--no-drain", action="store_true", help="leave out P2's drain")
    parser.add_argument("--pages", type=int, default=10, help="pages counted per side")
    parser.add_argument("--warmup", type=int, default=2, help="pages fed before counting")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    options = parser.parse_args(args)
    variants = [name.strip() for name in options.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    if options.pages < 1 or options.warmup < 1:
        parser.error("--pages and --warmup must be >= 1")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not on the PATH")
    started = time.monotonic()
    sides = ["baseline", FLOOR, *variants]
    if not options.no_drain:
        sides += list(_DRAIN_SIDES)
    per_record = count(sides, pages=options.pages, warmup=options.warmup)
    text = _markdown(
        per_record,
        pages=options.pages,
        warmup=options.warmup,
        seconds=time.monotonic() - started,
    )
    print(text)
    if options.out is not None:
        options.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
