"""FakeFleep's in-memory state: accounts, sessions, conversations, files, hooks, teams, and the
per-account event log that ``account/poll`` reads.

Everything here is plain mutable data plus the two primitives that make long polls cheap:

- :class:`Signal`: one lazily created :class:`anyio.Event` that is set and dropped on every
  change. Any number of waiters share it, so a thousand parked polls cost a thousand sleeping
  coroutines and nothing else (no timers, no per-poll tasks).
- :class:`EventLog`: an account's records with monotonically increasing sequence numbers
  (``event_horizon``); seq ``n`` is ``records[n - 1]``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import attrs

Record = dict[str, Any]


class Signal:
    """A broadcast "something changed" edge shared by all its waiters."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        # Created on first wait: anyio.Event() needs a running event loop, and state is
        # often built synchronously (fake.create_account) before any loop runs.
        self._event: anyio.Event | None = None

    def fire(self) -> None:
        """Wake every current waiter."""
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        """Wait for the next :meth:`fire`."""
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


@attrs.define
class EventLog:
    """One account's event stream."""

    records: list[Record] = attrs.field(factory=list)
    signal: Signal = attrs.field(factory=Signal)

    @property
    def horizon(self) -> int:
        """The seq of the newest record (0 when empty)."""
        return len(self.records)

    def append(self, records: list[Record]) -> None:
        """Append records and wake the account's parked polls."""
        if records:
            self.records.extend(records)
            self.signal.fire()

    def after(self, horizon: int, limit: int) -> tuple[list[Record], int]:
        """Records with seq > horizon (at most ``limit``) and the seq of the last one returned."""
        start = max(horizon, 0)
        chunk = self.records[start : start + limit]
        return chunk, start + len(chunk)


@attrs.define
class Session:
    """A login: the ``token_id`` cookie plus the JSON ``ticket``."""

    token_id: str = attrs.field(repr=False)
    ticket: str = attrs.field(repr=False)
    account_id: str
    created_time: int
    remember_me: bool = False
    alive: bool = True


@attrs.define
class Label:
    """A conversation label (user or system)."""

    label_id: str
    label: str
    index: int
    mk_label_type: str = "user_label"
    mk_label_subtype: str = "user"
    mk_label_status: str = "active"
    is_on_left_pane: bool = True
    is_in_muted: bool = True
    is_in_recent: bool = True
    # A team's label (``team_label``): it marks the conversations linked to that team.
    team_id: str | None = None


@attrs.define
class Alias:
    """An extra email address of an account."""

    email: str
    alias_account_id: str
    notification_id: str = attrs.field(repr=False)
    confirmed: bool = False


@attrs.define
class Smtp:
    """An outgoing SMTP configuration (stored, never used: FakeFleep sends no mail)."""

    smtp_id: str
    smtp_address: str
    smtp_username: str
    smtp_host: str
    smtp_port: int | None
    smtp_connection: str | None
    smtp_password: str = attrs.field(repr=False, default="")
    mk_smtp_status: str = "smtp_added"
    is_default: bool = False


@attrs.define
class SyncCursor:
    """Where a multi-batch initial sync (negative event_horizon) stands."""

    snapshot_horizon: int
    conversation_ids: list[str]
    offset: int
    flags: frozenset[str]


