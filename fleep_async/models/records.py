"""Typed stream records: one frozen attrs class per Fleep ``mk_rec_type``.

Attribute names are the wire field names. A field the server did not send is ``None`` (lists
too: an absent list is ``None``, an empty one is ``()``); list fields are tuples so records stay
immutable and hashable (except while a free-form JSON-object field such as
``RequestRecord.identifier`` or ``MessageRecord.mail_hdrs`` is set). Enum-like ``mk_*`` fields
are plain ``str`` (see :mod:`fleep_async.models.enums`). Only the fields that identify a record
are required.

Records are state snapshots (upserts): the same entity arrives again whenever it changes, and
conversation headers are often *partial*. :meth:`BaseRecord.merge` folds a partial snapshot
into a cached one, and :attr:`BaseRecord.identity` is the cache key.

The models know nothing of the wire: decoding lives in :mod:`fleep_async._converter`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final, Literal, Self, TypeAlias, get_args

import attrs
import orjson

from fleep_async.errors import UsageError, redact
from fleep_async.markup import file_keys, xml_to_text
from fleep_async.models.enums import SYSTEM_MESSAGE_TYPES, MessageState, MessageTag

__all__ = [
    "RECORD_KINDS",
    "RECORD_TYPES",
    "ActivityRecord",
    "BaseRecord",
    "BillingRecord",
    "ContactRecord",
    "ConversationRecord",
    "ExternalAccountRecord",
    "FileRecord",
    "HookRecord",
    "LabelRecord",
    "LastSeenRecord",
    "LockRecord",
    "MailRecord",
    "MessageRecord",
    "OrgChangelogRecord",
    "OrgConvRecord",
    "OrgHeaderRecord",
    "OrgMemberRecord",
    "PokeRecord",
    "PreviewRecord",
    "Record",
    "RecordKind",
    "ReminderRecord",
    "RequestRecord",
    "SectionRecord",
    "SmtpRecord",
    "TeamRecord",
    "TransactionRecord",
    "UnknownRecord",
    "UploadRecord",
    "explicit_nulls",
]

_log = logging.getLogger("fleep_async.models")


def _secret_repr(value: object) -> str:
    # Hook keys and hook URLs let anyone post into a conversation: never show them.
    return "None" if value is None else "'***'"


def _redacted_repr(value: object) -> str:
    # System message bodies can carry a hook_key ({"hook_name": .., "hook_key": ..}).
    return redact(repr(value))


@attrs.frozen(kw_only=True, repr=False)
class BaseRecord:
    """Common base of every stream record class."""

    #: The wire ``mk_rec_type`` of this class.
    REC_TYPE: ClassVar[str] = ""

    @property
    def mk_rec_type(self) -> str:
        """The wire ``mk_rec_type``."""
        return self.REC_TYPE

    def __repr__(self) -> str:
        # Only the fields the record carries: most of the 50-odd fields are usually None.
        parts = []
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if value is None or not field.repr:
                continue
            shown = field.repr(value) if callable(field.repr) else repr(value)
            parts.append(f"{field.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    #: The fields whose values key a record within its kind (a later record with the same values
    #: is a newer snapshot of the same entity); empty for kinds that are not cached.
    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def identity(self) -> tuple[object, ...] | None:
        """The cache key of this record within its kind (e.g. ``(conversation_id,)``)."""
        fields = self.IDENTITY_FIELDS
        return tuple(getattr(self, name) for name in fields) if fields else None

    def merge(self, partial: Self, *, nulls: Iterable[str] = ()) -> Self:
        """Return a copy of ``self`` updated with every field ``partial`` carries.

        A ``None`` field in ``partial`` means "not carried" and keeps the value of ``self``:
        a decoded record cannot tell an absent field from an explicit ``null``. Pass the
        fields the wire object set to ``null`` as ``nulls`` (:func:`explicit_nulls` of it):
        they are cleared. Merge partial snapshots (conversation headers), replace complete
        ones (messages, locks).

        Args:
            partial: the newer snapshot of the same record.
            nulls: wire fields that were explicitly ``null`` in ``partial`` (identity fields
                and names that are not fields are ignored).

        Raises:
            UsageError: ``partial`` is another record class or has another identity.
        """
        if type(partial) is not type(self):
            msg = f"cannot merge a {type(partial).__name__} into a {type(self).__name__}"
            raise UsageError(msg)
        if partial.identity != self.identity:
            msg = f"cannot merge {self.REC_TYPE} records with different identities"
            raise UsageError(msg)
        fn = _MERGERS.get(type(self))
        if fn is None:
            fn = _MERGERS[type(self)] = _make_merger(type(self))
        merged: Self = fn(self, partial)
        if nulls:
            names = attrs.fields_dict(type(self))
            cleared = {
                name: None for name in nulls if name in names and name not in self.IDENTITY_FIELDS
            }
            if cleared:
                merged = attrs.evolve(merged, **cleared)
        return merged


def explicit_nulls(raw: Mapping[str, Any]) -> frozenset[str]:
    """The keys a wire record sets to ``null`` (for :meth:`BaseRecord.merge`)."""
    return frozenset(key for key, value in raw.items() if value is None)


_MERGERS: dict[type[BaseRecord], Any] = {}


def _make_merger(cls: type[BaseRecord]) -> Any:
    """Generate ``merge`` for ``cls``: straight-line code, one line per field.

    The event engine merges every conversation header and contact of the stream into its cache,
    so this runs hundreds of times per poll page. A loop of ``object.__setattr__`` over 70-odd
    fields cost about 6x more. As in the converter, the new record is built as an instance of a
    private subclass with the same slots and the plain ``__setattr__``, then given its real
    class. Only our own field names are written into the source, never wire data.
    """
    builder = type(
        f"_{cls.__name__}Merger",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    lines = ["def merge(self, partial):", "    new = _new(_builder)"]
    for field in attrs.fields(cls):
        name = field.name
        if not name.isidentifier():  # pragma: no cover - attrs field names are identifiers
            raise TypeError(f"bad field name {name!r}")
        lines.append(f"    v = partial.{name}")
        lines.append(f"    new.{name} = self.{name} if v is None else v")
    lines += ["    new.__class__ = _cls", "    return new"]
    namespace: dict[str, Any] = {"_new": object.__new__, "_builder": builder, "_cls": cls}
    filename = f"<fleep_async generated merge_{cls.__name__}>"
    exec(compile("\n".join(lines), filename, "exec"), namespace)  # noqa: S102 - see docstring
    return namespace["merge"]


@attrs.frozen(kw_only=True, repr=False)
class ConversationRecord(BaseRecord):
    """A conversation header (``conv``, ConvInfo); often partial: merge it into a cache."""

    REC_TYPE: ClassVar[str] = "conv"

    conversation_id: str
    profile_id: str | None = None
    topic: str | None = None
    topic_message_nr: int | None = None
    default_topic: str | None = None
    creator_id: str | None = None
    organisation_id: str | None = None
    members: tuple[str, ...] | None = None
    leavers: tuple[str, ...] | None = None
    admins: tuple[str, ...] | None = None
    guests: tuple[str, ...] | None = None
    default_members: tuple[str, ...] | None = None
    passive: tuple[str, ...] | None = None
    # Members whose accounts are no longer active (a ``conversation/store`` answer lists them).
    inactives: tuple[str, ...] | None = None
    pending: tuple[str, ...] | None = None
    assignees: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    label_ids: tuple[str, ...] | None = None
    autojoin_url: str | None = None
    cmail: str | None = None
    client_req_id: str | None = None
    # Seen only as null in every source: any JSON value is kept as it came.
    default_call_room: Any = None
    # message numbers and horizons
    begin_message_nr: int | None = None
    bw_message_nr: int | None = None
    fw_message_nr: int | None = None
    join_message_nr: int | None = None
    last_message_nr: int | None = None
    read_message_nr: int | None = None
    send_message_nr: int | None = None
    show_message_nr: int | None = None
    inbox_message_nr: int | None = None
    my_message_nr: int | None = None
    delete_message_nr: int | None = None
    disclose_message_nr: int | None = None
    hide_message_nr: int | None = None
    file_horizon: int | None = None
    pin_horizon: int | None = None
    task_horizon: int | None = None
    last_inbox_nr: int | None = None
    read_inbox_nr: int | None = None
    unread_count: int | None = None
    inbox_time: float | None = None
    last_message_time: float | None = None
    snooze_interval: int | None = None
    snooze_time: float | None = None
    # modes and flags
    mk_init_mode: str | None = None
    mk_alert_level: str | None = None
    mk_conv_type: str | None = None
    can_post: bool | None = None
    is_init: bool | None = None
    is_full: bool | None = None
    is_tiny: bool | None = None
    is_deleted: bool | None = None
    is_premium: bool | None = None
    is_muted: bool | None = None
    is_automute: bool | None = None
    is_autojoin: bool | None = None
    is_disclose: bool | None = None
    is_list: bool | None = None
    is_managed: bool | None = None
    is_mark_unread: bool | None = None
    is_url_preview_disabled: bool | None = None
    is_admin_write_only: bool | None = None
    # True on a header that replaces the cached one instead of updating it (e.g. after the
    # viewer was removed): fields it does not carry are gone, not unchanged.
    is_reset: bool | None = None
    no_notifications: bool | None = None
    has_done_notifications: bool | None = None
    has_email_subject: bool | None = None
    has_pinboard: bool | None = None
    has_task_archive: bool | None = None
    has_taskboard: bool | None = None
    has_skipped_content: bool | None = None
    pin_cursor: str | None = None
    # An object on the real server (the pinboard's sync state); kept as it came.
    pin_sync_state: Any = None
    # The wire sends "1" (a string); the docs say float.
    export_progress: str | float | None = None
    export_files: tuple[str, ...] | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id",)


@attrs.frozen(kw_only=True, repr=False)
class FileRecord(BaseRecord):
    """An attachment (``file``, FileInfo); also the items of a webhook message's attachments."""

    REC_TYPE: ClassVar[str] = "file"

    conversation_id: str
    message_nr: int
    message_id: str | None = None
    account_id: str | None = None
    attachment_id: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    file_type: str | None = None
    file_sha256: str | None = None
    file_url: str | None = None
    thumb_url_50: str | None = None
    thumb_url_100: str | None = None
    thumb_url_575: str | None = None
    thumb_url_700: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    is_animated: bool | None = None
    is_deleted: bool | None = None
    is_hidden: bool | None = None
    deleter_id: str | None = None
    sender_name: str | None = None
    posted_time: float | None = None

    # Fleep's own cache keys files by conversation and message only, which collapses the
    # several files of one message into one entry; the attachment id keeps them apart.
    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "message_nr", "attachment_id")


