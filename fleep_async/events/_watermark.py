"""The low watermark: which horizon may be committed while batches are handled concurrently.

Each poll answer is a batch with the horizon the server returned. A batch is finished when every
record admitted from it was handled (or dead-lettered) and it is sealed (no more records will be
admitted from it). The committed horizon is the horizon of the last batch of the longest run of
finished batches from the oldest: a fast conversation can never move it past a slow one.

Non-positive horizons (the cursor values of an initial sync, or the 0 of a resync) are never
committed: a restart from them would mean nothing to the server. Nor is a positive horizon below
the committed one, unless a resync batch was finished since: only a resync may move a client back.
"""

from __future__ import annotations

from collections import deque

from fleep_async.events._types import logger

__all__ = ["Batch", "Watermark"]


class Batch:
    """Bookkeeping of one poll answer."""

    __slots__ = ("horizon", "pending", "resync", "seq")

    def __init__(self, seq: int, horizon: int, *, resync: bool = False) -> None:
        self.seq = seq
        self.horizon = horizon
        self.resync = resync
        # One token held by the admission until seal(): an empty or half-admitted batch is
        # never finished early.
        self.pending = 1

    def __repr__(self) -> str:
        return f"Batch(seq={self.seq}, horizon={self.horizon}, pending={self.pending})"


class Watermark:
    """Commits horizons in poll order, only once everything before them is finished.

    Args:
        committed: the horizon already committed (from the store), or ``None``.
    """

    def __init__(self, committed: int | None = None) -> None:
        self.committed = committed
        self.refused = 0
        """Positive horizons not committed because they were below the committed one."""
        self._open: deque[Batch] = deque()
        self._seq = 0
        # A resync batch was finished: the next positive horizon may be lower than committed.
        self._rewind_allowed = False

    def __repr__(self) -> str:
        return f"Watermark(committed={self.committed}, open={len(self._open)})"

    @property
    def open_batches(self) -> int:
        """Batches not yet finished, or finished behind an unfinished one."""
        return len(self._open)

    def open(self, horizon: int, *, resync: bool = False) -> Batch:
        """Start tracking a new batch (in poll order); ``resync``: the server's horizon 0."""
        self._seq += 1
        batch = Batch(self._seq, horizon, resync=resync)
        self._open.append(batch)
        return batch

    @staticmethod
    def add(batch: Batch, count: int = 1) -> None:
        """Count ``count`` more records admitted from ``batch``."""
        batch.pending += count

    def seal(self, batch: Batch) -> bool:
        """No more records come from ``batch``; return whether the committed horizon moved."""
        return self.done(batch)

    def done(self, batch: Batch, count: int = 1) -> bool:
        """``count`` records of ``batch`` are finished; return whether the committed horizon
        moved."""
        batch.pending -= count
        if batch.pending > 0 or not self._open or self._open[0] is not batch:
            return False
        moved = False
        while self._open and self._open[0].pending == 0:
            finished = self._open.popleft()
            if finished.resync:
                self._rewind_allowed = True
            horizon = finished.horizon
            if horizon <= 0 or horizon == self.committed:
                continue
            if self.committed is None or horizon > self.committed or self._rewind_allowed:
                self.committed = horizon
                self._rewind_allowed = False
                moved = True
            else:
                self.refused += 1
                logger.warning(
                    "not committing horizon %d: below the committed %d without a resync",
                    horizon,
                    self.committed,
                )
        return moved

    def abandon(self) -> None:
        """Forget all open batches (their records will be polled again after a restart)."""
        self._open.clear()
