"""Interleaved measurement of async sides (the async sibling of :mod:`benchmarks._harness`).

Each round runs one sample of every side; the order rotates (and reverses every other cycle) so
no side always runs first or right after the same neighbour. A full garbage collection runs
(untimed) before each sample.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from benchmarks._harness import Stats

__all__ = ["interleave", "ratio_stats", "run_concurrently"]

T = TypeVar("T")


async def interleave(
    sides: Mapping[str, Callable[[], Awaitable[T]]], *, rounds: int, warmup: int = 1
) -> dict[str, list[T]]:
    """Run ``warmup`` unmeasured rounds, then ``rounds`` rounds of one sample per side."""
    if rounds < 1:
        msg = "rounds must be at least 1"
        raise ValueError(msg)
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            await sides[name]()
    samples: dict[str, list[T]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        order = names[shift:] + names[:shift]
        if (i // len(names)) % 2:
            order.reverse()
        for name in order:
            gc.collect()
            samples[name].append(await sides[name]())
    return samples


def ratio_stats(a: Sequence[float], b: Sequence[float]) -> Stats:
    """Statistics of the per-round ratios ``a[i] / b[i]``."""
    return Stats.of([x / y if y else float("inf") for x, y in zip(a, b, strict=True)])


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


async def run_concurrently(call: Callable[[], Awaitable[object]], total: int, workers: int) -> None:
    """Make ``total`` calls with ``workers`` concurrent tasks."""
    import anyio

    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await call()

    async with anyio.create_task_group() as tg:
        for _ in range(min(workers, total)):
            tg.start_soon(worker)
