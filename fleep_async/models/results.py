"""Typed results of the API calls: what ``await client.<area>.<action>(...)`` returns.

Each result is a frozen attrs class decoded from the response by :func:`decode_result`.
Stream records go through the core converter (:func:`~fleep_async._converter.parse_stream`), so
a result's ``stream`` holds the same typed records as a poll. Every result also keeps the
response as it came (``raw``, left out of the repr): Fleep adds fields over time, and an
undocumented one is then still reachable.

Answers are decoded record by record, as the event engine decodes a poll: by the time the answer
arrives the server has made the change, so one record that does not fit its class (a field of
an unexpected type) must not turn a successful call into an exception. Such a record is kept as
an :class:`~fleep_async.models.UnknownRecord` in a stream (dropped from a typed list, ``None``
for a single record), with a warning; ``raw`` still has it.

Not every answer is an object: endpoints documented with no output may answer ``null`` or an
empty body (:class:`EmptyResult`), and ``search/suggest`` answers a bare list
(:class:`SuggestResult`, whose ``LIST_FIELD`` names the field the list goes to).

:class:`RawResult` is the result of the endpoints whose response no source documents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeVar, cast

import attrs

from fleep_async._converter import parse_stream, structure
from fleep_async.errors import DecodeError, FleepError, classify
from fleep_async.models import (
    BaseRecord,
    ContactRecord,
    ConversationRecord,
    HookRecord,
    MessageRecord,
    Record,
    RequestRecord,
    TeamRecord,
)

__all__ = [
    "AccountPrepareResult",
    "AccountSyncResult",
    "AliasSyncResult",
    "AvatarUploadResult",
    "CallResult",
    "ContactHideResult",
    "ContactListResult",
    "ConversationListResult",
    "ConversationSyncResult",
    "DiffTeamResult",
    "EmptyResult",
    "EventStoreResult",
    "ExternalUploadResult",
    "HookListResult",
    "ListenMessage",
    "ListenResult",
    "LoginResult",
    "PollResult",
    "RawResult",
    "Result",
    "SearchResult",
    "StreamResult",
    "SuggestResult",
    "TeamResult",
    "UploadResult",
    "UploadedFile",
    "decode_result",
    "result_records",
]

_T = TypeVar("_T")

_log = logging.getLogger("fleep_async.results")

# Field metadata: how a field is decoded from the response (default: the core converter for the
# field's annotated type).
_DECODE: Final = "decode"
_STREAM: Final = {_DECODE: "stream"}


def _record(cls: type[Any]) -> dict[str, Any]:
    return {_DECODE: "record", "cls": cls}


def _records(cls: type[Any]) -> dict[str, Any]:
    return {_DECODE: "records", "cls": cls}


@attrs.frozen(kw_only=True)
class Result:
    """Base of every result: the decoded fields plus the response as it came.

    Attributes:
        raw: the response as it came: the JSON object, or ``None``/a list for the few
            endpoints that answer so (not shown in the repr: it may hold a ticket).
    """

    #: The field a top-level JSON list answer is decoded into (``None``: a list is an error).
    LIST_FIELD: ClassVar[str | None] = None

    raw: Any = attrs.field(factory=dict, repr=False, eq=False)

    def records(self) -> list[Record]:
        """The stream records this result carries (fed to the client's cache)."""
        return []


@attrs.frozen(kw_only=True)
class RawResult(Result):
    """The response of an endpoint whose answer no source documents: the object as-is."""

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``raw[key]``, or ``default`` when absent (or the answer is not an object)."""
        raw = self.raw
        return raw.get(key, default) if isinstance(raw, Mapping) else default


@attrs.frozen(kw_only=True)
class EmptyResult(Result):
    """The answer of an endpoint documented with no output (``null``, ``{}`` or an empty body).

    Whatever the server sent anyway is in ``raw``.
    """


@attrs.frozen(kw_only=True)
class StreamResult(Result):
    """A ``{"stream": [...]}`` answer.

    Attributes:
        stream: the records, decoded like a poll's.
        sync_cursor: where the next batch starts, for the endpoints that page with one.
    """

    stream: list[Record] = attrs.field(factory=list, metadata=_STREAM)
    sync_cursor: str | None = None

    def records(self) -> list[Record]:
        """The stream."""
        return list(self.stream)


@attrs.frozen(kw_only=True)
class AliasSyncResult(StreamResult):
    """The answer of ``alias/sync``: the own contact and the alias contacts.

    Attributes:
        failed: the aliases that could not be synced (``null`` in every real answer seen:
            kept as it came).
    """

    failed: Any = None


@attrs.frozen(kw_only=True)
class EventStoreResult(StreamResult):
    """The answer of ``event/store``: the outcome of each event and the records they changed.

    Each event's outcome is a :class:`~fleep_async.models.RequestRecord` (``client_req_id``,
    ``mk_event_type``, ``status_code``, and the ``identifier`` of what it changed, or
    ``error_id``/``error_message``). They come in the ``stream``, or in a top-level ``requests``
    list in some versions of the API; :attr:`outcomes` has them from both. A failed event is
    not an exception: the call succeeded and the other events were applied. Read
    :attr:`failed`, or call :meth:`raise_for_failures`.

    Attributes:
        stream: the records: the ``request`` records and what the events changed (messages,
            files, headers, sections).
        requests: the ``request`` records answered apart from the stream.
    """

    requests: list[RequestRecord] = attrs.field(factory=list, metadata=_records(RequestRecord))

    @property
    def outcomes(self) -> list[RequestRecord]:
        """Every event's ``request`` record, once per ``client_req_id``, in answer order."""
        seen: set[str] = set()
        out: list[RequestRecord] = []
        for record in (*self.requests, *self.stream):
            if isinstance(record, RequestRecord) and record.client_req_id not in seen:
                seen.add(record.client_req_id)
                out.append(record)
        return out

    @property
    def failed(self) -> list[RequestRecord]:
        """The outcomes with an error (a non-2xx ``status_code`` or an ``error_id``)."""
        return [record for record in self.outcomes if record.is_error]

    def outcome(self, event: object) -> RequestRecord | None:
        """The outcome of one event: a ``ClientEvent``, or its ``client_req_id`` (str/UUID).

        ``None`` when the answer has none for it: its outcome is unknown (not a success);
        sending the same event again is safe and answers its outcome.
        """
        key = getattr(event, "client_req_id", event)
        wanted = str(key).lower()
        return next((r for r in self.outcomes if r.client_req_id.lower() == wanted), None)

    def raise_for_failures(self) -> None:
        """Raise the first failed event's error, classified as an HTTP error would be.

        Raises:
            FleepAPIError: the subclass the outcome's ``status_code`` and ``error_id`` select
                (a 430 ``not_found`` is a ``NotFoundError``), with ``endpoint="event/store"``.
                The others that failed are in :attr:`failed`.
        """
        failed = self.failed
        if failed:
            first = failed[0]
            body = {"error_id": first.error_id, "error_message": first.error_message}
            # No status with an error_id: only the error_id classifies it.
            raise classify(first.status_code or 0, body, endpoint="event/store")

    def records(self) -> list[Record]:
        """The ``requests`` and the stream."""
        return [*self.requests, *self.stream]