@attrs.define
class AccountState:
    """An account and everything that belongs to it alone."""

    account_id: str
    email: str
    display_name: str
    password: str | None = attrs.field(repr=False)
    fleep_address: str | None
    created_time: int
    # The address the server generated from the e-mail; it stays reachable besides a chosen one.
    fleep_autogen: str | None = None
    mk_account_status: str = "active"
    activated_time: int = 0
    activity_time: int = 0
    phone_nr: str | None = None
    client_flags: list[str] = attrs.field(factory=lambda: ["emoticons_old", "show_onboarding"])
    client_settings: str | None = None
    # None until set: the real own-contact record carries these only once configured.
    is_full_privacy: bool | None = None
    is_newsletter_disabled: bool | None = None
    is_automute_enabled: bool = True
    mk_email_interval: str = "never"
    avatar_file_id: str | None = None
    storage_used_bytes: int = 0
    log: EventLog = attrs.field(factory=EventLog)
    labels: dict[str, Label] = attrs.field(factory=dict)
    aliases: list[Alias] = attrs.field(factory=list)
    smtps: dict[str, Smtp] = attrs.field(factory=dict)
    # Contacts this account knows about besides conversation/team mates (imported, looked up).
    known_contacts: set[str] = attrs.field(factory=set)
    hidden_contacts: set[str] = attrs.field(factory=set)
    unlisted_contacts: set[str] = attrs.field(factory=set)
    # contact_id -> (contact_name, phone_nr) set with contact/describe, seen only by this account.
    contact_notes: dict[str, tuple[str | None, str | None]] = attrs.field(factory=dict)
    # contact_id -> the contact's ``sort_rank`` for this account, set by its last hide (0),
    # import (3) or describe (4); 1 otherwise (inferred from Fleep's contacts spec).
    contact_ranks: dict[str, int] = attrs.field(factory=dict)
    sync_cursors: dict[int, SyncCursor] = attrs.field(factory=dict)
    # sync_cursor strings (poll / account/sync_conversations) -> conversations still to send.
    conv_cursors: dict[str, list[str]] = attrs.field(factory=dict)
    next_sync_cursor: int = -1
    resync_pending: bool = False
    export_progress: str = "1"
    # The personal "my tasks" board: its sections by id ("To Do", "Archived" and the user's),
    # and the place of each task assigned to the account, by (conversation_id, message_nr).
    my_sections: dict[str, Section] = attrs.field(factory=dict)
    my_tasks: dict[tuple[str, int], MyTask] = attrs.field(factory=dict)
    # Tasks ever placed on the board and user sections ever added (their weights' counters).
    my_task_count: int = 0
    my_section_count: int = 0
    # What this account's searches read: loaded by its first search or search/prepare, dropped
    # by search/reset (see _handlers/search.py). None while not loaded.
    search_index: SearchIndex | None = attrs.field(default=None, repr=False)


@attrs.frozen
class IndexedMessage:
    """A message as an account's search index holds it: its number, text and kind."""

    message_nr: int
    text: str
    state: str


@attrs.frozen
class IndexedConversation:
    """A conversation as an account's search index holds it."""

    conversation_id: str
    topic_text: str  # lower case: what a topic search looks in
    header: dict[str, Any]  # the name-only header a search answers with
    messages: tuple[IndexedMessage, ...]


@attrs.frozen
class SearchIndex:
    """An account's searchable data as it was when loaded, conversation by conversation."""

    conversations: tuple[IndexedConversation, ...]


@attrs.define
class StoredFile:
    """Uploaded bytes, deduplicated by sha256."""

    file_id: str
    data: bytes = attrs.field(repr=False)
    file_sha256: str
    file_type: str
    width: int | None = None
    height: int | None = None
    is_animated: bool | None = None
    # A JPEG's EXIF orientation tag (1-8), None without one.
    orientation: int | None = None


@attrs.define
class Upload:
    """One upload: a fresh ``upload_url`` naming a stored file under a given name."""

    upload_url: str
    file_id: str
    name: str
    file_type: str
    account_id: str


@attrs.define
class Attachment:
    """A file attached to a message in one conversation."""

    attachment_id: str
    conversation_id: str
    message_nr: int
    account_id: str
    file_id: str
    file_name: str
    file_type: str
    posted_time: int
    url_key: str
    is_deleted: bool = False
    deleter_id: str = ""
    sender_name: str | None = None

    @property
    def file_url(self) -> str:
        """The relative download URL, shaped like the real one."""
        return f"/file/{self.url_key}/01/{self.attachment_id}/{self.file_name}"