# The state URNs, and their older spelling (``urn:fleep:msgstate:*``) that the first version of
# the client-event API answers (Fleep's server tests show both).
_SYSTEM_STATES: Final = frozenset({MessageState.SYSTEM.value, "urn:fleep:msgstate:system"})
_DELETED_STATES: Final = frozenset({MessageState.DELETED.value, "urn:fleep:msgstate:deleted"})


@attrs.frozen(kw_only=True, repr=False)
class MessageRecord(BaseRecord):
    """A message (``message``, MessageInfo): text, email, system event, or a new revision.

    A changed message (edit, delete, pin, task state) is re-sent with the same ``message_nr``
    and a new ``flow_message_nr``; :attr:`revision` tells the versions apart.
    """

    REC_TYPE: ClassVar[str] = "message"

    conversation_id: str
    message_nr: int
    account_id: str | None = None
    profile_id: str | None = None
    message_id: str | None = None
    prev_message_nr: int | None = None
    flow_message_nr: int | None = None
    revision_message_nr: int | None = None
    ref_message_nr: int | None = None
    reply_to_message_nr: int | None = None
    inbox_nr: int | None = None
    posted_time: float | None = None
    edited_time: float | None = None
    store_time: float | None = None
    mk_message_type: str | None = None
    mk_message_state: str | None = None
    mk_msg_sub_type: str | None = None
    # XML text; for system messages a JSON object (api_version 2) or its JSON string.
    message: str | Mapping[str, Any] | None = attrs.field(default=None, repr=_redacted_repr)
    subject: str | None = None
    # Seen only as null in the sources: any JSON value is kept as it came.
    subject_hash: Any = None
    marked_text: str | None = None
    tags: tuple[str, ...] | None = None
    lock_account_id: str | None = None
    edit_account_id: str | None = None
    hook_key: str | None = attrs.field(default=None, repr=_secret_repr)
    sender_name: str | None = None
    on_behalf_id: str | None = None
    pinned_account_id: str | None = None
    tasked_account_id: str | None = None
    assigner_id: str | None = None
    assignee_ids: tuple[str, ...] | None = None
    mention_ids: tuple[str, ...] | None = None
    file_ids: tuple[str, ...] | None = None
    attachments: tuple[FileRecord, ...] | None = None
    section_id: str | None = None
    notification_id: Any = None
    raw_id: Any = None
    pin_weight: float | None = None
    task_weight: float | None = None
    # A task's place on the viewer's personal "my tasks" board: {mk_section_type, section_id,
    # task_weight}, named ``assigned_to_me_state`` by the newest of Fleep's server tests (on an
    # assignee's messages in the poll and the board's sync) and ``task_state`` by an older one.
    assigned_to_me_state: Mapping[str, Any] | None = None
    task_state: Mapping[str, Any] | None = None
    search_weight: float | None = None
    is_new_sheet: bool | None = None
    is_url_preview_disabled: bool | None = None
    is_assigned: bool | None = None
    is_archived: bool | None = None
    is_email_locked_for_edit: bool | None = None
    is_edited_by_others: bool | None = None
    is_spam: bool | None = None
    is_edit: bool | None = None
    mail_hdrs: tuple[Mapping[str, Any], ...] | None = None
    reactions: Any = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "message_nr")

    @property
    def revision(self) -> tuple[str, int, int]:
        """``(conversation_id, message_nr, flow_message_nr or message_nr)``: a dedup key.

        Two records with the same revision describe the same version of the same message.
        """
        flow = self.flow_message_nr
        return (self.conversation_id, self.message_nr, self.message_nr if flow is None else flow)

    @property
    def is_revision(self) -> bool:
        """True when this record re-sends an existing message (edit, delete, pin, task state).

        Bots that only want new messages skip these. (The wire field ``is_edit`` is kept as
        is; this property also looks at ``flow_message_nr`` and ``revision_message_nr``.)
        """
        flow = self.flow_message_nr
        if flow is not None and flow != self.message_nr:
            return True
        rev = self.revision_message_nr
        return bool(self.is_edit) or (rev is not None and rev != self.message_nr)

    @property
    def is_system(self) -> bool:
        """True for system messages (create, add, topic, hook, ...), whose body is JSON."""
        state = self.mk_message_state
        if state is not None:
            return state in _SYSTEM_STATES
        return self.mk_message_type in SYSTEM_MESSAGE_TYPES

    @property
    def is_deleted(self) -> bool:
        """True when the message has been deleted (its body is then empty)."""
        if self.mk_message_state in _DELETED_STATES:
            return True
        tags = self.tags
        return tags is not None and MessageTag.IS_DELETED in tags

    @property
    def system(self) -> dict[str, Any] | None:
        """The decoded JSON body of a system message, or None (not system, or not JSON)."""
        if not self.is_system:
            return None
        return _json_object(self.message)

    @property
    def xml(self) -> str:
        """The XML body, unwrapped from a JSON ``textV2``-style body; ``""`` if none."""
        body = self.message
        if not body or self.is_system:
            return ""
        if not isinstance(body, str) or body[0] == "{":
            wrapped = _json_object(body)
            inner = wrapped.get("message") if wrapped is not None else None
            return inner if isinstance(inner, str) else ""
        return body

    @property
    def text(self) -> str:
        """The message as plain text (no trailing newline).

        System messages give a short readable line (e.g. ``changed the topic to 'x'``) or
        ``""``; deleted messages give ``""``.
        """
        if self.is_deleted:
            return ""
        if self.is_system:
            return _system_text(self.mk_message_type, self.system)
        return xml_to_text(self.xml).rstrip("\n")

    @property
    def attachment_keys(self) -> tuple[str, ...]:
        """Attachment ids of the files on this message (not deleted ones)."""
        if self.attachments:
            return tuple(f.attachment_id for f in self.attachments if f.attachment_id)
        return tuple(file_keys(self.xml))