@attrs.frozen(kw_only=True)
class SuggestResult(Result):
    """The answer of ``search/suggest``: a bare JSON list of suggested keywords."""

    LIST_FIELD: ClassVar[str | None] = "suggestions"

    suggestions: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class DiffTeamResult(Result):
    """The answer of ``business/diff_team``: what joining a team to an organisation takes.

    Attributes:
        add_to_org_account_ids: team members who are not yet in the organisation.
        add_to_team_account_ids: organisation members who are not yet in the team.
    """

    add_to_org_account_ids: list[str] = attrs.field(factory=list)
    add_to_team_account_ids: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ConversationSyncResult(Result):
    """The "conversation/sync" shape most conversation and message calls answer with.

    Attributes:
        header: the conversation's header; often partial (only the changed counters), so merge
            it into what you hold instead of replacing.
        stream: the new or changed records (the sent message, system messages, files ...).
        result_message_nr: the number of the message this call created, when it created one.
        hook_info: the hook this call created (``conversation/create_hook``).
        client_req_id: the idempotency key echoed back (``message/store``, ``message/send``).
    """

    header: ConversationRecord | None = attrs.field(
        default=None, metadata=_record(ConversationRecord)
    )
    stream: list[Record] = attrs.field(factory=list, metadata=_STREAM)
    result_message_nr: int | None = None
    hook_info: HookRecord | None = attrs.field(default=None, metadata=_record(HookRecord))
    client_req_id: str | None = None

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, from the header."""
        return self.header.conversation_id if self.header is not None else None

    def records(self) -> list[Record]:
        """Header, stream and hook, in that order."""
        out: list[Record] = []
        if self.header is not None:
            out.append(self.header)
        out.extend(self.stream)
        if self.hook_info is not None:
            out.append(self.hook_info)
        return out


@attrs.frozen(kw_only=True)
class PollResult(Result):
    """The answer of ``account/poll``.

    Attributes:
        event_horizon: the horizon to send with the next poll.
        stream: the records (any type; unknown ones as ``UnknownRecord``).
        sync_progress: initial-sync progress, 0.0 to 1.0.
        sync_cursor: cursor for fetching more conversations.
        static_version: the web client's version (browsers reload when it changes).
        limit_time: the history limit of non-premium accounts (0 for premium).
    """

    event_horizon: int
    stream: list[Record] = attrs.field(factory=list, metadata=_STREAM)
    sync_progress: float | None = None
    sync_cursor: str | None = None
    static_version: str | None = None
    limit_time: int | None = None

    def records(self) -> list[Record]:
        """The stream."""
        return list(self.stream)


@attrs.frozen(kw_only=True)
class ListenMessage:
    """One notification of ``account/listen``.

    Attributes:
        conversation_id: where the message was posted.
        conv_url: the web URL of the conversation.
        topic: the conversation topic.
        message: the message body (XML).
        author_name: who wrote it.
    """

    conversation_id: str | None = None
    conv_url: str | None = None
    topic: str | None = None
    message: str | None = None
    author_name: str | None = None


@attrs.frozen(kw_only=True)
class ListenResult(Result):
    """The answer of ``account/listen`` (a notification-only long poll).

    Attributes:
        event_horizon: the horizon to send with the next call.
        conv_count: the number of conversations with unread messages, when sent.
        messages: the new messages, in notification form.
    """

    event_horizon: int
    conv_count: int | None = None
    messages: list[ListenMessage] = attrs.field(factory=list, metadata=_records(ListenMessage))


@attrs.frozen(kw_only=True)
class AccountSyncResult(Result):
    """The answer of ``account/sync``: the current horizon and the account's basics.

    Attributes:
        event_horizon: a horizon to start polling from without replaying history.
        account_id: the account's id.
        email: its email address.
        display_name: its display name.
        mk_account_status: ``active``, ``new`` ...
        is_in_org: whether it belongs to an organisation.
        is_org_admin: whether it administers that organisation.
    """

    event_horizon: int
    account_id: str | None = None
    email: str | None = None
    display_name: str | None = None
    mk_account_status: str | None = None
    is_in_org: bool | None = None
    is_org_admin: bool | None = None


@attrs.frozen(kw_only=True)
class LoginResult(Result):
    """The answer of ``account/login`` and ``account/confirm`` (and ``confirm/v2``).

    Attributes:
        account_id: the account's id.
        display_name: its display name.
        ticket: the session ticket (a secret: not in the repr).
        profiles: the account's own contact record (always one).
        phone_nr: the phone number (``account/confirm/v2``).
    """

    account_id: str | None = None
    display_name: str | None = None
    ticket: str | None = attrs.field(default=None, repr=False)
    profiles: list[ContactRecord] = attrs.field(factory=list, metadata=_records(ContactRecord))
    phone_nr: str | None = None

    def records(self) -> list[Record]:
        """The own contact record."""
        return list(self.profiles)


@attrs.frozen(kw_only=True)
class AccountPrepareResult(Result):
    """The answer of ``account/prepare/v2``: what a registration or invite link is about.

    Attributes:
        notification_id: the id to pass to later calls (``account/confirm/v2``).
        display_name: suggested display name.
        email_address: the address being registered.
        team_id: the inviting team.
        organisation_id: the inviting organisation.
        inviter_name: who invited.
        organisation_name: the organisation's name.
        suggestions: free Fleep address suggestions.
        country_code: the country guessed from the request.
    """

    notification_id: str | None = None
    display_name: str | None = None
    email_address: str | None = None
    team_id: str | None = None
    organisation_id: str | None = None
    inviter_name: str | None = None
    organisation_name: str | None = None
    suggestions: list[str] = attrs.field(factory=list)
    country_code: str | None = None


@attrs.frozen(kw_only=True)
class ContactListResult(Result):
    """A ``{"contacts": [ContactInfo...]}`` answer (``contact/sync/list``, ``contact/sync/all``)."""

    contacts: list[ContactRecord] = attrs.field(factory=list, metadata=_records(ContactRecord))

    def records(self) -> list[Record]:
        """The contacts."""
        return list(self.contacts)


@attrs.frozen(kw_only=True)
class ContactHideResult(Result):
    """The answer of ``contact/hide``: the ids actually hidden."""

    contacts: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ConversationListResult(Result):
    """One page of ``conversation/list``.

    Attributes:
        conversations: the conversation headers of this page (empty: the listing is done).
        sync_horizon: the horizon to ask the next page with.
        sync_progress: how far the listing is, 0.0 to 1.0.
    """

    conversations: list[ConversationRecord] = attrs.field(
        factory=list, metadata=_records(ConversationRecord)
    )
    sync_horizon: int | None = None
    sync_progress: float | None = None

    def records(self) -> list[Record]:
        """The conversation headers."""
        return list(self.conversations)


@attrs.frozen(kw_only=True)
class HookListResult(Result):
    """The answer of ``conversation/show_hooks``: the conversation's hooks."""

    hooks: list[HookRecord] = attrs.field(factory=list, metadata=_records(HookRecord))

    def records(self) -> list[Record]:
        """The hooks."""
        return list(self.hooks)