@attrs.define
class Message:
    """A message in a conversation's flow."""

    message_nr: int
    account_id: str
    mk_message_type: str
    body: str
    text: str
    posted_time: int
    prev_message_nr: int
    inbox_nr: int
    state: str
    tags: list[str] = attrs.field(factory=list)
    flow_message_nr: int | None = None
    ref_message_nr: int | None = None
    edit_account_id: str | None = None
    edited_time: int | None = None
    hook_key: str | None = None
    sender_name: str | None = None
    subject: str | None = None
    pin_weight: float | None = None
    is_new_sheet: bool | None = None
    assignee_ids: list[str] | None = None
    is_url_preview_disabled: bool | None = None
    # A task's place on the taskboard (weights sort descending, as pins) and the board section
    # it sits in (kept while it is not a task, so that it comes back where it was).
    task_weight: float | None = None
    section_id: str | None = None
    # ``mst_unpin`` on a pin that was archived from the pinboard.
    mk_msg_sub_type: str | None = None
    attachment_ids: list[str] = attrs.field(factory=list)
    # Its place on each assignee's "my tasks" board, by account: the same objects as in the
    # accounts' ``my_tasks`` (a record for a viewer shows the viewer's place).
    my_task_places: dict[str, MyTask] = attrs.field(factory=dict, repr=False)

    @property
    def is_deleted(self) -> bool:
        """True once deleted."""
        return self.state == "deleted"


@attrs.define
class Membership:
    """One account's view of one conversation."""

    account_id: str
    join_message_nr: int
    read_message_nr: int
    active: bool = True
    left_message_nr: int | None = None
    mk_alert_level: str = "default"
    snooze_interval: int = 0
    snooze_time: int = 0
    hide_message_nr: int | None = None
    is_deleted: bool = False
    # None until the member first sets its read state (the real header omits the field).
    is_mark_unread: bool | None = None
    label_ids: list[str] = attrs.field(factory=list)
    # None for a conversation the server opened for the member (the welcome dialog).
    send_message_nr: int | None = 1
    # The last message that @mentions the member (0 once that mention is gone).
    my_message_nr: int | None = None
    # Where a member who left and came back re-entered the flow (the header's begin).
    rejoin_message_nr: int | None = None
    # Removed by someone else (not left): the header says ``is_reset`` (replace, not merge).
    was_removed: bool = False
    # Presence: None until the member first reports its writing state.
    is_writing: bool | None = None
    activity_time: int = 0


@attrs.define
class Hook:
    """A webhook: ``hook_key`` identifies it, ``url_id`` is the secret in its URL."""

    hook_id: str
    hook_key: str
    url_id: str = attrs.field(repr=False)
    conversation_id: str
    account_id: str
    hook_name: str
    mk_hook_type: str = "plain"
    outgoing_url: str = ""
    outgoing_disabled: bool = False
    is_active: bool = True


@attrs.define
class Section:
    """A section of a task board: a conversation's (``task``) or an account's own (``my_task``).

    A personal section belongs to one account and has no conversation.
    """

    section_id: str
    conversation_id: str
    name: str
    weight: float
    is_deleted: bool = False
    # ``urn:fleep:section:mk_section_type:<kind>`` and ``...:mk_section_subtype:<subtype>``.
    kind: str = "task"
    subtype: str = "user"


def system_section(sections: Mapping[str, Section], subtype: str) -> Section | None:
    """A task board's own section of ``subtype`` (``default`` "To Do", ``archived``)."""
    return next((sec for sec in sections.values() if sec.subtype == subtype), None)


@attrs.define
class MyTask:
    """Where a task assigned to an account sits on that account's "my tasks" board."""

    section_id: str
    task_weight: float