def _json_object(body: object) -> dict[str, Any] | None:
    # api_version 2 answers carry system bodies as JSON objects, older ones as JSON strings.
    if isinstance(body, Mapping):
        return dict(body)
    if not isinstance(body, str) or not body or body[0] != "{":
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        _log.debug("message body starts with '{' but is not JSON")
        return None
    return value if isinstance(value, dict) else None


def _count(value: object, noun: str) -> str:
    n = len(value) if isinstance(value, list | tuple) else 0
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _quoted(value: object) -> str:
    return f" '{value}'" if isinstance(value, str) and value else ""


def _system_text(kind: str | None, body: dict[str, Any] | None) -> str:
    body = body or {}
    sysmsg = body.get("sysmsg_text")
    # A ``{placeholder}`` template (discloseV2) is for the client to fill: describe it instead.
    if isinstance(sysmsg, str) and sysmsg and "{" not in sysmsg:
        return sysmsg
    if kind == "create":
        return "created the conversation" + _quoted(body.get("topic"))
    if kind == "topic":
        return "changed the topic to" + (_quoted(body.get("topic")) or " ''")
    if kind == "add":
        return "added " + _count(body.get("members"), "member")
    if kind == "kick":
        return "removed " + _count(body.get("members"), "member")
    if kind == "leave":
        return "left the conversation"
    if kind == "add_team":
        return "added " + _count(body.get("teams"), "team")
    if kind == "kick_team":
        return "removed " + _count(body.get("teams"), "team")
    if kind == "hook":
        return "added the webhook" + _quoted(body.get("hook_name"))
    if kind == "unhook":
        return "removed the webhook" + _quoted(body.get("hook_name"))
    if kind == "file":
        verb = "deleted the file" if body.get("is_deleted") else "shared the file"
        return verb + _quoted(body.get("file_name"))
    if kind == "delfile":
        return "deleted " + _count(body.get("file_names"), "file")
    if kind in ("closeV1", "closeV2"):
        return "closed the conversation" + _quoted(body.get("topic"))
    if kind == "disclose":
        return "disclosed the conversation history"
    if kind == "discloseV2":
        teams = body.get("team_names")
        names = [f"'{t}'" for t in teams if isinstance(t, str)] if isinstance(teams, list) else []
        audience = [f"team{'s' if len(names) > 1 else ''} {', '.join(names)}"] if names else []
        if body.get("members"):
            audience.append(_count(body.get("members"), "member"))
        return (
            "disclosed the conversation history"
            + (" to " if audience else "")
            + (" and ".join(audience))
        )
    if kind == "signin":
        return "signed in"
    if kind == "passiveV1":
        return "became a passive member"
    if kind == "joinV1":
        return "joined the conversation"
    return ""


