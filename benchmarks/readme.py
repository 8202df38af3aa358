"""``python -m benchmarks.readme``: regenerate README's performance table from ``results.json``.

The table sits between the markers ``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->``
in ``README.md``; everything else in the README is left alone. One row per check of the last
run: what it measures, the median with its min..max over the interleaved rounds, the target.

Run after ``python -m benchmarks``::

    python -m benchmarks.readme             # rewrites README.md in place
    python -m benchmarks.readme --check     # exit 1 if README.md is not up to date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

__all__ = ["END", "START", "main", "render_table", "update"]

START = "<!-- benchmarks:start -->"
END = "<!-- benchmarks:end -->"

ROOT = Path(__file__).resolve().parent.parent


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def render_table(document: Mapping[str, Any]) -> str:
    """The Markdown table (with a one-line source note) for a ``results.json`` document."""
    machine = document.get("machine", {})
    lines = [
        f"From `{document.get('command', 'python -m benchmarks')}` on {machine.get('date', '?')} "
        f"({machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('python', '?')}; load average at start "
        f"{machine.get('load_average_at_start', '?')}). Ratios are medians of per-round ratios "
        "against a baseline measured in the same run, interleaved; min..max over the rounds.",
        "",
        "| | what is measured | median (min..max) | target | |",
        "|---|---|---|---|---|",
    ]
    for result in document.get("results", []):
        for check in result.get("checks", []):
            unit = check.get("unit", "")
            suffix = "x" if unit == "x" else f" {unit}"
            low, high = check.get("min"), check.get("max")
            spread = (
                f" ({_number(low)}..{_number(high)})"
                if low is not None and high is not None
                else ""
            )
            lines.append(
                f"| {result['id']} | {result['title']}: {check['name']} | "
                f"{_number(check['value'])}{suffix}{spread} | {check['op']} "
                f"{_number(check['target'])}{suffix} | "
                f"{'met' if check['passed'] else '**missed**'} |"
            )
    return "\n".join(lines)


def update(readme: str, document: Mapping[str, Any]) -> str:
    """``readme`` with the text between the markers replaced by the table."""
    start = readme.find(START)
    end = readme.find(END)
    if start < 0 or end < start:
        msg = f"README has no {START} ... {END} section"
        raise SystemExit(msg)
    return readme[: start + len(START)] + "\n" + render_table(document) + "\n" + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="only check it is up to date")
    args = parser.parse_args(argv)
    document = orjson.loads(args.results.read_bytes())
    current = args.readme.read_text(encoding="utf-8")
    new = update(current, document)
    if args.check:
        return 0 if new == current else 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
