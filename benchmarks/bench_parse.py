"""Benchmark: decoding a poll page into typed records vs parsing the JSON alone.

(A) ``parse_stream(orjson.loads(page)["stream"])`` against (B) ``orjson.loads(page)`` plus a
plain loop over the dicts that reads ``mk_rec_type`` and two fields. The target is A/B <= 3.

Run::

    python -m benchmarks.bench_parse            # 1000-record page
    python -m benchmarks.bench_parse --quick    # tiny sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks._data import make_page
from benchmarks._harness import Comparison, compare
from fleep_async._converter import parse_stream

__all__ = ["TARGET_RATIO", "main", "run"]

#: The ratio A/B the decoder must stay under.
TARGET_RATIO = 3.0


def run(n_records: int = 1000, *, rounds: int = 30, warmup: int = 3, inner: int = 5) -> Comparison:
    """Build the page and compare typed decoding (A) with JSON parsing plus a dict loop (B)."""
    page = make_page(n_records)

    def typed() -> object:
        return parse_stream(orjson.loads(page)["stream"])

    def plain() -> object:
        stream: list[dict[str, Any]] = orjson.loads(page)["stream"]
        seen = 0
        for record in stream:
            if record["mk_rec_type"] == "message":
                seen += 1
            record.get("conversation_id")
            record.get("account_id")
        return seen

    # Same page, same answer: make sure A decodes everything before timing it.
    if len(typed()) != n_records:  # type: ignore[arg-type]
        msg = "parse_stream lost records"
        raise AssertionError(msg)
    return compare(typed, plain, rounds=rounds, warmup=warmup, inner=inner)


def main(argv: Sequence[str] | None = None) -> float:
    """Run the benchmark, print the summary and return the ratio A/B."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_parse", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--records", type=int, default=1000, help="records per page")
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds")
    args = parser.parse_args(argv)
    if args.quick:
        result = run(100, rounds=7, warmup=2, inner=10)
        n = 100
    else:
        result = run(args.records, rounds=args.rounds)
        n = args.records
    print(f"poll page of {n} records")
    print(result.describe("A parse_stream(loads)", "B loads + dict loop"))
    verdict = "OK" if result.ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"target A/B <= {TARGET_RATIO}: {verdict}")
    return result.ratio


if __name__ == "__main__":
    main()
    sys.exit(0)
