"""``python -m benchmarks``: run the performance suite and write ``results.json`` / ``RESULTS.md``.

::

    python -m benchmarks                  # all of them (P1..P8), full sizes: minutes
    python -m benchmarks --quick          # tiny sizes: checks that everything runs
    python -m benchmarks --only P1,P3     # a subset

Each benchmark compares the library with a baseline measured in the same run (interleaved, after
a warm-up; medians and spread). See ``benchmarks/RESULTS.md`` for the latest figures.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_api,
    bench_bots,
    bench_cluster,
    bench_dispatch,
    bench_e2e,
    bench_failover,
    bench_memory,
)
from benchmarks._report import BenchResult, machine_info, render_markdown, to_json

__all__ = ["BENCHMARKS", "main", "run_suite"]

#: id -> (title, runner(quick) -> result)
BENCHMARKS: dict[str, tuple[str, Callable[[bool], BenchResult]]] = {
    "P1": ("parse + dispatch", lambda quick: bench_dispatch.run(quick=quick)),
    "P2": ("end to end", lambda quick: bench_e2e.run(quick=quick)),
    "P3": ("API calls", lambda quick: bench_api.run(quick=quick)),
    "P4": ("memory", lambda quick: bench_memory.run(quick=quick)),
    "P5": ("many bots", lambda quick: bench_bots.run(quick=quick)),
    "P6": ("cluster workers scale out", lambda quick: bench_cluster.run(quick=quick)),
    "P7": ("poller failover", lambda quick: bench_failover.run(quick=quick)),
    "P8": ("latency through the cluster", lambda quick: bench_cluster.run_p8(quick=quick)),
}

HERE = Path(__file__).resolve().parent


def _select(only: str | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    chosen = [item.strip().upper() for item in only.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in BENCHMARKS]
    if unknown:
        msg = f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        raise SystemExit(msg)
    return chosen


def run_suite(
    ids: Sequence[str], *, quick: bool, log: Callable[[str], None] = print
) -> list[BenchResult]:
    """Run the benchmarks ``ids`` in order; return their results."""
    results = []
    for bench_id in ids:
        title, runner = BENCHMARKS[bench_id]
        log(f"{bench_id} {title} ...")
        result = runner(quick)
        for check in result.checks:
            verdict = "PASS" if check.passed else "FAIL"
            log(
                f"  {verdict}  {check.name}: {check.value:.3g} {check.unit} "
                f"(target {check.op} {check.target:g})"
            )
        log(f"  ({result.seconds:.1f} s)")
        results.append(result)
    return results


def _preamble(meta: dict[str, Any]) -> str:
    """How to read the figures of this run (the machine may be shared and busy)."""
    machine = meta.get("machine", {})
    load = machine.get("load_average_at_start") or []
    cores = machine.get("usable_cores") or machine.get("cores") or 0
    busy = bool(load) and cores and load[0] > 0.5 * cores
    lines = [
        f"Load average at start: {load} on {cores} usable cores"
        + (
            ": the machine was shared and busy (other processes ran alongside this one). "
            if busy
            else ". "
        )
        + "Prefer the ratios, measured against a baseline interleaved in the same run, and "
        "read their min..max spread. In-process CPU-bound figures (P1, P2's drain) are CPU time "
        "of this process, which other load inflates far less than wall time; the loopback "
        "figures (P2 latency, P3, P5) are wall time or per-call CPU and are noisier.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, write the results; exit status 0 (a missed target is a finding, not a crash)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", metavar="IDS", help="comma-separated subset, e.g. P1,P3")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="directory for results.json and RESULTS.md (default: benchmarks/)",
    )
    args = parser.parse_args(argv)
    ids = _select(args.only)
    command = "python -m benchmarks " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    meta: dict[str, Any] = {
        "command": command.strip(),
        "quick": args.quick,
        "machine": machine_info(),
    }
    started = time.perf_counter()
    results = run_suite(ids, quick=args.quick)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_bytes(to_json(results, meta) + b"\n")
    (args.out / "RESULTS.md").write_text(
        render_markdown(results, meta, preamble=lambda: _preamble(meta)), encoding="utf-8"
    )
    print(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