@attrs.frozen(kw_only=True)
class UploadedFile:
    """One uploaded file.

    Attributes:
        upload_url: pass it in ``attachments`` of ``message/send`` or ``message/store``.
        file_id: the stored file's id (the same for identical bytes).
        name: the file name.
        size: its size in bytes.
        file_type: the MIME type the server settled on.
        file_sha256: the hex SHA-256 of the bytes.
        width: image width in pixels, for images.
        height: image height in pixels, for images.
        is_animated: whether an image is animated.
    """

    upload_url: str | None = None
    file_id: str | None = None
    name: str | None = None
    size: int | None = None
    file_type: str | None = None
    file_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    is_animated: bool | None = None


@attrs.frozen(kw_only=True)
class UploadResult(Result):
    """The answer of ``file/upload`` and ``avatar/upload``.

    Attributes:
        files: one entry per uploaded file, in upload order.
    """

    files: list[UploadedFile] = attrs.field(factory=list, metadata=_records(UploadedFile))

    @property
    def upload_urls(self) -> list[str]:
        """The ``upload_url`` of every file: the value for ``attachments``."""
        return [file.upload_url for file in self.files if file.upload_url is not None]


@attrs.frozen(kw_only=True)
class AvatarUploadResult(Result):
    """The answer of ``avatar/upload``: the stored picture, at the top level of the answer.

    Attributes:
        file_id: the stored file's id.
        name: the file name.
        size: its size in bytes.
        file_sha256: the hex SHA-256 of the bytes.
        file_type: the MIME type the server settled on.
        width: the picture's width in pixels.
        height: the picture's height in pixels.
        upload_url: the stored file's upload URL.
    """

    file_id: str | None = None
    name: str | None = None
    size: int | None = None
    file_sha256: str | None = None
    file_type: str | None = None
    width: int | None = None
    height: int | None = None
    upload_url: str | None = None