@attrs.frozen(kw_only=True, repr=False)
class ContactRecord(BaseRecord):
    """A contact (``contact``, ContactInfo); the own account's one carries the owner fields."""

    REC_TYPE: ClassVar[str] = "contact"

    account_id: str
    email: str | None = None
    display_name: str | None = None
    full_name: str | None = None
    contact_name: str | None = None
    fleep_address: str | None = None
    fleep_autogen: str | None = None
    phone_nr: str | None = None
    mk_account_status: str | None = None
    mk_email_interval: str | None = None
    avatar_urls: str | None = None
    client_flags: tuple[str, ...] | None = None
    client_settings: str | None = None
    dialog_id: str | None = None
    alias_account_ids: tuple[str, ...] | None = None
    connected_email: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    # Seen only as null in the sources: any JSON value is kept as it came.
    status_emoji: Any = None
    status_message: str | None = None
    activity_time: float | None = None
    activated_time: float | None = None
    trial_end_time: float | None = None
    sort_rank: int | None = None
    sleep_interval: int | None = None
    storage_used_bytes: int | None = None
    storage_quota_bytes: int | None = None
    is_hidden_for_add: bool | None = None
    is_full_privacy: bool | None = None
    is_dialog_listed: bool | None = None
    is_newsletter_disabled: bool | None = None
    is_premium: bool | None = None
    is_automute_enabled: bool | None = None
    is_org_admin: bool | None = None
    is_in_org: bool | None = None
    has_password: bool | None = None
    export_progress: str | float | None = None
    export_files: tuple[str, ...] | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("account_id",)


