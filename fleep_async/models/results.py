"""Typed results of the API calls: what ``await client.<area>.<action>(...)`` returns.

Each result is a frozen attrs class decoded from the response object by :func:`decode_result`.
Stream records go through the core converter (:func:`~fleep_async._converter.parse_stream`), so
a result's ``stream`` holds the same typed records as a poll. Every result also keeps the
response as it came (``raw``, left out of the repr): Fleep adds fields over time, and an
undocumented one is then still reachable.

:class:`RawResult` is the result of the endpoints whose response no source documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar, cast

import attrs

from fleep_async._converter import parse_stream, structure
from fleep_async.errors import DecodeError, FleepError
from fleep_async.models import (
    ContactRecord,
    ConversationRecord,
    HookRecord,
    LabelRecord,
    MessageRecord,
    Record,
    TeamRecord,
)

__all__ = [
    "AccountPrepareResult",
    "AccountSyncResult",
    "CallResult",
    "ContactHideResult",
    "ContactListResult",
    "ConversationListResult",
    "ConversationSyncResult",
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
    "TeamResult",
    "UploadResult",
    "UploadedFile",
    "decode_result",
    "result_records",
]

_T = TypeVar("_T")

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
        raw: the response object, unchanged (not shown in the repr: it may hold a ticket).
    """

    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def records(self) -> list[Record]:
        """The stream records this result carries (fed to the client's cache)."""
        return []


@attrs.frozen(kw_only=True)
class RawResult(Result):
    """The response of an endpoint whose answer no source documents: the object as-is."""

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``raw[key]``, or ``default`` when absent."""
        return self.raw.get(key, default)


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
class ExternalUploadResult(Result):
    """The answer of ``file/upload/external``; progress arrives as ``upload`` records in poll."""

    request_id: str | None = None


@attrs.frozen(kw_only=True)
class SearchResult(Result):
    """The answer of ``search``.

    Attributes:
        matches: the matching messages (their ``marked_text`` stays in ``raw``).
        headers: the headers of the conversations the matches are in.
        suggestions: keyword suggestions, when asked for (shape not documented: as sent).
    """

    matches: list[MessageRecord] = attrs.field(factory=list, metadata=_records(MessageRecord))
    headers: list[ConversationRecord] = attrs.field(
        factory=list, metadata=_records(ConversationRecord)
    )
    suggestions: list[Any] = attrs.field(factory=list)

    def records(self) -> list[Record]:
        """Only the headers: a match is a search view of a message, not a cache update."""
        return list(self.headers)


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


def _decode_value(cls: type[Any], field: attrs.Attribute[Any], value: Any) -> Any:
    how = field.metadata.get(_DECODE)
    if how == "stream":
        if not isinstance(value, list):
            raise _fail(cls, f"{field.name} is not a list")
        return parse_stream(value)
    if how == "record":
        return structure(value, field.metadata["cls"])
    if how == "records":
        if not isinstance(value, list):
            raise _fail(cls, f"{field.name} is not a list")
        return [structure(item, field.metadata["cls"]) for item in value]
    return structure(value, cast(Any, field.type))


_RESOLVED: set[type[Any]] = set()


def _decode_fields(cls: type[_T], raw: Mapping[str, Any]) -> _T:
    if cls not in _RESOLVED:
        # Annotations are strings (PEP 563); resolve them once per class.
        attrs.resolve_types(cast(Any, cls))
        _RESOLVED.add(cls)
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if field.name == "raw":
            kwargs["raw"] = raw
            continue
        value = raw.get(field.name)
        if value is None:
            if field.default is attrs.NOTHING:
                raise _fail(cls, f"the response has no {field.name!r}")
            continue  # the field's default (None or an empty list)
        try:
            kwargs[field.name] = _decode_value(cls, field, value)
        except FleepError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise _fail(cls, f"bad {field.name!r}", exc) from exc
    return cls(**kwargs)


def _decode_team(raw: Mapping[str, Any]) -> TeamResult:
    stream = raw.get("stream")
    if isinstance(stream, list):
        records = parse_stream(stream)
        team = next((rec for rec in records if isinstance(rec, TeamRecord)), None)
        return TeamResult(raw=raw, team=team, stream=records)
    if raw.get("team_id") is not None:
        return TeamResult(raw=raw, team=structure(raw, TeamRecord))
    return TeamResult(raw=raw)


def decode_result(result_type: type[_T], raw: Any) -> _T:
    """Decode a response object into ``result_type``.

    ``result_type`` is a :class:`Result` subclass, or a record class for the endpoints that
    answer with one record at the top level (``contact/sync`` answers a ContactInfo).

    Raises:
        DecodeError: the response does not fit the type.
    """
    if not isinstance(raw, Mapping):
        raise _fail(result_type, "the response is not a JSON object")
    if result_type is TeamResult:
        return cast(_T, _decode_team(raw))
    if isinstance(result_type, type) and issubclass(result_type, Result):
        return _decode_fields(result_type, raw)
    return structure(raw, result_type)


def result_records(result: object) -> list[Record]:
    """The records a decoded result carries: ``result.records()``, or the result itself when it
    is a record (``contact/sync``)."""
    if isinstance(result, Result):
        return result.records()
    if isinstance(result, ContactRecord | ConversationRecord | LabelRecord | TeamRecord):
        return [result]
    return []
