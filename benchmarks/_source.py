"""An in-process event source for the engine benchmarks (P1, P4): poll pages without a network.

:class:`PageSource` is a :class:`fleep_async.events.Requester` whose ``account/poll`` answers are
pages the benchmark hands in, decoded with ``orjson.loads`` as the transport would; the engine
polls it through its real poller and dispatches through its real router and dispatcher.

:func:`renumber` makes page ``k`` of a stream distinct from every other page (message numbers,
counters and times move on), so that deduplication sees new records, as it would in a live
stream; records without such fields (hooks, unknown kinds) repeat unchanged, as state snapshots
do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import orjson

from fleep_async.errors import UsageError

__all__ = ["OWN_ACCOUNT", "Counter", "PageSource", "conversation_ids", "renumber"]

#: The bench bot's own account id: not one of the data's authors, so no message is "own".
OWN_ACCOUNT = "00000000-0000-4000-8000-000000000000"

_STRIDE = 10_000
_CONVERSATION_KEYS = ("conversation_id", "dialog_id")


def renumber(
    stream: Sequence[dict[str, Any]], k: int, *, rekey: bool = False
) -> list[dict[str, Any]]:
    """Copies of ``stream``'s records with every ``*_nr`` / ``*_time`` integer moved by page ``k``.

    Message numbers move by a stride larger than a page, so page ``k`` never repeats a message of
    another page; the per-conversation order within a page is kept. With ``rekey`` the
    conversation ids (``conversation_id``, ``dialog_id``) are page ``k``'s own as well: their
    first 8 hex digits become ``k``, so every page brings conversations never seen before.
    """
    shift = k * _STRIDE
    prefix = f"{k:08x}"
    out: list[dict[str, Any]] = []
    for record in stream:
        copy = dict(record)
        for key, value in record.items():
            if type(value) is int and key.endswith(("_nr", "_time")):
                copy[key] = value + shift
            elif rekey and key in _CONVERSATION_KEYS and type(value) is str and len(value) == 36:
                copy[key] = prefix + value[8:]
        out.append(copy)
    return out


def conversation_ids(stream: Sequence[dict[str, Any]]) -> set[str]:
    """The distinct conversation ids ``stream`` mentions (the keys :func:`renumber` rekeys)."""
    return {
        value
        for record in stream
        for key in _CONVERSATION_KEYS
        if type(value := record.get(key)) is str
    }


class Counter:
    """Counts handler calls and sets an event when ``expected`` calls were made."""

    def __init__(self) -> None:
        self.calls = 0
        self.expected = 0
        self.done = anyio.Event()

    def reset(self, expected: int) -> anyio.Event:
        """Start a new count; returns the event set after ``expected`` calls."""
        self.calls = 0
        self.expected = expected
        self.done = anyio.Event()
        if expected == 0:
            self.done.set()
        return self.done

    def hit(self) -> None:
        """One handler call."""
        self.calls += 1
        if self.calls == self.expected:
            self.done.set()


class PageSource:
    """A requester whose ``account/poll`` answers are the pages passed to :meth:`put`."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[bytes](1)
        self.horizon = 1
        self.polls = 0

    @property
    def account_id(self) -> str:
        """The bot's own account id."""
        return OWN_ACCOUNT

    async def put(self, page: bytes) -> None:
        """Hand the next ``account/poll`` answer (JSON bytes) to the engine."""
        await self._send.send(page)

    async def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        """Answer ``account/sync`` with the current horizon, ``account/poll`` with a page.

        ``conversation/list`` (the engine's starting positions) lists no conversation.
        """
        if path == "account/sync":
            return {"event_horizon": self.horizon}
        if path == "conversation/list":
            return {"conversations": [], "sync_horizon": 0}
        if path != "account/poll":
            msg = f"PageSource cannot answer {path}"
            raise UsageError(msg)
        page = await self._receive.receive()
        answer: dict[str, Any] = orjson.loads(page)
        self.polls += 1
        self.horizon += max(1, len(answer.get("stream") or ()))
        answer["event_horizon"] = self.horizon
        return answer

    def close(self) -> None:
        """Close the page channel."""
        self._send.close()
        self._receive.close()
