"""Checkpoint stores: where the committed horizon (and the dedup state) survive a restart.

A checkpoint is written whole, in one atomic step: the horizon and the dedup marks that go with
it can never be read back from two different moments. A crash between two writes leaves the
previous checkpoint intact, which re-delivers the records handled since (at-least-once); the dedup
marks of the same write then keep the ones already handled from running twice.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import anyio
import anyio.to_thread
import attrs
import orjson

from fleep_async.errors import DecodeError, UsageError

if TYPE_CHECKING:
    import sqlite3  # imported when an SQLiteStore first connects: most bots never do

__all__ = ["Checkpoint", "FileStore", "HorizonStore", "MemoryStore", "SQLiteStore"]

_FORMAT: Final = 1
_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class Checkpoint:
    """What a store keeps: the committed horizon, its account and the dedup state.

    Attributes:
        horizon: the highest ``event_horizon`` whose records (and all before) were handled.
        account_id: the account the horizon belongs to (a horizon means nothing elsewhere).
        dedup: the deduplicator's state at the same moment (JSON-compatible), or ``None``.
        positions: per conversation, the flow position at or below which every message is
            handled or preceded the engine's starting point (what a resync does not deliver
            again), or ``None`` when unknown (a checkpoint of an older version).
    """

    horizon: int | None = None
    account_id: str | None = None
    dedup: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    positions: Mapping[str, int] | None = attrs.field(default=None, repr=False)

    def to_json(self) -> bytes:
        """Serialise to JSON bytes (the file and SQLite formats)."""
        return orjson.dumps(
            {
                "format": _FORMAT,
                "horizon": self.horizon,
                "account_id": self.account_id,
                "dedup": self.dedup,
                "positions": self.positions,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str, *, source: str = "checkpoint") -> Checkpoint:
        """Parse what :meth:`to_json` wrote.

        Raises:
            DecodeError: the data is not a checkpoint this version understands.
        """
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"{source} is not valid JSON") from exc
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise DecodeError(f"{source} has an unknown format")
        horizon = obj.get("horizon")
        account_id = obj.get("account_id")
        dedup = obj.get("dedup")
        positions = obj.get("positions")
        if (
            (horizon is not None and (not isinstance(horizon, int) or isinstance(horizon, bool)))
            or (account_id is not None and not isinstance(account_id, str))
            or (dedup is not None and not isinstance(dedup, dict))
            or (positions is not None and not _is_positions(positions))
        ):
            raise DecodeError(f"{source} has fields of the wrong type")
        return cls(horizon=horizon, account_id=account_id, dedup=dedup, positions=positions)


def _is_positions(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    )


class HorizonStore(Protocol):
    """Durable storage for one engine's :class:`Checkpoint`.

    ``save`` must be atomic: after a crash at any instant, ``load`` returns either the previous or
    the new checkpoint, whole. The engine calls ``save`` from one task at a time.
    """

    async def load(self) -> Checkpoint | None:
        """Return the last saved checkpoint, or ``None`` if there is none."""

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the stored checkpoint with ``checkpoint``, atomically and durably."""

    async def aclose(self) -> None:
        """Release resources (files, connections). The engine calls it when ``run`` ends."""


class MemoryStore:
    """Keeps the checkpoint in memory: survives an engine restart within the process only."""

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.checkpoint = checkpoint
        self.saves = 0

    async def load(self) -> Checkpoint | None:
        """Return the checkpoint held in memory."""
        return self.checkpoint

    async def save(self, checkpoint: Checkpoint) -> None:
        """Hold ``checkpoint``."""
        self.checkpoint = checkpoint
        self.saves += 1

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryStore(checkpoint={self.checkpoint!r})"


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk. Some platforms (Windows)
    # cannot open a directory; the rename is then as durable as the OS makes it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore:
    """A JSON file replaced atomically: write a temp file, fsync, rename over, fsync the directory.

    Args:
        path: the checkpoint file; its directory must exist and be writable.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # One write at a time even if a caller shares the store between engines by mistake. A
        # thread lock (taken in the worker thread) is not bound to any event loop.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    async def load(self) -> Checkpoint | None:
        """Read the checkpoint file, or return ``None`` if it does not exist.

        Raises:
            DecodeError: the file exists but is not a checkpoint (never silently ignored: that
                would restart from scratch).
        """
        try:
            data = await anyio.to_thread.run_sync(self.path.read_bytes)
        except FileNotFoundError:
            return None
        return Checkpoint.from_json(data, source=f"checkpoint file {self.path.name!r}")

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the file with ``checkpoint`` atomically and durably."""
        # Not abandoned on cancellation: a half-finished rename dance must run to its end.
        await anyio.to_thread.run_sync(self._write, checkpoint.to_json())

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        directory = self.path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(directory)

    async def aclose(self) -> None:
        """Nothing stays open between writes."""


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS fleep_checkpoint (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    updated_at REAL NOT NULL
)
"""


class SQLiteStore:
    """A row in an SQLite database (stdlib ``sqlite3``, WAL journal, one table).

    Each save is one transaction that replaces the row, so the horizon and the dedup state are
    committed together. The connection lives in worker threads (``anyio.to_thread``), used by
    one thread at a time.

    Args:
        path: the database file (created if missing).
        name: the row's key, so that several engines (accounts) can share one database.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str = "default") -> None:
        if not name:
            raise UsageError("SQLiteStore name must not be empty")
        self.path = Path(path)
        self.name = name
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, name={self.name!r})"

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            # check_same_thread=False: the worker thread may differ between calls.
            import sqlite3

            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed checkpoint survives power loss, not only a process crash.
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _run(self, func: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(self._locked, func, *args)

    def _locked(self, func: Callable[..., _T], *args: Any) -> _T:
        # check_same_thread=False below: this lock guarantees one thread at a time.
        with self._lock:
            return func(*args)

    async def load(self) -> Checkpoint | None:
        """Read this store's row, or return ``None`` if there is none.

        Raises:
            DecodeError: the row is not a checkpoint.
        """
        data = await self._run(self._load)
        if data is None:
            return None
        return Checkpoint.from_json(bytes(data), source=f"checkpoint row {self.name!r}")

    def _load(self) -> bytes | None:
        row = (
            self._connect()
            .execute("SELECT data FROM fleep_checkpoint WHERE name = ?", (self.name,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace this store's row with ``checkpoint`` in one transaction."""
        await self._run(self._save, checkpoint.to_json())

    def _save(self, data: bytes) -> None:
        conn = self._connect()
        with conn:  # BEGIN ... COMMIT, or ROLLBACK on error
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO fleep_checkpoint (name, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at",
                (self.name, data, time.time()),
            )

    async def aclose(self) -> None:
        """Close the connection (a later call reopens it)."""
        await self._run(self._close)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
