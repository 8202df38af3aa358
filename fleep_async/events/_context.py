"""What a handler receives besides the record: the client, the conversation, ``reply``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from fleep_async.errors import UsageError
from fleep_async.events._dedup import Deduplicator
from fleep_async.events._filters import CommandMatch

if TYPE_CHECKING:
    from fleep_async.events._cache import EventCache
    from fleep_async.events._dispatcher import TimeoutGuard
    from fleep_async.events._router import HandlerObject, Router
    from fleep_async.models import ContactRecord, ConversationRecord

__all__ = ["Context", "ErrorEvent"]

ClientT = TypeVar("ClientT")

# Replies get a client_req_id derived from the record they answer (see Context.reply): the same
# reply to the same record revision is the same request, which Fleep executes once.
_REPLY_NAMESPACE: Final = uuid.UUID("5b0e8a8e-3f7c-4d55-9a37-6f0c1f2f6a11")


class Context(Generic[ClientT]):
    """Per-record context passed to filters, middleware and handlers.

    Attributes:
        client: the client (or requester) the engine polls with.
        record: the record being handled.
        kind: the record's ``mk_rec_type`` (``"message"``, ``"conv"``, ...).
        conversation_id: the record's conversation, or ``None`` (contacts, ...).
        own_account_id: the bot's own account id, when known.
        attempt: 1 for the first delivery to the handlers, 2 for the first retry, ...
        idempotency_key: the record's identity and revision (see :attr:`idempotency_key`).
        data: values filters and middleware attach for the handler (``"command"``,
            ``"match"``, anything a middleware sets); :attr:`command` and :attr:`match` are the
            typed views of the first two.
        router: the router of the handler that matched (``None`` until one did).
        handler: the handler that matched (``None`` until one did).
    """

    __slots__ = (
        "_cache",
        "_data",
        "_identity",
        "_raw",
        "_replies",
        "attempt",
        "client",
        "conversation_id",
        "handler",
        "kind",
        "own_account_id",
        "record",
        "router",
        "timeout_guard",
    )

    def __init__(
        self,
        *,
        client: ClientT,
        record: Any,
        kind: str,
        conversation_id: str | None,
        own_account_id: str | None,
        cache: EventCache | None = None,
        identity: str | None = None,
        raw: Mapping[str, Any] | None = None,
        attempt: int = 1,
        timeout_guard: TimeoutGuard | None = None,
    ) -> None:
        self.client = client
        self.record = record
        self.kind = kind
        self.conversation_id = conversation_id
        self.own_account_id = own_account_id
        self.attempt = attempt
        self._data: dict[str, Any] | None = None
        self.router: Router | None = None
        self.handler: HandlerObject | None = None
        self._cache = cache
        self._identity = identity
        self._raw = raw
        self._replies = 0
        #: how the caller enforces handler timeouts (see TimeoutGuard); None: per call
        self.timeout_guard = timeout_guard

    def __repr__(self) -> str:
        return (
            f"Context(kind={self.kind!r}, conversation_id={self.conversation_id!r}, "
            f"attempt={self.attempt})"
        )

    @property
    def data(self) -> dict[str, Any]:
        """Values filters and middleware attach for the handler (see the class docstring)."""
        data = self._data
        if data is None:
            # Made on first use: most records pass no filter that adds anything.
            data = self._data = {}
        return data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

    @property
    def conversation(self) -> ConversationRecord | None:
        """The cached (merged) header of the record's conversation, or ``None`` if unseen."""
        if self._cache is None or self.conversation_id is None:
            return None
        return self._cache.conversation(self.conversation_id)

    def contact(self, account_id: str) -> ContactRecord | None:
        """The cached contact of ``account_id``, or ``None`` if unseen."""
        if self._cache is None:
            return None
        return self._cache.contact(account_id)

    @property
    def command(self) -> CommandMatch:
        """What the :class:`~fleep_async.events.Command` filter matched (``data["command"]``).

        Raises:
            UsageError: no ``Command`` filter matched this record (the handler has none).
        """
        found = self.data.get("command")
        if not isinstance(found, CommandMatch):
            raise UsageError(
                "ctx.command is set by a Command filter; this handler's filters have none"
            )
        return found

    @property
    def match(self) -> re.Match[str]:
        """The match of the :class:`~fleep_async.events.Regex` filter (``ctx.data["match"]``).

        Raises:
            UsageError: no ``Regex`` filter matched this record (the handler has none).
        """
        found = self.data.get("match")
        if not isinstance(found, re.Match):
            raise UsageError("ctx.match is set by a Regex filter; this handler's filters have none")
        return found

    @property
    def is_own(self) -> bool:
        """Whether the record was written by the bot's own account (the server echoes it)."""
        author = getattr(self.record, "account_id", None)
        return author is not None and author == self.own_account_id

    @property
    def idempotency_key(self) -> str | None:
        """A stable key for the record being handled: its identity and revision.

        The same revision of a record has the same key however it comes again: a handler
        retry, a re-delivery after a crash or restart, a server resync, a duplicate from the
        server. A new revision (an edit, a changed snapshot) has a new key. It is the engine's
        dedup key: ``m:<conversation_id>:<message_nr>:<flow position>`` for messages, a digest
        of the record for other kinds; it holds no secret.

        The engine runs a handler at least once per revision. To make its *effect* happen
        exactly once, key the effect by this value: ``INSERT ... ON CONFLICT DO NOTHING``, or
        an upsert in the same transaction as the effect. The key names the record, not the
        bot: prefix it if several bots share one store.

        ``None`` only for a record given to :meth:`EventEngine.feed` as a decoded object.
        """
        if self._identity is None and self._raw is not None:
            # Computed on first use: hashing every record would cost for nothing.
            self._identity = Deduplicator.key(self._raw)[0]
        return self._identity

    def _next_client_req_id(self) -> str:
        self._replies += 1
        identity = self.idempotency_key
        if identity is None:
            return str(uuid.uuid4())
        seed = f"{self.own_account_id}|{identity}|{self._replies}"
        return str(uuid.uuid5(_REPLY_NAMESPACE, seed))

    async def reply(self, text: str, **fields: Any) -> dict[str, Any]:
        """Post ``text`` to the record's conversation; return the response.

        The reply is a new message through ``message/store``, the call Fleep de-duplicates by
        ``client_req_id`` (``message/send`` is not known to). The ``client_req_id`` is fixed
        before the first attempt and derived from the record's identity and revision plus the
        reply's position in this handler: if the call is retried, the handler is retried, or
        the record is re-delivered after a restart, the same reply is the same request, and
        Fleep posts it once. Pass ``client_req_id=...`` to choose your own.

        Args:
            text: plain text (Fleep markup allowed); the server renders it.
            **fields: other ``message/store`` fields (``attachments``, ``subject``, ...).

        Raises:
            UsageError: the record has no conversation, or ``message_nr`` was given.
            FleepError: the send failed (after the client's retries).
        """
        if self.conversation_id is None:
            raise UsageError(f"cannot reply to a {self.kind!r} record: it has no conversation")
        if "message_nr" in fields:
            # message/store with a message_nr edits that message: a reply is always new.
            raise UsageError("reply() posts a new message: message_nr is not allowed")
        body: dict[str, Any] = {"message": text, **fields}
        if "client_req_id" not in body:
            body["client_req_id"] = self._next_client_req_id()
        request = getattr(self.client, "request", None)
        if request is None:
            raise UsageError("the engine's client has no request() method")
        result: dict[str, Any] = await request(
            f"message/store/{self.conversation_id}", body, idempotent=True
        )
        return result


