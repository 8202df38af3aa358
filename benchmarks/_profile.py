"""cProfile helpers: the top lines of a profile, as short strings for a report's notes."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Awaitable, Callable

__all__ = ["profile_async", "top_lines"]


def top_lines(profile: cProfile.Profile, *, sort: str = "tottime", limit: int = 12) -> list[str]:
    """The ``limit`` heaviest functions as ``"tottime cumtime ncalls function"`` strings."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    stats.sort_stats(sort)
    lines: list[str] = []
    # pstats keeps its rows in a dict keyed by (file, line, name); fcn_list is the sorted order.
    for func in stats.fcn_list[:limit]:  # type: ignore[attr-defined]
        _cc, ncalls, tottime, cumtime, _callers = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("/work/main/", 1)[-1]
        lines.append(
            f"tottime {tottime * 1e3:8.1f} ms  cumtime {cumtime * 1e3:8.1f} ms  "
            f"calls {ncalls:7d}  {where}:{line}({name})"
        )
    return lines


async def profile_async(
    run: Callable[[], Awaitable[object]], *, sort: str = "tottime", limit: int = 12
) -> list[str]:
    """Profile everything the event loop runs while ``run()`` is awaited; the top lines."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        await run()
    finally:
        profile.disable()
    return top_lines(profile, sort=sort, limit=limit)
