"""``event/store``: Fleep's message-event API, a batch of client events in one call.

Not in the API documentation our inventory comes from (the tutorial shows one example): Fleep's
own server tests drive it, and the request and result types follow their calls and asserted
answers. Each event is a :class:`ClientEvent`: an event type
(``urn:fleep:client:<area>:<op>``), its parameters and a ``client_req_id``. The answer carries a
``request`` record per event (its outcome: ``status_code`` and the ``identifier`` of what it
changed, or ``error_id``/``error_message``) and the records the events changed; see
:class:`~fleep_async.models.results.EventStoreResult`.

Per-event failures are data. The call answers 200 when the batch was processed, even if some of
its events failed: those carry an error status in their ``request`` record. ``client.event.store``
returns normally then (the other events were applied, and their records are in the answer);
``result.failed`` lists the failed outcomes and ``result.raise_for_failures()`` raises the first
as the :class:`~fleep_async.errors.FleepAPIError` subclass its status and ``error_id`` classify
to (a 430 ``not_found`` is a :class:`~fleep_async.errors.NotFoundError`).

Retries. The server de-duplicates events by ``client_req_id``: Fleep's server tests send one id
twice (with different text) and get the first outcome back, with one message stored. Every
event's id is fixed when the :class:`ClientEvent` is built (a fresh uuid4 unless given), so a
call whose outcome is unknown (a timeout, a dropped connection, a 5xx) is retried with the same
ids and applies each event once; resending the same events later is also safe, and answers
their first outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from uuid import UUID

import attrs
import orjson

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_client_req_id
from fleep_async.errors import UsageError
from fleep_async.models.results import EventStoreResult

__all__ = ["EVENT_URN", "ClientEvent", "EventStore", "to_client_events"]

EVENT_URN: Final = "urn:fleep:client:"
"""The prefix of every client event type."""

# ``<area>:<op>`` or longer (``section:task:add``, ``conversation:message:add_plain``): lower-case
# names, as every event type in Fleep's server tests and tutorial is spelled.
_KIND: Final = re.compile(r"[a-z][a-z0-9_]*(?::[a-z][a-z0-9_]*)+")
_PARAM_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_LEN: Final = 60


def _event_type(kind: object) -> str:
    """The full event type for ``kind`` (``"message:add_plain"`` or the whole URN)."""
    if isinstance(kind, str):
        rest = kind.removeprefix(EVENT_URN)
        # Another urn family (``urn:fleep:server:...``) is not a client event type.
        if not rest.startswith("urn:") and _KIND.fullmatch(rest):
            return EVENT_URN + rest
        shown = kind if len(kind) <= _SHOWN_LEN else kind[:_SHOWN_LEN] + "..."
        raise UsageError(
            f"not a client event type: {shown!r} (expected '<area>:<op>' such as "
            f"'message:add_plain', or '{EVENT_URN}<area>:<op>')"
        )
    raise UsageError(f"an event type must be text, got {type(kind).__name__}")


def _params(params: object) -> dict[str, Any]:
    """A copy of the event's parameters, UUID objects rendered as their canonical strings."""
    if not isinstance(params, Mapping):
        raise UsageError(f"event params must be a mapping, got {type(params).__name__}")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise UsageError("event params must be keyed by parameter names")
        out[name] = str(value) if isinstance(value, UUID) else value
    try:
        # Checked now, so that a set or an object fails here and not inside the transport.
        orjson.dumps(out)
    except TypeError as exc:
        raise UsageError(f"event params must be JSON values: {exc}") from None
    return out


def _event_repr(event: ClientEvent) -> str:
    # The values may be anything the caller put there (a message quoting a hook URL, say):
    # the names say what the event is without carrying them into a log.
    return (
        f"ClientEvent({event.mk_event_type!r}, params={sorted(event.params)!r}, "
        f"client_req_id={event.client_req_id!r})"
    )


@attrs.frozen(repr=False, eq=False)
class ClientEvent:
    """One event for ``event/store``, checked when built.

    ``ClientEvent("message:add_plain", {"conversation_id": cid, "message": "hi"})``. The event
    type is checked for its shape only, not against a list: Fleep has more event families
    (``account``, ``contact``...) than its server tests show.

    Attributes:
        mk_event_type: the event type; ``"message:add_plain"`` is stored as
            ``"urn:fleep:client:message:add_plain"``. Anything that is not lower-case
            ``<area>:<op>`` (with or without that prefix) is a :class:`UsageError`.
        params: the event's parameters (copied; :class:`uuid.UUID` values become strings).
        client_req_id: the idempotency key, a UUID; a fresh uuid4 when not given, fixed from
            then on (every send of this event carries it, so the server applies it once).
    """

    mk_event_type: str = attrs.field(converter=_event_type)
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_params)
    client_req_id: str = attrs.field(default=None, converter=to_client_req_id, kw_only=True)

    __repr__ = _event_repr

    def to_wire(self) -> dict[str, Any]:
        """The event as the ``stream`` item of an ``event/store`` body."""
        return {
            "mk_event_type": self.mk_event_type,
            "client_req_id": self.client_req_id,
            "params": dict(self.params),
        }


def to_client_events(values: ClientEvent | Iterable[ClientEvent]) -> tuple[ClientEvent, ...]:
    """Return the events of one call: one :class:`ClientEvent` or a non-empty list of them,
    each ``client_req_id`` once."""
    if isinstance(values, ClientEvent):
        return (values,)
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise UsageError("stream must be a ClientEvent or a list of ClientEvent objects")
    events = tuple(values)
    if not events:
        raise UsageError("stream must hold at least one event")
    seen: set[str] = set()
    for event in events:
        if not isinstance(event, ClientEvent):
            raise UsageError(f"stream must hold ClientEvent objects, got a {type(event).__name__}")
        if event.client_req_id in seen:
            # The server would answer the second with the first one's outcome: never meant.
            raise UsageError(f"client_req_id {event.client_req_id} is used twice in one call")
        seen.add(event.client_req_id)
    return events


@attrs.frozen(kw_only=True)
class EventStore(Endpoint[EventStoreResult]):
    """Apply a batch of client events; one ``request`` record per event tells its outcome.

    A failed event does not fail the call: its outcome has an error ``status_code`` (see
    ``result.failed``, ``result.outcome(event)``, ``result.raise_for_failures()``). Retried
    safely: each event's ``client_req_id`` is fixed when the event is built, and the server
    applies an id once.

    Attributes:
        stream: the events, in order (a ``ClientEvent`` or a list of them).
    """

    PATH = "event/store"
    IDEMPOTENCY_KEY = True  # per event: every ClientEvent carries its fixed client_req_id
    TRAILING_SLASH = True  # the URL Fleep's server tests call

    stream: tuple[ClientEvent, ...] = attrs.field(converter=to_client_events)

    def body(self) -> dict[str, Any]:
        """The events as the wire's ``stream`` list."""
        return {"stream": [event.to_wire() for event in self.stream]}

    def is_retry_safe(self) -> bool:
        """True: every event's ``client_req_id`` was fixed when it was built."""
        return all(event.client_req_id for event in self.stream)