@attrs.define
class Conversation:
    """A conversation and its message flow."""

    conversation_id: str
    creator_id: str
    created_time: int
    topic: str = ""
    topic_message_nr: int = 1
    autojoin_key: str = ""
    cmail: str = ""
    is_autojoin: bool = False
    is_disclose: bool = False
    is_list: bool = False
    is_managed: bool = False
    is_url_preview_disabled: bool = False
    # None until switched on or off ("done" notifications post a message per completed task).
    has_done_notifications: bool | None = None
    mk_conv_type: str = "cct_default"
    # An e-mail member makes the conversation a mail thread (its topic becomes a subject).
    has_email_subject: bool = False
    # A 1:1 dialog: each member's id -> the other party's display name (its default topic).
    dialog_with: dict[str, str] | None = None
    admins: list[str] = attrs.field(factory=list)
    teams: list[str] = attrs.field(factory=list)
    default_members: list[str] = attrs.field(factory=list)
    memberships: dict[str, Membership] = attrs.field(factory=dict)
    messages: dict[int, Message] = attrs.field(factory=dict)
    attachments: dict[str, Attachment] = attrs.field(factory=dict)
    hooks: dict[str, Hook] = attrs.field(factory=dict)
    last_message_nr: int = 0
    last_visible_nr: int = 0
    # The last message a conversation list shows (a topic change is not one of them).
    last_shown_nr: int = 0
    last_inbox_nr: int = 0
    inbox_message_nr: int = 0
    last_message_time: int = 0
    # Sorted nrs of alerting (inbox) messages, overall and per author: unread counts in O(log n).
    inbox_nrs: list[int] = attrs.field(factory=list)
    inbox_nrs_by: dict[str, list[int]] = attrs.field(factory=dict)
    # Every flow number in order with the message it created or revised: "what changed since
    # flow position n" in O(log n + k), so answers stay cheap in long conversations.
    change_flow: list[int] = attrs.field(factory=list)
    change_msg: list[int] = attrs.field(factory=list)
    pinned: set[int] = attrs.field(factory=set)
    # Pins (tasks) ever made here: a new one weighs 2**32 + 65536 * its number (the real weights).
    pin_count: int = 0
    task_count: int = 0
    tasks: set[int] = attrs.field(factory=set)
    # Sections of the taskboard by id: its own "Archived" and "To Do" (subtypes ``archived``,
    # ``default``), then the user's.
    sections: dict[str, Section] = attrs.field(factory=dict)

    def dialog_topic(self, viewer: str) -> str:
        """The default topic of a dialog for one member (the other party's name)."""
        return (self.dialog_with or {}).get(viewer, "")

    @property
    def members(self) -> list[str]:
        """Current members, in join order."""
        return [m.account_id for m in self.memberships.values() if m.active]

    @property
    def leavers(self) -> list[str]:
        """Accounts that were members and left or were removed."""
        return [m.account_id for m in self.memberships.values() if not m.active]

    def next_nr(self) -> int:
        """Consume the next flow number."""
        self.last_message_nr += 1
        return self.last_message_nr

    def record_change(self, flow_nr: int, message_nr: int) -> None:
        """Note that flow number ``flow_nr`` created or revised message ``message_nr``."""
        self.change_flow.append(flow_nr)
        self.change_msg.append(message_nr)

    def track_state(self, msg: Message) -> None:
        """Keep the pinboard / taskboard sets in step with a message's state.

        A new task lands in the board's "To Do" section (or there again when its section went).
        """
        nr = msg.message_nr
        (self.pinned.add if msg.state == "pinned" else self.pinned.discard)(nr)
        is_task = msg.state in ("todo", "done")
        (self.tasks.add if is_task else self.tasks.discard)(nr)
        if is_task:
            place = self.sections.get(msg.section_id or "")
            if place is None or place.is_deleted:
                default = self.system_section("default")
                msg.section_id = default.section_id if default is not None else None

    def system_section(self, subtype: str) -> Section | None:
        """The board's own ``default`` ("To Do") or ``archived`` section."""
        return system_section(self.sections, subtype)

    def live_section(self, section_id: str) -> Section | None:
        """A section of this board that is not deleted, by id."""
        sec = self.sections.get(section_id)
        return sec if sec is not None and not sec.is_deleted else None

    def section_tasks(self, section_id: str) -> list[Message]:
        """The live tasks in one section, top first (weights descending)."""
        out = [
            self.messages[nr]
            for nr in self.tasks
            if self.messages[nr].section_id == section_id and not self.messages[nr].is_deleted
        ]
        out.sort(key=lambda msg: (msg.task_weight or 0.0, msg.message_nr), reverse=True)
        return out

    def changed_since(self, after: int, membership: Membership, limit: int) -> list[Message]:
        """Messages visible to a member whose latest revision is after flow position ``after``."""
        start = bisect.bisect_right(self.change_flow, after)
        latest: dict[int, int] = {}
        for flow_nr, nr in zip(self.change_flow[start:], self.change_msg[start:], strict=True):
            latest.pop(nr, None)
            latest[nr] = flow_nr
        upper = (
            membership.left_message_nr
            if not membership.active and membership.left_message_nr is not None
            else self.last_message_nr
        )
        out = []
        for nr, flow_nr in latest.items():
            if nr >= max(membership.join_message_nr, 1) and flow_nr <= upper:
                out.append(self.messages[nr])
                if len(out) == limit:
                    break
        return out

    def last_visible(self, membership: Membership, count: int) -> list[Message]:
        """The member's last ``count`` visible messages, oldest first."""
        upper = (
            membership.left_message_nr
            if not membership.active and membership.left_message_nr is not None
            else self.last_message_nr
        )
        out: list[Message] = []
        nr = upper
        while nr >= max(membership.join_message_nr, 1) and len(out) < count:
            msg = self.messages.get(nr)
            if msg is not None:
                out.append(msg)
            nr -= 1
        out.reverse()
        return out

    def add_inbox(self, nr: int, account_id: str) -> None:
        """Record an alerting message for unread counting."""
        bisect.insort(self.inbox_nrs, nr)
        bisect.insort(self.inbox_nrs_by.setdefault(account_id, []), nr)

    def drop_inbox(self, nr: int, account_id: str) -> None:
        """Forget an alerting message (it was deleted)."""
        for seq in (self.inbox_nrs, self.inbox_nrs_by.get(account_id, [])):
            at = bisect.bisect_left(seq, nr)
            if at < len(seq) and seq[at] == nr:
                del seq[at]

    def unread_count(self, account_id: str, read_nr: int) -> int:
        """Alerting messages from others after ``read_nr``."""
        own = self.inbox_nrs_by.get(account_id, [])
        total = len(self.inbox_nrs) - bisect.bisect_right(self.inbox_nrs, read_nr)
        return total - (len(own) - bisect.bisect_right(own, read_nr))

    def visible_messages(self, membership: Membership) -> Iterator[Message]:
        """Messages this member may see, in order."""
        upper = (
            membership.left_message_nr
            if not membership.active and membership.left_message_nr is not None
            else self.last_message_nr
        )
        for nr in range(max(membership.join_message_nr, 1), upper + 1):
            msg = self.messages.get(nr)
            if msg is not None:
                yield msg


@attrs.define
class Team:
    """A team of accounts."""

    team_id: str
    team_name: str
    creator_id: str
    members: list[str] = attrs.field(factory=list)
    admins: list[str] = attrs.field(factory=list)
    conversations: list[str] = attrs.field(factory=list)
    is_autojoin: bool = False
    is_managed: bool = False
    is_deleted: bool = False
    autojoin_key: str = ""
    team_version_nr: int = 1


@attrs.define
class Pending:
    """A registration, alias or password reset waiting for its email to be "clicked"."""

    notification_id: str = attrs.field(repr=False)
    kind: str
    email: str
    account_id: str | None = None
    display_name: str | None = None
    password: str | None = attrs.field(repr=False, default=None)
    registration_code: str = attrs.field(repr=False, default="")
    used: bool = False