_new = object.__new__


def record_context(
    client: ClientT,
    record: Any,
    kind: str,
    conversation_id: str | None,
    own_account_id: str | None,
    cache: EventCache | None,
    identity: str | None,
    raw: Mapping[str, Any] | None,
    timeout_guard: TimeoutGuard | None,
    attempt: int = 1,
) -> Context[ClientT]:
    """What ``Context(...)`` builds from the same values, for the engine's lane workers.

    One context per record and attempt: binding ``__init__``'s keyword arguments cost more than
    the rest of building it, so the hot path sets the slots itself. Keep in step with
    ``Context.__init__`` (a test compares the two).
    """
    ctx: Context[ClientT] = _new(Context)
    ctx.client = client
    ctx.record = record
    ctx.kind = kind
    ctx.conversation_id = conversation_id
    ctx.own_account_id = own_account_id
    ctx.attempt = attempt
    ctx._data = None
    ctx.router = None
    ctx.handler = None
    ctx._cache = cache
    ctx._identity = identity
    ctx._raw = raw
    ctx._replies = 0
    ctx.timeout_guard = timeout_guard
    return ctx


@attrs.frozen(kw_only=True)
class ErrorEvent:
    """What an error handler (``@router.error()``) receives.

    Attributes:
        record: the record whose handling failed.
        exception: what the handler (or a middleware) raised.
        attempt: which attempt failed (1 = the first).
        will_retry: whether the engine will try the record again (else it is dead-lettered).
    """

    record: Any
    exception: Exception
    attempt: int
    will_retry: bool