@attrs.frozen(kw_only=True)
class ExternalUploadResult(Result):
    """The answer of ``file/upload/external``; progress arrives as ``upload`` records in poll."""

    request_id: str | None = None


@attrs.frozen(kw_only=True)
class SearchResult(Result):
    """The answer of ``search``.

    Attributes:
        matches: the matching messages (their ``marked_text`` stays in ``raw``).
        headers: the headers of the conversations the matches are in.
        stream: further records the server sends along (contacts, headers ...).
        suggestions: keyword suggestions, when asked for (``null`` otherwise; shape not
            documented: kept as it came).
    """

    matches: list[MessageRecord] = attrs.field(factory=list, metadata=_records(MessageRecord))
    headers: list[ConversationRecord] = attrs.field(
        factory=list, metadata=_records(ConversationRecord)
    )
    stream: list[Record] = attrs.field(factory=list, metadata=_STREAM)
    suggestions: Any = None

    def records(self) -> list[Record]:
        """The stream and the headers: a match is a search view of a message, not an update."""
        return [*self.stream, *self.headers]


@attrs.frozen(kw_only=True)
class CallResult(Result):
    """The answer of ``conversation/create_call``: where to join the call."""

    join_url: str | None = None


@attrs.frozen(kw_only=True)
class TeamResult(Result):
    """The answer of ``team/sync`` and ``team/autojoin``: one team.

    The sources say "TeamInfo" without showing the envelope, so both forms decode: the team
    record at the top level, or inside a ``stream``.

    Attributes:
        team: the team, or ``None`` if the answer held none.
        stream: the records, when the answer was a stream.
    """

    team: TeamRecord | None = None
    stream: list[Record] = attrs.field(factory=list, metadata=_STREAM)

    def records(self) -> list[Record]:
        """The stream, or the team."""
        if self.stream:
            return list(self.stream)
        return [self.team] if self.team is not None else []


