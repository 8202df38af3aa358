"""The event engine: long-poll ``account/poll``, route records to handlers, checkpoint safely.

::

    from fleep_async.events import Command, EventEngine, FileStore, Router

    router = Router()

    @router.message(Command("echo"))
    async def echo(message, ctx):
        await ctx.reply(ctx.command.args)

    engine = EventEngine(client, router, store=FileStore("bot.horizon"), dedup=True)
    await engine.run()
"""

from __future__ import annotations

from fleep_async.events._cache import EventCache
from fleep_async.events._context import Context, ErrorEvent
from fleep_async.events._dedup import Deduplicator
from fleep_async.events._dispatcher import HandlerTimeoutError
from fleep_async.events._engine import (
    DEFAULT_HANDLER_TIMEOUT,
    DEFAULT_RETRY_BACKOFF,
    EngineHealth,
    EventEngine,
)
from fleep_async.events._filters import (
    Command,
    CommandMatch,
    Filter,
    FilterLike,
    FromAccount,
    InConversation,
    OfMessageType,
    Regex,
    Text,
    as_filter,
    not_own,
)
from fleep_async.events._middleware import Middleware, NextHandler
from fleep_async.events._poller import DEFAULT_POLL_BACKOFF, PollBatch, Poller
from fleep_async.events._router import ErrorObserver, Observer, Router, SkipHandler
from fleep_async.events._store import (
    Checkpoint,
    FileStore,
    HorizonStore,
    MemoryStore,
    SQLiteStore,
)
from fleep_async.events._stream import EventStream
from fleep_async.events._types import Backlog, Requester

__all__ = [
    # engine
    "EventEngine",
    "EngineHealth",
    "EventStream",
    "Requester",
    "Backlog",
    "DEFAULT_POLL_BACKOFF",
    "DEFAULT_HANDLER_TIMEOUT",
    "DEFAULT_RETRY_BACKOFF",
    "Poller",
    "PollBatch",
    # routing
    "Router",
    "Observer",
    "ErrorObserver",
    "Context",
    "ErrorEvent",
    "SkipHandler",
    "HandlerTimeoutError",
    "Middleware",
    "NextHandler",
    # filters
    "Filter",
    "FilterLike",
    "as_filter",
    "Command",
    "CommandMatch",
    "Regex",
    "Text",
    "InConversation",
    "FromAccount",
    "OfMessageType",
    "not_own",
    # state
    "HorizonStore",
    "Checkpoint",
    "MemoryStore",
    "FileStore",
    "SQLiteStore",
    "Deduplicator",
    "EventCache",
]
