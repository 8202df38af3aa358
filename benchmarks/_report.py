"""Results of the benchmark suite: one :class:`BenchResult` per benchmark, JSON and Markdown.

Every benchmark compares a candidate with a baseline measured in the same run (interleaved), so
the figures that matter are ratios; absolute times are given for context only and are not
comparable across runs or machines.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import resource
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from benchmarks._harness import Stats

__all__ = [
    "BenchResult",
    "Check",
    "machine_info",
    "render_markdown",
    "rss_bytes",
    "spread",
    "stats_dict",
    "to_json",
]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@attrs.frozen(kw_only=True)
class Check:
    """One target: ``value op target`` (``op`` is ``"<="`` or ``">="``)."""

    name: str
    value: float
    op: str
    target: float
    unit: str = "x"
    #: the (min, max) of the per-round values behind ``value`` (a median), when there are rounds
    spread: tuple[float, float] | None = None

    def __attrs_post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            msg = f"op must be '<=' or '>=', not {self.op!r}"
            raise ValueError(msg)

    @property
    def passed(self) -> bool:
        """Whether the value meets the target."""
        if self.op == "<=":
            return self.value <= self.target
        return self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "op": self.op,
            "target": self.target,
            "unit": self.unit,
            "passed": self.passed,
            "min": None if self.spread is None else round(self.spread[0], 4),
            "max": None if self.spread is None else round(self.spread[1], 4),
        }

    @classmethod
    def of_ratio(cls, name: str, ratios: Stats, op: str, target: float, unit: str = "x") -> Check:
        """A check on the median of per-round ratios, keeping their min and max."""
        return cls(
            name=name,
            value=ratios.median,
            op=op,
            target=target,
            unit=unit,
            spread=(ratios.minimum, ratios.maximum),
        )


@attrs.define(kw_only=True)
class BenchResult:
    """What one benchmark reports.

    Attributes:
        id: ``P1`` ... ``P5``.
        title: a short name.
        description: what is compared with what (one paragraph).
        checks: the targets, with measured values.
        tables: named tables (lists of rows) of every figure measured.
        params: sizes and settings used.
        notes: observations (what limits a figure, profile lines).
        seconds: wall time of the benchmark.
    """

    id: str
    title: str
    description: str
    checks: list[Check] = attrs.Factory(list)
    tables: dict[str, list[dict[str, Any]]] = attrs.Factory(dict)
    params: dict[str, Any] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "passed": self.passed,
            "checks": [check.as_dict() for check in self.checks],
            "tables": self.tables,
            "params": self.params,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }


def spread(stats: Stats, digits: int = 2) -> str:
    """``"min / median / max"`` of per-round values (ratios), for a table cell."""
    return f"{stats.minimum:.{digits}f} / {stats.median:.{digits}f} / {stats.maximum:.{digits}f}"


def stats_dict(stats: Stats, scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    """Median, p10 and p90 of ``stats`` multiplied by ``scale``."""
    return {
        "median": round(stats.median * scale, digits),
        "p10": round(stats.p10 * scale, digits),
        "p90": round(stats.p90 * scale, digits),
    }


def rss_bytes() -> int:
    """The resident set size of this process now (``/proc/self/statm``; else the peak)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python, OS, load and date: the context of a run."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "load_average_at_start": load,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def to_json(results: Sequence[BenchResult], meta: Mapping[str, Any]) -> bytes:
    """The ``results.json`` document."""
    return orjson.dumps(
        {**meta, "results": [result.as_dict() for result in results]},
        option=orjson.OPT_INDENT_2,
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|")


def _table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend(
        "| " + " | ".join(_cell(row.get(col, "")) for col in columns) + " |" for row in rows
    )
    return lines


def render_markdown(
    results: Sequence[BenchResult],
    meta: Mapping[str, Any],
    *,
    preamble: Callable[[], str] | None = None,
) -> str:
    """A readable ``RESULTS.md``: summary, then each benchmark's checks, figures and notes."""
    machine = meta.get("machine", {})
    lines = ["# fleep-async benchmark results", ""]
    if preamble is not None:
        lines += [preamble(), ""]
    lines += [
        f"- Command: `{meta.get('command', '')}`",
        f"- Date: {machine.get('date', '')}",
        f"- Machine: {machine.get('cpu', '')}, {machine.get('cores', '')} cores "
        f"({machine.get('usable_cores', '')} usable), {machine.get('python', '')}, "
        f"{machine.get('os', '')}",
        f"- Load average at start: {machine.get('load_average_at_start', '')}",
        f"- Mode: {'quick (tiny sizes: figures not meaningful)' if meta.get('quick') else 'full'}",
        f"- Total time: {meta.get('seconds', 0):.0f} s",
        "",
        "Ratios are measured against a baseline in the same run, interleaved, after a warm-up: "
        "each value is the median of per-round ratios, with their min and max (the spread). "
        "Absolute times depend on the machine and its load and are given for context only.",
        "",
        "## Summary",
        "",
        "| id | benchmark | check | value | min..max over rounds | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for check in result.checks:
            low_high = (
                ""
                if check.spread is None
                else f"{_cell(check.spread[0])}..{_cell(check.spread[1])}"
            )
            lines.append(
                f"| {result.id} | {result.title} | {check.name} | "
                f"{_cell(check.value)} {check.unit} | {low_high} | {check.op} "
                f"{_cell(check.target)} {check.unit} | {'PASS' if check.passed else 'FAIL'} |"
            )
    for result in results:
        lines += ["", f"## {result.id}: {result.title}", "", result.description, ""]
        lines += [f"Time: {result.seconds:.1f} s. Parameters: " + _cell(result.params), ""]
        for name, rows in result.tables.items():
            lines += [f"**{name}**", "", *_table(rows), ""]
        if result.notes:
            lines += ["Notes:", ""]
            lines += [f"- {note}" for note in result.notes]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
