"""The bot process of the chaos suite: ``python -m tests.fault._chaos_bot CONFIG_JSON``.

A ``FleepClient`` running its event engine (``client.run(store=..., dedup=True)``) with one
handler for the humans' text messages; with ``"defaults": true`` in its config, every other
setting (the client's ``RetryPolicy``, ``retry_budget``, backoffs, poll interval, concurrency)
is the library's default. The handler has two effects, both idempotent under the
record's stable key (``ctx.idempotency_key``):

1. a row in a durable effect log (SQLite, ``INSERT OR IGNORE`` keyed by that key), committed in
   the same transaction as a row in an invocation log that is never deduplicated (so repeated
   handler runs can be counted honestly);
2. a reply with ``ctx.reply``, whose ``client_req_id`` is derived from the same key, so the
   server posts it once however often the handler runs.

The test SIGKILLs this process at random points and starts it again on the same files. SIGTERM
stops it gracefully (``client.stop()``: handlers finish, the checkpoint is written). It prints
``ready`` once the engine is polling, and nothing else on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio

from fleep_async import FleepClient, RetryPolicy
from fleep_async.events import Context, FileStore, HorizonStore, OfMessageType, SQLiteStore
from fleep_async.models import MessageRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    message_nr INTEGER NOT NULL,
    text TEXT NOT NULL,
    incarnation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_nr INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    incarnation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    incarnation INTEGER NOT NULL
);
"""


def open_effects(path: str) -> sqlite3.Connection:
    """The effect log; autocommit mode, transactions are explicit."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL: a committed transaction survives the death of the process (SIGKILL), which is
    # what the suite tests; FULL would add an fsync per message for power loss.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


def make_store(config: dict[str, Any]) -> HorizonStore:
    """The checkpoint store named by the config."""
    if config["store"] == "sqlite":
        return SQLiteStore(config["store_path"], name="chaos-bot")
    return FileStore(config["store_path"])


class Effects:
    """The handler's durable side: one transaction per handler run."""

    def __init__(self, conn: sqlite3.Connection, incarnation: int) -> None:
        self.conn = conn
        self.incarnation = incarnation

    def apply(self, key: str, message: MessageRecord, attempt: int) -> bool:
        """Apply the effect once per key; log the invocation either way; return whether new."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO effects"
                " (key, conversation_id, message_nr, text, incarnation) VALUES (?, ?, ?, ?, ?)",
                (key, message.conversation_id, message.message_nr, message.text, self.incarnation),
            )
            applied = cursor.rowcount == 1
            conn.execute(
                "INSERT INTO invocations"
                " (key, conversation_id, message_nr, attempt, applied, incarnation)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    message.conversation_id,
                    message.message_nr,
                    attempt,
                    int(applied),
                    self.incarnation,
                ),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return applied

    def dead_letter(self, record: Any, exc: BaseException) -> None:
        """A record the engine gave up on (the suite asserts there are none)."""
        kind = getattr(record, "mk_rec_type", None) or (
            record.get("mk_rec_type") if isinstance(record, dict) else "?"
        )
        self.conn.execute(
            "INSERT INTO dead_letters (kind, error, incarnation) VALUES (?, ?, ?)",
            (str(kind), f"{type(exc).__name__}: {exc}", self.incarnation),
        )


async def main(config: dict[str, Any]) -> None:
    """Run the bot until SIGTERM (graceful) or SIGKILL."""
    effects = Effects(open_effects(config["effects_path"]), config["incarnation"])
    defaults = bool(config.get("defaults"))
    # Tuned: fast retries so that a short run sees many faults. Defaults: what a user gets.
    tuned_retry = RetryPolicy(max_attempts=8, base_delay=0.02, max_delay=0.5, max_retry_after=2.0)
    client = FleepClient(
        config["email"],
        config["password"],
        base_url=config["base_url"],
        timeout=config["timeout"],
        poll_timeout=config["poll_timeout"],
        **({} if defaults else {"retry": tuned_retry}),
    )

    @client.router.message(OfMessageType("text"))
    async def on_message(message: MessageRecord, ctx: Context[FleepClient]) -> None:
        key = ctx.idempotency_key
        assert key is not None  # the engine always has the raw record
        effects.apply(key, message, ctx.attempt)
        await ctx.reply(f"ack {message.text}")

    tuned: dict[str, Any] = {
        "max_concurrency": 8,
        # Faults can fail a reply several times in a row: a record must not be dead-lettered
        # for that (the suite asserts no dead letters).
        "retry_budget": 50,
        "retry_backoff": RetryPolicy(base_delay=0.02, max_delay=0.5),
        "poll_backoff": RetryPolicy(base_delay=0.05, max_delay=1.0, max_retry_after=2.0),
        "min_poll_interval": 0.02,
    }

    async with client, anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: client.run(
                store=make_store(config),
                dedup=True,
                on_dead_letter=effects.dead_letter,
                task_status=task_status,
                **({} if defaults else tuned),
            )
        )
        print("ready", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                client.stop()
                break


if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [{os.getpid()}] %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    anyio.run(main, cfg)