@attrs.frozen(kw_only=True, repr=False)
class ActivityRecord(BaseRecord):
    """Presence in a conversation (``activity``): writing status and read horizon."""

    REC_TYPE: ClassVar[str] = "activity"

    conversation_id: str
    account_id: str
    is_writing: bool | None = None
    read_message_nr: int | None = None
    join_message_nr: int | None = None
    message_nr: int | None = None
    activity_time: float | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "account_id")


@attrs.frozen(kw_only=True, repr=False)
class HookRecord(BaseRecord):
    """A webhook of a conversation (``hook``, HookInfo). ``hook_url`` is set for the owner only."""

    REC_TYPE: ClassVar[str] = "hook"

    conversation_id: str
    hook_key: str = attrs.field(repr=_secret_repr)
    hook_id: str | None = None
    account_id: str | None = None
    hook_name: str | None = None
    hook_url: str | None = attrs.field(default=None, repr=_secret_repr)
    mk_hook_type: str | None = None
    avatar_urls: str | None = None
    is_active: bool | None = None
    outgoing_url: str | None = None
    outgoing_disabled: bool | None = None
    outgoing_disable_reason: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "hook_key")


@attrs.frozen(kw_only=True, repr=False)
class PreviewRecord(BaseRecord):
    """A URL preview of a message (``preview``, PreviewInfo)."""

    REC_TYPE: ClassVar[str] = "preview"

    conversation_id: str
    message_nr: int
    attached_url: str | None = None
    account_id: str | None = None
    title: str | None = None
    description: str | None = None
    attachment_id: str | None = None
    file_name: str | None = None
    file_type: str | None = None
    file_size: int | None = None
    file_sha256: str | None = None
    file_url: str | None = None
    orig_file_name: str | None = None
    orig_file_size: int | None = None
    thumb_url_50: str | None = None
    thumb_url_100: str | None = None
    thumb_url_575: str | None = None
    thumb_url_700: str | None = None
    width: int | None = None
    height: int | None = None
    is_animated: bool | None = None
    is_deleted: bool | None = None
    deleter_id: str | None = None
    posted_time: float | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "message_nr", "attached_url")


