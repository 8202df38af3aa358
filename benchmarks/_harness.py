"""A small measurement harness shared by the benchmarks.

:func:`compare` times two callables *interleaved* (A, B, A, B, ...) after a warm-up, so slow
drifts of the machine (frequency scaling, other load) hit both sides alike, and reports the
median and spread of each side and of the per-round ratio A/B. The ratio of medians and the
median of per-round ratios are both given; they agree when the run was quiet.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import attrs

__all__ = ["Comparison", "Stats", "compare", "measure"]


@attrs.frozen(kw_only=True)
class Stats:
    """Seconds per call of one side: median, spread (p10..p90) and extremes."""

    samples: tuple[float, ...]
    median: float
    p10: float
    p90: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        """Summarise per-call durations (seconds)."""
        ordered = sorted(samples)
        return cls(
            samples=tuple(samples),
            median=statistics.median(ordered),
            p10=_quantile(ordered, 0.10),
            p90=_quantile(ordered, 0.90),
            minimum=ordered[0],
            maximum=ordered[-1],
        )

    @property
    def spread(self) -> float:
        """(p90 - p10) / median: the relative width of the middle 80% of samples."""
        return (self.p90 - self.p10) / self.median if self.median else 0.0

    def describe(self, unit: float = 1e-3, unit_name: str = "ms") -> str:
        """One line: median and p10..p90 in the given unit."""
        return (
            f"median {self.median / unit:.3f} {unit_name} "
            f"(p10 {self.p10 / unit:.3f}, p90 {self.p90 / unit:.3f}, spread {self.spread:.1%})"
        )


@attrs.frozen(kw_only=True)
class Comparison:
    """The result of :func:`compare`."""

    a: Stats
    b: Stats
    ratios: Stats

    @property
    def ratio(self) -> float:
        """median(A) / median(B)."""
        return self.a.median / self.b.median

    def describe(self, name_a: str = "A", name_b: str = "B") -> str:
        """A few lines for a terminal."""
        return "\n".join(
            (
                f"{name_a}: {self.a.describe()}",
                f"{name_b}: {self.b.describe()}",
                f"ratio A/B: {self.ratio:.2f} (per-round ratios: median "
                f"{self.ratios.median:.2f}, p10 {self.ratios.p10:.2f}, p90 {self.ratios.p90:.2f})",
            )
        )


def _quantile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def measure(fn: Callable[[], object], *, inner: int = 1, collect: bool = True) -> float:
    """Seconds per call of ``fn``, timed over ``inner`` consecutive calls.

    With ``collect`` a full garbage collection runs first (untimed), so a collection of the
    previous sample's garbage is not billed to this one. The collector stays enabled while
    timing: the allocations ``fn`` makes cost what they cost in real use.
    """
    if collect:
        gc.collect()
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def compare(
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    rounds: int = 30,
    warmup: int = 3,
    inner: int = 5,
    collect: bool = True,
) -> Comparison:
    """Time ``a`` and ``b`` interleaved and summarise.

    Args:
        a: the candidate.
        b: the baseline.
        rounds: measured rounds; each round times A then B (the order alternates per round).
        warmup: unmeasured rounds first (caches, specialisation, allocator).
        inner: calls per sample; raise it for very fast callables.
        collect: run a full garbage collection (untimed) before each sample.

    Returns:
        Per-call statistics of both sides and of the per-round ratio A/B.
    """
    if rounds < 1 or inner < 1:
        msg = "rounds and inner must be at least 1"
        raise ValueError(msg)
    for _ in range(warmup):
        a()
        b()
    times_a: list[float] = []
    times_b: list[float] = []
    ratios: list[float] = []
    for i in range(rounds):
        # Alternate who goes first so neither side always runs on a cache the other warmed.
        if i % 2:
            tb = measure(b, inner=inner, collect=collect)
            ta = measure(a, inner=inner, collect=collect)
        else:
            ta = measure(a, inner=inner, collect=collect)
            tb = measure(b, inner=inner, collect=collect)
        times_a.append(ta)
        times_b.append(tb)
        ratios.append(ta / tb if tb else float("inf"))
    return Comparison(a=Stats.of(times_a), b=Stats.of(times_b), ratios=Stats.of(ratios))