def _fail(cls: type[Any], what: str, exc: BaseException | None = None) -> DecodeError:
    text = f"cannot decode {cls.__name__}: {what}"
    if exc is not None:
        text += f" ({type(exc).__name__})"
    return DecodeError(text)


def _decode_value(cls: type[Any], field: attrs.Attribute[Any], value: Any, strict: bool) -> Any:
    how = field.metadata.get(_DECODE)
    if how == "stream":
        if not isinstance(value, list):
            raise _fail(cls, f"{field.name} is not a list")
        return parse_stream(value, strict=strict, tolerant=not strict)
    if how == "record":
        return _one(cls, field, value, strict)
    if how == "records":
        if not isinstance(value, list):
            raise _fail(cls, f"{field.name} is not a list")
        items = (_one(cls, field, item, strict) for item in value)
        return [item for item in items if item is not None]
    return structure(value, cast(Any, field.type), strict=strict)


def _one(cls: type[Any], field: attrs.Attribute[Any], value: Any, strict: bool) -> Any:
    """One record of a ``record``/``records`` field; ``None`` (with a warning) if it does not
    fit, unless ``strict``."""
    try:
        return structure(value, field.metadata["cls"], strict=strict)
    except DecodeError as exc:
        if strict:
            raise
        _log.warning("%s: left out a %s that does not fit: %s", cls.__name__, field.name, exc)
        return None


_RESOLVED: set[type[Any]] = set()


def _decode_fields(cls: type[_T], data: Mapping[str, Any], *, raw: Any, strict: bool = False) -> _T:
    if cls not in _RESOLVED:
        # Annotations are strings (PEP 563); resolve them once per class.
        attrs.resolve_types(cast(Any, cls))
        _RESOLVED.add(cls)
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    if strict:
        extra = sorted(set(data) - {field.name for field in fields} - {"raw"})
        if extra:
            raise _fail(cls, f"the response has fields the result does not model: {extra}")
    kwargs: dict[str, Any] = {}
    for field in fields:
        if field.name == "raw":
            kwargs["raw"] = raw
            continue
        value = data.get(field.name)
        if value is None:
            if field.default is attrs.NOTHING:
                raise _fail(cls, f"the response has no {field.name!r}")
            continue  # the field's default (None or an empty list)
        try:
            kwargs[field.name] = _decode_value(cls, field, value, strict)
        except FleepError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise _fail(cls, f"bad {field.name!r}", exc) from exc
    return cls(**kwargs)


def _decode_team(raw: Mapping[str, Any], strict: bool) -> TeamResult:
    stream = raw.get("stream")
    if isinstance(stream, list):
        records = parse_stream(stream, strict=strict, tolerant=not strict)
        team = next((rec for rec in records if isinstance(rec, TeamRecord)), None)
        return TeamResult(raw=raw, team=team, stream=records)
    if raw.get("team_id") is not None:
        return TeamResult(raw=raw, team=structure(raw, TeamRecord, strict=strict))
    return TeamResult(raw=raw)


def decode_result(result_type: type[_T], raw: Any, *, strict: bool = False) -> _T:
    """Decode an answer into ``result_type``.

    ``result_type`` is a :class:`Result` subclass, or a record class for the endpoints that
    answer with one record at the top level (``contact/sync`` answers a ContactInfo).
    ``None`` (JSON ``null`` or an empty body) decodes as an empty object; a JSON list only
    into a result with a ``LIST_FIELD``.

    Args:
        result_type: what to decode into.
        raw: the decoded JSON answer.
        strict: the test mode: every field of the answer must be modelled, every record must
            decode with the strict converter (no record is kept as unknown or dropped).

    Raises:
        DecodeError: the answer does not fit the type.
    """
    data: Any = raw
    if raw is None:
        data = {}
    elif isinstance(raw, list):
        list_field = getattr(result_type, "LIST_FIELD", None)
        if list_field is None:
            raise _fail(result_type, "the response is a JSON list, not an object")
        data = {list_field: raw}
    elif not isinstance(raw, Mapping):
        raise _fail(result_type, f"the response is a JSON {type(raw).__name__}, not an object")
    if result_type is TeamResult:
        return cast(_T, _decode_team(data, strict))
    if isinstance(result_type, type) and issubclass(result_type, Result):
        return _decode_fields(result_type, data, raw=raw, strict=strict)
    return structure(data, result_type, strict=strict)


def result_records(result: object) -> list[Record]:
    """The records a decoded result carries: ``result.records()``, or the result itself when it
    is a record (``contact/sync``)."""
    if isinstance(result, Result):
        return result.records()
    if isinstance(result, BaseRecord):
        return [cast(Record, result)]
    return []