@attrs.frozen(kw_only=True, repr=False)
class LabelRecord(BaseRecord):
    """A conversation label (``label``, LabelInfo); ``mk_label_status`` "removed" = drop it."""

    REC_TYPE: ClassVar[str] = "label"

    label_id: str
    label: str | None = None
    index: int | None = None
    mk_label_type: str | None = None
    mk_label_subtype: str | None = None
    mk_label_status: str | None = None
    is_on_left_pane: bool | None = None
    is_in_muted: bool | None = None
    is_in_recent: bool | None = None
    sync_cursor: str | None = None
    sync_inbox_time: float | None = None
    sync_conversation_id: str | None = None
    team_id: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("label_id",)


@attrs.frozen(kw_only=True, repr=False)
class LockRecord(BaseRecord):
    """A message edit lock (``lock``); no ``lock_account_id`` means unlocked."""

    REC_TYPE: ClassVar[str] = "lock"

    conversation_id: str
    message_nr: int
    lock_account_id: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "message_nr")


@attrs.frozen(kw_only=True, repr=False)
class TeamRecord(BaseRecord):
    """A team (``team``, TeamInfo)."""

    REC_TYPE: ClassVar[str] = "team"

    team_id: str
    team_name: str | None = None
    team_version_nr: int | None = None
    mk_sync_mode: str | None = None
    members: tuple[str, ...] | None = None
    admins: tuple[str, ...] | None = None
    pending: tuple[str, ...] | None = None
    conversations: tuple[str, ...] | None = None
    autojoin_url: str | None = None
    organisation_id: str | None = None
    managed_time: float | None = None
    is_autojoin: bool | None = None
    is_deleted: bool | None = None
    is_managed: bool | None = None
    is_org_wide: bool | None = None
    is_tiny: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("team_id",)


@attrs.frozen(kw_only=True, repr=False)
class OrgConvRecord(BaseRecord):
    """A conversation managed by an organisation, as its admins see it (``org_conv``)."""

    REC_TYPE: ClassVar[str] = "org_conv"

    conversation_id: str
    organisation_id: str | None = None
    topic: str | None = None
    creator_id: str | None = None
    members: tuple[str, ...] | None = None
    admins: tuple[str, ...] | None = None
    leavers: tuple[str, ...] | None = None
    guests: tuple[str, ...] | None = None
    pending: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None
    default_members: tuple[str, ...] | None = None
    autojoin_url: str | None = None
    cmail: str | None = None
    mk_conv_type: str | None = None
    managed_time: float | None = None
    has_email_subject: bool | None = None
    is_deletable: bool | None = None
    is_list: bool | None = None
    is_managed: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id",)


@attrs.frozen(kw_only=True, repr=False)
class RequestRecord(BaseRecord):
    """A processed client request (``request``, RequestInfo), in one of two shapes.

    * poll confirmation: ``client_req_id``, ``conversation_id``, ``result_message_nr``;
    * ``event/store`` result: ``client_req_id``, ``mk_event_type``, ``status_code``,
      ``identifier`` and, on failure, ``error_id``/``error_message``.
    """

    REC_TYPE: ClassVar[str] = "request"

    client_req_id: str
    conversation_id: str | None = None
    result_message_nr: int | None = None
    mk_event_type: str | None = None
    status_code: int | None = None
    identifier: Mapping[str, Any] | None = None
    error_id: str | None = None
    error_message: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("client_req_id",)

    @property
    def is_error(self) -> bool:
        """True for an ``event/store`` result with a non-2xx status or an ``error_id``."""
        status = self.status_code
        return self.error_id is not None or (status is not None and not 200 <= status < 300)


@attrs.frozen(kw_only=True, repr=False)
class PokeRecord(BaseRecord):
    """The echo of ``conversation/poke`` (``poke``): a barrier for "the server got this far"."""

    REC_TYPE: ClassVar[str] = "poke"

    conversation_id: str
    message_nr: int
    account_id: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "message_nr")


@attrs.frozen(kw_only=True, repr=False)
class LastSeenRecord(BaseRecord):
    """When a contact was last active (``lastseen``)."""

    REC_TYPE: ClassVar[str] = "lastseen"

    account_id: str
    activity_time: float | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("account_id",)


@attrs.frozen(kw_only=True, repr=False)
class ReminderRecord(BaseRecord):
    """A reminder (``reminder``), e.g. an organisation invite."""

    REC_TYPE: ClassVar[str] = "reminder"

    reminder_id: str
    mk_reminder_type: str | None = None
    account_id: str | None = None
    creator_id: str | None = None
    organisation_id: str | None = None
    is_active: bool | None = None
    remind_time: float | None = None
    expire_time: float | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("reminder_id",)


