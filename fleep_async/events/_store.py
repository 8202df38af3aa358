"""Checkpoint stores: where the committed horizon (and the dedup state) survive a restart.

A checkpoint is written whole, in one atomic step: the horizon and the dedup marks that go with
it can never be read back from two different moments. A crash between two writes leaves the
previous checkpoint intact, which re-delivers the records handled since (at-least-once); the dedup
marks of the same write then keep the ones already handled from running twice.

A durable store has one owner at a time: two engines on one store would each handle every
record. :class:`FileStore` holds an advisory lock (``fcntl.flock``) on ``<file>.lock``;
:class:`SQLiteStore` an owner row per store name. The second owner gets
:class:`~fleep_async.errors.StoreLockedError` when it starts. A damaged store (a truncated file,
a negative horizon, a dedup state of an unknown format) is an error that names the file, never a
silent "no checkpoint" (which would skip what was posted while the bot was down).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import anyio
import anyio.to_thread
import attrs
import orjson

from fleep_async.errors import DecodeError, StoreLockedError, UsageError

if sys.platform != "win32":
    import fcntl

if TYPE_CHECKING:
    import sqlite3  # imported when an SQLiteStore first connects: most bots never do

__all__ = ["Checkpoint", "FileStore", "HorizonStore", "MemoryStore", "SQLiteStore"]

_FORMAT: Final = 1
_DEDUP_FORMAT: Final = 1
_T = TypeVar("_T")
logger = logging.getLogger("fleep_async.events")

_RESET_HINT: Final = (
    "restore it from a backup, or delete it to start over (the engine then starts from the "
    "current horizon: what was posted while the bot was down is not handled)"
)


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
    def from_json(
        cls, data: bytes | str, *, source: str = "checkpoint", hint: str = _RESET_HINT
    ) -> Checkpoint:
        """Parse what :meth:`to_json` wrote.

        Args:
            data: the stored bytes.
            source: what the data is, for the error (the file's path).
            hint: the way out, appended to the error.

        Raises:
            DecodeError: the data is not a checkpoint this version understands.
        """
        if not data:
            raise DecodeError(f"{source} is empty (0 bytes: truncated, a full disk?); {hint}")
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"{source} is not valid JSON; {hint}") from exc
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise DecodeError(f"{source} has an unknown format; {hint}")
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
            raise DecodeError(f"{source} has fields of the wrong type; {hint}")
        if horizon is not None and horizon < 0:
            # The engine never commits a non-positive horizon: this one was not written by it.
            raise DecodeError(f"{source} holds a negative horizon ({horizon}); {hint}")
        if dedup is not None and dedup.get("format") != _DEDUP_FORMAT:
            # Ignoring it would re-run every handler the marks were there to prevent.
            raise DecodeError(
                f"{source} holds dedup marks of an unknown format "
                f"({str(dedup.get('format'))[:20]!r}); {hint}"
            )
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


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie counts as gone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


class FileStore:
    """A JSON file replaced atomically: write a temp file, fsync, rename over, fsync the directory.

    The store is single-owner: the first ``load`` or ``save`` takes an advisory lock
    (``fcntl.flock``) on ``<file>.lock`` (created 0600, left in place: removing it would let
    two owners lock two different files), held until :meth:`aclose`; a second owner, in this
    process or another, gets :class:`~fleep_async.errors.StoreLockedError`. The kernel releases
    the lock of a killed process. Temp files left by a save cut short (a ``SIGKILL``) are
    removed when the lock is taken.

    Args:
        path: the checkpoint file; its directory must exist and be writable.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # One write at a time even if a caller shares the store between engines by mistake. A
        # thread lock (taken in the worker thread) is not bound to any event loop.
        self._lock = threading.Lock()
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def __del__(self) -> None:
        # A store dropped without aclose() (a test's temporary) must not keep its lock.
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def load(self) -> Checkpoint | None:
        """Take ownership, then read the checkpoint file, or return ``None`` if there is none.

        Raises:
            StoreLockedError: another engine owns the file.
            DecodeError: the file exists but is not a checkpoint (never silently ignored: that
                would restart from scratch); the message names the file and the way out.
        """
        data = await anyio.to_thread.run_sync(self._read)
        if data is None:
            return None
        return Checkpoint.from_json(data, source=f"checkpoint file {str(self.path)!r}")

    def _read(self) -> bytes | None:
        with self._lock:
            self._own()
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _own(self) -> None:
        """Take the lock (once); the caller holds ``self._lock``."""
        if self._lock_fd is not None or sys.platform == "win32":
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.read(fd, 64).decode("ascii", "replace").strip() or None
            finally:
                os.close(fd)
            held = f" by {owner}" if owner else ""
            raise StoreLockedError(
                f"checkpoint file {str(self.path)!r} is in use{held} (lock "
                f"{str(self.lock_path)!r}): another bot runs on this store. Stop it, or give "
                "this bot a store file of its own",
                path=str(self.path),
                owner=owner,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the error the next one gets (information only: the lock decides).
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._lock_fd = fd
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        # Only under the lock: no other writer of this file can have a save in progress.
        pattern = os.path.join(
            glob.escape(str(self.path.parent)), f".{glob.escape(self.path.name)}.*.tmp"
        )
        removed = 0
        for name in glob.glob(pattern, include_hidden=True):
            with contextlib.suppress(OSError):
                os.unlink(name)
                removed += 1
        if removed:
            logger.info("removed %d temp files of saves cut short next to %s", removed, self.path)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the file with ``checkpoint`` atomically and durably.

        Raises:
            StoreLockedError: another engine owns the file.
        """
        # Not abandoned on cancellation: a half-finished rename dance must run to its end.
        await anyio.to_thread.run_sync(self._write, checkpoint.to_json())

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._own()
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
        """Release the lock (a later ``load`` or ``save`` takes it again)."""
        with self._lock:
            fd, self._lock_fd = self._lock_fd, None
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock


_SCHEMA: Final = (
    """
CREATE TABLE IF NOT EXISTS fleep_checkpoint (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    updated_at REAL NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS fleep_owner (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    renewed_at REAL NOT NULL
)
""",
)

OWNER_LEASE: Final = 600.0
"""Seconds after its last save an owner row of another host counts as abandoned."""


class SQLiteStore:
    """A row in an SQLite database (stdlib ``sqlite3``, WAL journal, one table).

    Each save is one transaction that replaces the row, so the horizon and the dedup state are
    committed together. The connection lives in worker threads (``anyio.to_thread``), used by
    one thread at a time. The database file is created 0600 (it may hold message keys).

    The store is single-owner per ``name``: the first ``load`` or ``save`` writes an owner row
    (a random token, the host and the process id), every save renews it in the same
    transaction, :meth:`aclose` removes it. A second owner gets
    :class:`~fleep_async.errors.StoreLockedError` while the row's process is alive (same host)
    or its last save is less than :data:`OWNER_LEASE` seconds old (another host); the row of a
    killed process is taken over (and logged).

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
        self._token = uuid.uuid4().hex
        self._owned = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, name={self.name!r})"

    def _where(self) -> str:
        return f"checkpoint database {str(self.path)!r}"

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                if self.path.stat().st_size == 0:
                    # SQLite would take it for a new, empty database: "no checkpoint", and a
                    # resume would skip what was posted while the bot was down.
                    raise DecodeError(
                        f"{self._where()} is empty (0 bytes: truncated, a full disk?); "
                        f"{_RESET_HINT}"
                    )
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # check_same_thread=False: the worker thread may differ between calls.
            import sqlite3

            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed checkpoint survives power loss, not only a process crash.
                conn.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    conn.execute(statement)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise DecodeError(f"{self._where()} is not usable ({exc}); {_RESET_HINT}") from exc
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _own(self, conn: sqlite3.Connection) -> None:
        """Write this store's owner row, or raise if a live owner holds it (in a transaction)."""
        row = conn.execute(
            "SELECT owner, host, pid, renewed_at FROM fleep_owner WHERE name = ?", (self.name,)
        ).fetchone()
        host = socket.gethostname()
        now = time.time()
        if row is not None and row[0] != self._token:
            _, other_host, pid, renewed_at = row
            alive = (
                _pid_alive(int(pid))
                if other_host == host
                else now - float(renewed_at) < OWNER_LEASE
            )
            owner = f"pid {pid} on {other_host}"
            if alive:
                raise StoreLockedError(
                    f"{self._where()}, store {self.name!r}, is in use by {owner}: another bot "
                    "runs on this store. Stop it, or give this bot a store (or a name) of its "
                    "own. If that process is gone (its id reused), delete this name's row "
                    "from the table fleep_owner",
                    path=str(self.path),
                    owner=owner,
                )
            logger.warning(
                "%s, store %r: taking over from %s, which is gone", self._where(), self.name, owner
            )
        conn.execute(
            "INSERT INTO fleep_owner (name, owner, host, pid, renewed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, host = excluded.host, "
            "pid = excluded.pid, renewed_at = excluded.renewed_at",
            (self.name, self._token, host, os.getpid(), now),
        )
        self._owned = True

    def _owned_connection(self) -> sqlite3.Connection:
        conn = self._connect()
        if not self._owned:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                self._own(conn)
        return conn

    async def _run(self, func: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(self._locked, func, *args)

    def _locked(self, func: Callable[..., _T], *args: Any) -> _T:
        # check_same_thread=False below: this lock guarantees one thread at a time.
        with self._lock:
            return func(*args)

    async def load(self) -> Checkpoint | None:
        """Take ownership, then read this store's row, or return ``None`` if there is none.

        Raises:
            StoreLockedError: another engine owns this store (this file and name).
            DecodeError: the file is empty or not a database, or the row is not a checkpoint;
                the message names the file and the way out.
        """
        data = await self._run(self._load)
        if data is None:
            return None
        return Checkpoint.from_json(bytes(data), source=f"{self._where()}, row {self.name!r}")

    def _load(self) -> bytes | None:
        row = (
            self._owned_connection()
            .execute("SELECT data FROM fleep_checkpoint WHERE name = ?", (self.name,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace this store's row with ``checkpoint`` in one transaction.

        Raises:
            StoreLockedError: another engine owns this store, or took it over.
        """
        await self._run(self._save, checkpoint.to_json())

    def _save(self, data: bytes) -> None:
        conn = self._owned_connection()
        now = time.time()
        with conn:  # BEGIN ... COMMIT, or ROLLBACK on error
            conn.execute("BEGIN IMMEDIATE")
            renewed = conn.execute(
                "UPDATE fleep_owner SET renewed_at = ? WHERE name = ? AND owner = ?",
                (now, self.name, self._token),
            ).rowcount
            if renewed != 1:
                self._owned = False
                raise StoreLockedError(
                    f"{self._where()}, store {self.name!r}, was taken over by another bot; "
                    "this one must stop",
                    path=str(self.path),
                )
            conn.execute(
                "INSERT INTO fleep_checkpoint (name, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at",
                (self.name, data, now),
            )

    async def aclose(self) -> None:
        """Give up ownership and close the connection (a later call reopens it)."""
        await self._run(self._close)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                if self._owned:
                    with self._conn:
                        self._conn.execute(
                            "DELETE FROM fleep_owner WHERE name = ? AND owner = ?",
                            (self.name, self._token),
                        )
            finally:
                self._owned = False
                self._conn.close()
                self._conn = None
