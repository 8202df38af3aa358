"""FakeFleep's endpoint handlers, one module per API area (as :mod:`fleep_async.endpoints`).

Each module registers its paths with :func:`~fleep_async.testing._http.routing.handler`;
``poll`` holds the long-poll and sync family (``account/poll``, ``account/sync``,
``account/listen``, ``account/sync_conversations``).
"""

from __future__ import annotations

AREAS = (
    "account",
    "alias",
    "avatar",
    "business",
    "contact",
    "conversation",
    "event",
    "file",
    "hook",
    "label",
    "message",
    "misc",
    "poll",
    "search",
    "smtp",
    "task",
    "team",
)