@attrs.frozen(kw_only=True, repr=False)
class SectionRecord(BaseRecord):
    """A taskboard section (``section``): of a conversation, or of the personal "my tasks" board.

    A personal section (``mk_section_type`` ``urn:fleep:section:mk_section_type:my_task``)
    belongs to an account, not a conversation: its ``conversation_id`` is ``None``.
    """

    REC_TYPE: ClassVar[str] = "section"

    section_id: str
    conversation_id: str | None = None
    name: str | None = None
    mk_section_type: str | None = None
    mk_section_subtype: str | None = None
    weight: float | None = None
    is_deleted: bool | None = None
    sync_cursor: str | None = None
    sync_state: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "section_id")


@attrs.frozen(kw_only=True, repr=False)
class UploadRecord(BaseRecord):
    """Progress of an external upload (``upload``, after ``file/upload/external``)."""

    REC_TYPE: ClassVar[str] = "upload"

    conversation_id: str | None = None
    upload_id: str | None = None
    request_id: str | None = None
    status: str | None = None
    progress: int | None = None
    error: str | None = None
    name: str | None = None
    upload_url: str | None = None
    file_type: str | None = None
    file_sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    is_animated: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("conversation_id", "upload_id")


@attrs.frozen(kw_only=True, repr=False)
class OrgHeaderRecord(BaseRecord):
    """An organisation (``org_header``, OrgInfo); business accounts only."""

    REC_TYPE: ClassVar[str] = "org_header"

    organisation_id: str
    organisation_name: str | None = None
    organisation_founder_id: str | None = None
    avatar_urls: str | None = None
    status: str | None = None
    version_nr: int | None = None
    trial_time: float | None = None
    grace_time: float | None = None
    active_member_count: int | None = None
    is_admin: bool | None = None
    is_member: bool | None = None
    invoice_payments: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("organisation_id",)


@attrs.frozen(kw_only=True, repr=False)
class OrgMemberRecord(BaseRecord):
    """A member of an organisation (``org_member``)."""

    REC_TYPE: ClassVar[str] = "org_member"

    organisation_id: str
    account_id: str
    inviter_id: str | None = None
    mk_member_status: str | None = None
    is_admin: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("organisation_id", "account_id")


@attrs.frozen(kw_only=True, repr=False)
class OrgChangelogRecord(BaseRecord):
    """An organisation change-log entry (``org_changelog``)."""

    REC_TYPE: ClassVar[str] = "org_changelog"

    organisation_id: str | None = None
    version_nr: int | None = None
    event_type: str | None = None
    event_time: float | None = None
    event_data: Any = None
    account_id: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("organisation_id", "version_nr")


@attrs.frozen(kw_only=True, repr=False)
class SmtpRecord(BaseRecord):
    """An outgoing SMTP configuration (``smtp``, SMTPInfo)."""

    REC_TYPE: ClassVar[str] = "smtp"

    smtp_id: str | None = None
    smtp_address: str | None = None
    smtp_username: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_connection: str | None = None
    mk_smtp_status: str | None = None
    smtp_status_description: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("smtp_id",)


@attrs.frozen(kw_only=True, repr=False)
class MailRecord(BaseRecord):
    """A connected mailbox (``mail``, MailInfo)."""

    REC_TYPE: ClassVar[str] = "mail"

    mail_id: str | None = None
    mail_address: str | None = None
    mk_mail_type: str | None = None
    mk_mail_status: str | None = None
    smtp_username: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    mk_smtp_connection: str | None = None
    smtp_err: str | None = None
    smtp_disable_tls_verify: bool | None = None
    imap_username: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    mk_imap_connection: str | None = None
    imap_err: str | None = None
    imap_disable_tls_verify: bool | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("mail_id",)


@attrs.frozen(kw_only=True, repr=False)
class BillingRecord(BaseRecord):
    """Billing details of an organisation (``billing``, BillingInfo)."""

    REC_TYPE: ClassVar[str] = "billing"

    organisation_id: str | None = None
    country_code: str | None = None
    billing_details: str | None = None
    billing_email: str | None = None
    vat_number: str | None = None
    plan_id: str | None = None
    account_quantity: int | None = None
    payment_method_image_url: str | None = None
    payment_method_description: str | None = None
    payment_method_expiration_date: str | None = None
    subscription_status: str | None = None
    discount: float | None = None
    next_billing_date: int | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("organisation_id",)


@attrs.frozen(kw_only=True, repr=False)
class TransactionRecord(BaseRecord):
    """A billing transaction (``transaction``, TransactionInfo)."""

    REC_TYPE: ClassVar[str] = "transaction"

    transaction_id: str | None = None
    organisation_id: str | None = None
    amount: float | None = None
    transaction_time: float | None = None
    download_url: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("transaction_id",)


@attrs.frozen(kw_only=True, repr=False)
class ExternalAccountRecord(BaseRecord):
    """A connected external account, e.g. Trello (``external_account``)."""

    REC_TYPE: ClassVar[str] = "external_account"

    external_account_id: str | None = None
    account_id: str | None = None
    mk_external_account_type: str | None = None
    external_id: str | None = None
    email: str | None = None

    IDENTITY_FIELDS: ClassVar[tuple[str, ...]] = ("external_account_id",)


# Cache keys of the record types seen on the wire that have no class of their own.
_UNKNOWN_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "hangout_activity": ("conversation_id", "hangout_id"),
}


@attrs.frozen(kw_only=True, repr=False)
class UnknownRecord(BaseRecord):
    """A record of a type this library does not model; ``raw`` is the record as received."""

    mk_rec_type: str  # a field here, a property on the base classes
    raw: Mapping[str, Any] = attrs.field(repr=lambda raw: redact(repr(raw)))

    @property
    def identity(self) -> tuple[object, ...] | None:
        """The key fields for the few known unmodelled types, else None (not cacheable)."""
        keys = _UNKNOWN_KEYS.get(self.mk_rec_type)
        if keys is None:
            return None
        return tuple(self.raw.get(k) for k in keys)

    def merge(self, partial: Self, *, nulls: Iterable[str] = ()) -> Self:
        """Return an UnknownRecord whose ``raw`` is ``self.raw`` updated with ``partial.raw``.

        (``nulls`` is accepted for the common signature: ``raw`` keeps explicit nulls itself.)

        Raises:
            UsageError: ``partial`` is not an UnknownRecord of the same type and identity.
        """
        if (
            not isinstance(partial, UnknownRecord)
            or partial.mk_rec_type != self.mk_rec_type
            or partial.identity != self.identity
        ):
            msg = "cannot merge records of different types or identities"
            raise UsageError(msg)
        return type(self)(mk_rec_type=self.mk_rec_type, raw={**self.raw, **partial.raw})


#: Every modelled record class by its wire ``mk_rec_type``.
RECORD_TYPES: Final[Mapping[str, type[BaseRecord]]] = {
    cls.REC_TYPE: cls
    for cls in (
        ConversationRecord,
        MessageRecord,
        ContactRecord,
        ActivityRecord,
        HookRecord,
        FileRecord,
        PreviewRecord,
        LabelRecord,
        LockRecord,
        TeamRecord,
        OrgConvRecord,
        RequestRecord,
        PokeRecord,
        LastSeenRecord,
        ReminderRecord,
        SectionRecord,
        UploadRecord,
        OrgHeaderRecord,
        OrgMemberRecord,
        OrgChangelogRecord,
        SmtpRecord,
        MailRecord,
        BillingRecord,
        TransactionRecord,
        ExternalAccountRecord,
    )
}

#: Any stream record.
Record: TypeAlias = (
    ConversationRecord
    | MessageRecord
    | ContactRecord
    | ActivityRecord
    | HookRecord
    | FileRecord
    | PreviewRecord
    | LabelRecord
    | LockRecord
    | TeamRecord
    | OrgConvRecord
    | RequestRecord
    | PokeRecord
    | LastSeenRecord
    | ReminderRecord
    | SectionRecord
    | UploadRecord
    | OrgHeaderRecord
    | OrgMemberRecord
    | OrgChangelogRecord
    | SmtpRecord
    | MailRecord
    | BillingRecord
    | TransactionRecord
    | ExternalAccountRecord
    | UnknownRecord
)

#: A modelled ``mk_rec_type``: what ``client.events(kinds=...)`` accepts.
RecordKind: TypeAlias = Literal[
    "conv",
    "message",
    "contact",
    "activity",
    "hook",
    "file",
    "preview",
    "label",
    "lock",
    "team",
    "org_conv",
    "request",
    "poke",
    "lastseen",
    "reminder",
    "section",
    "upload",
    "org_header",
    "org_member",
    "org_changelog",
    "smtp",
    "mail",
    "billing",
    "transaction",
    "external_account",
]

#: The values of :data:`RecordKind`, in the order of :data:`RECORD_TYPES`.
RECORD_KINDS: Final[tuple[str, ...]] = get_args(RecordKind)
