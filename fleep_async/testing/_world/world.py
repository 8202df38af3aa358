"""FakeFleep's world: the state plus every operation that changes it.

Handlers parse and check parameters, then call one of these operations. Each operation mutates
state and appends snapshot records to the event logs of every affected account, so the poll
side never needs to know which endpoint caused a change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final
from urllib.parse import quote

import attrs

from fleep_async.markup import xml_to_text
from fleep_async.testing._http.errors import (
    ApiError,
    business,
    conversation_not_found,
    message_not_found,
)
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.ids import IdSource
from fleep_async.testing._world.render import FileRef, render, urls
from fleep_async.testing._world.state import (
    AccountState,
    Attachment,
    Conversation,
    Hook,
    Label,
    Membership,
    Message,
    MyTask,
    Pending,
    Record,
    Section,
    Session,
    Signal,
    StoredFile,
    Team,
    Upload,
    system_section,
)

log = logging.getLogger("fleep_async.testing")

# The system labels of every account: (label, subtype, is_in_muted, is_in_recent,
# is_on_left_pane), as Fleep's own server tests show them.
SYSTEM_LABELS: Final = (
    ("starred", "starred", False, False, True),
    ("Unread", "unread", True, True, False),
    ("Recent", "recent", False, True, True),
    ("Muted", "muted", True, False, True),
    ("1:1 Conversations", "1:1 conversations", True, True, False),
    ("Spam", "spam", False, False, True),
    ("Archived", "archived", False, False, True),
    ("Email", "email", True, True, False),
)
SUPPORT_EMAIL: Final = "support@fleep.io"
SUPPORT_NAME: Final = "Fleep Support"
WELCOME_MESSAGE: Final = (
    "<msg><p>Hi there,</p><p>We've created this conversation so it would be easy for you to get "
    "in touch with us at Fleep. Feel free to use this conversation if you have any questions or "
    'feedback for us. (We <i flp="_" fls="_">love</i> feedback.)</p><p>I will reply as quickly as '
    'I can, but I am only human <emo kind="esmile">:)</emo><br/></p><p>Happy Fleeping!</p></msg>'
)

# The sentence a client renders for a discloseV2 message; the server sends the template.
DISCLOSE_V2_TEXT: Final = (
    "{author} disclosed previous messages to {teamsAndMembers} starting from {disclose_time}."
)
PASSIVE_TEXT: Final = (
    "{author} left and became a passive member in this conversation and will not receive "
    "notifications unless @mentioned."
)
JOIN_TEXT: Final = "{author} joined the conversation."
PASSIVE_SNOOZE: Final = -3
_TASK_FLAGS: Final = ("is_shared", "is_task")
# System messages whose bodies the real server writes as compact JSON in its own key order.
_COMPACT_BODIES: Final = frozenset({"enable_done_notifs", "disable_done_notifs", "task_completed"})
_MENTION: Final = re.compile(r"@([a-z0-9.]+[a-z0-9])")
_EMAIL: Final = re.compile(r"[^\s,;<>\"']+@[^\s,;<>\"']+\.[^\s,;<>\"']+")
_ADDRESS_CHARS: Final = re.compile(r"[^a-z0-9.]+")
# Every account's "my tasks" board opens with these sections: (subtype, name, weight). The
# weights are those of a conversation board's system sections (Fleep's server tests).
MY_SYSTEM_SECTIONS: Final = (("default", "To Do", float(2**32)), ("archived", "Archived", 0.0))
# A user section sits 65536 below the previous one; a task 65536 above the previous one.
WEIGHT_STEP: Final = 65536.0
# Every conversation's task board opens with these sections, in the order the answer to
# conversation/create lists them (Fleep's server tests): (subtype, name, weight).
CONV_SYSTEM_SECTIONS: Final = (("archived", "Archived", 0.0), ("default", "To Do", float(2**32)))


@attrs.frozen(kw_only=True)
class Account:
    """A FakeFleep account as tests see it (a value: read the live state through the fake)."""

    account_id: str
    email: str
    password: str | None = attrs.field(repr=False)
    display_name: str
    fleep_address: str | None


@attrs.frozen(kw_only=True)
class OutboxMail:
    """An email FakeFleep "sent": read it in tests and complete the flow with its id.

    ``kind`` is one of ``register``, ``register_code``, ``reset_password``, ``alias_confirm``,
    ``invite``.
    """

    to: str
    kind: str
    notification_id: str = attrs.field(repr=False)
    registration_code: str | None = attrs.field(repr=False, default=None)
    subject: str = ""


def _url_segment(name: str) -> str:
    """A file name as one URL path segment: quoted whole ("../../x", "?", "#"), never "."/".."."""
    return quote(name, safe="") if name.strip(".") else "file"


@attrs.frozen(kw_only=True)
class WorldConfig:
    """Knobs that shape FakeFleep's answers."""

    base_url: str
    hold_seconds: float
    sync_batch_size: int
    sync_messages: int
    poll_batch_size: int
    static_version: str
    # Fleep addresses are reachable as ``<address>@<fleep_domain>``.
    fleep_domain: str = "fleep.io"
    # New accounts get the Fleep Support contact and dialog (the real server's welcome).
    welcome: bool = True


class World:
    """All of FakeFleep's state and the operations on it."""

    def __init__(
        self,
        config: WorldConfig,
        *,
        seed: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.ids = IdSource(seed)
        self._clock = clock
        self.accounts: dict[str, AccountState] = {}
        self.by_email: dict[str, str] = {}
        self.by_address: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        self.conversations: dict[str, Conversation] = {}
        self.convs_of: dict[str, list[str]] = {}
        self.teams: dict[str, Team] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_sha: dict[str, str] = {}
        self.uploads: dict[str, Upload] = {}
        self.hooks_by_url: dict[str, Hook] = {}
        self.attachments: dict[str, Attachment] = {}
        self.pending: dict[str, Pending] = {}
        self.outbox: list[OutboxMail] = []
        self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
        self.external_files: dict[str, bytes] = {}
        self.reset_times: dict[str, list[float]] = {}
        # The 1:1 dialog of each pair of accounts (the contact record's dialog_id).
        self.dialogs: dict[frozenset[str], str] = {}
        # event/store outcomes by (account_id, client_req_id): a repeat answers the first one.
        self.event_requests: dict[tuple[str, str], Record] = {}
        self.support_id: str | None = None
        # Fired on every change anywhere (log appends, parked-poll count): fake.wait_for.
        self.changed = Signal()
        # The account whose own change is being applied (see ``actor_partial_headers``).
        self._partial_actor: str | None = None
        self.parked_polls = 0
        # While closing, polls do not park; a bump of release_generation answers every poll
        # parked before it, even if closing is already over when the poll gets to run.
        self.closing = False
        self.release_generation = 0

    # ------------------------------------------------------------------ basics

    def now(self) -> int:
        """Integer unix seconds from the injected clock."""
        return int(self._clock())

    def notify(self) -> None:
        """Wake fake.wait_for waiters."""
        self.changed.fire()

    def emit(self, account_id: str, records: list[Record]) -> None:
        """Append records to one account's log."""
        account = self.accounts.get(account_id)
        if account is not None and records:
            if account_id == self._partial_actor:
                records = [rec.conv_for_actor(r) for r in records]
            account.log.append(records)
            self.notify()

    @contextlib.contextmanager
    def actor_partial_headers(self, actor_id: str) -> Iterator[None]:
        """While applying ``actor_id``'s team change or ``conversation/store``, the headers
        the poll brings that actor are partial (``records.ACTOR_KEYS``), as the real server's
        are (Fleep's tests); the other members still get full headers."""
        previous, self._partial_actor = self._partial_actor, actor_id
        try:
            yield
        finally:
            self._partial_actor = previous

    def emit_each(self, account_ids: Iterable[str], build: Callable[[str], list[Record]]) -> None:
        """Append per-viewer records to several accounts' logs."""
        for account_id in dict.fromkeys(account_ids):
            self.emit(account_id, build(account_id))

    # ------------------------------------------------------------------ accounts

    def _unique_address(self, wanted: str) -> str:
        base = _ADDRESS_CHARS.sub(".", wanted.lower()).strip(".") or "user"
        candidate, n = base, 1
        while candidate in self.by_address:
            n += 1
            candidate = f"{base}{n}"
        return candidate

    def create_account(
        self,
        email: str,
        password: str | None,
        display_name: str | None = None,
        *,
        fleep_address: str | None = None,
        status: str = "active",
        welcome: bool = True,
    ) -> AccountState:
        """Create (or activate a placeholder for) an account.

        A new active account gets its dialog with Fleep Support (``welcome``), as on the real
        server.
        """
        key = email.strip().lower()
        existing_id = self.by_email.get(key)
        now = self.now()
        if existing_id is not None:
            existing = self.accounts[existing_id]
            if existing.mk_account_status != "new" or status == "new":
                raise business("account_exists", "An account with this email already exists.")
            # A placeholder (invited by email) becomes a real account and keeps its id.
            existing.mk_account_status = status
            existing.password = password
            existing.display_name = display_name or existing.display_name
            existing.fleep_address = self._claim_address(existing_id, fleep_address, key)
            existing.activated_time = now
            existing.activity_time = now
            existing.fleep_autogen = self._autogen(existing_id, key, existing.fleep_address)
            self.emit(existing_id, [self.own_contact(existing)])
            self.broadcast_contact(existing)
            if self.config.welcome:
                self._welcome(existing)
            return existing
        account_id = self.ids.uuid()
        account = AccountState(
            account_id=account_id,
            email=email.strip(),
            display_name=display_name or email.strip(),
            password=password,
            fleep_address=None,
            created_time=now,
            mk_account_status=status,
            activated_time=now if status == "active" else 0,
            activity_time=now if status == "active" else 0,
        )
        self.accounts[account_id] = account
        self.by_email[key] = account_id
        self.convs_of[account_id] = []
        if status != "new":
            account.fleep_address = self._claim_address(account_id, fleep_address, key)
        if status != "new":
            account.fleep_autogen = self._autogen(account_id, key, account.fleep_address)
        for index, (name, subtype, in_muted, in_recent, on_left) in enumerate(SYSTEM_LABELS):
            lab = Label(
                label_id=self.ids.uuid(),
                label=name,
                index=index,
                mk_label_type="system_label",
                mk_label_subtype=subtype,
                is_in_muted=in_muted,
                is_in_recent=in_recent,
                is_on_left_pane=on_left,
            )
            account.labels[lab.label_id] = lab
        account.my_sections.update(
            _board_sections(account_id, my_board_id(account_id), "my_task", MY_SYSTEM_SECTIONS)
        )
        # Every account's log starts with its own contact, so a live horizon is always >= 1
        # and 0 stays free to mean "resync".
        account.log.append([self.own_contact(account)])
        self.notify()
        if status != "new" and welcome and self.config.welcome:
            self._welcome(account)
        return account

    def _autogen(self, account_id: str, email_key: str, chosen: str | None) -> str:
        """The generated address: from the e-mail, never the same as a chosen address."""
        base = email_key.split("@", 1)[0]
        if chosen is not None and self.by_address.get(chosen) == account_id:
            base = f"{base}.{account_id[:6]}"
        address = self._unique_address(base)
        self.by_address[address] = account_id
        return address

    def system_label(self, account: AccountState, subtype: str) -> Label:
        """One of the account's system labels by subtype (``starred``, ``spam``, ...)."""
        for lab in account.labels.values():
            if lab.mk_label_type == "system_label" and lab.mk_label_subtype == subtype:
                return lab
        raise KeyError(subtype)

    def label_named(self, account: AccountState, name: str) -> tuple[Label, bool]:
        """The account's label called ``name``, made as a new user label if it has none;
        and whether it was made now."""
        for lab in account.labels.values():
            if lab.label == name:
                return lab, False
        lab = Label(label_id=self.ids.uuid(), label=name, index=len(account.labels))
        account.labels[lab.label_id] = lab
        return lab, True

    def support(self) -> AccountState:
        """The "Fleep Support" account every new account gets a dialog with."""
        if self.support_id is None:
            support = self.create_account(
                SUPPORT_EMAIL, None, SUPPORT_NAME, fleep_address="fleep.support", welcome=False
            )
            self.support_id = support.account_id
        return self.accounts[self.support_id]

    def _welcome(self, account: AccountState) -> None:
        """Open the new account's dialog with Fleep Support, as the real server does."""
        support = self.support()
        conv = Conversation(
            conversation_id=self.ids.uuid(),
            creator_id=support.account_id,
            created_time=self.now(),
            autojoin_key=(key := self.ids.short()),
            cmail=f"conv.{key[:10].lower()}@{_mail_host(self.config.base_url)}",
            default_members=[support.account_id],
            dialog_with={
                account.account_id: support.display_name,
                support.account_id: account.display_name,
            },
        )
        one_on_one = self.system_label(account, "1:1 conversations").label_id
        conv.memberships[support.account_id] = Membership(
            account_id=support.account_id, join_message_nr=1, read_message_nr=2
        )
        conv.memberships[account.account_id] = Membership(
            account_id=account.account_id,
            join_message_nr=1,
            read_message_nr=0,
            send_message_nr=None,
            label_ids=[one_on_one],
        )
        self.conversations[conv.conversation_id] = conv
        self._open_board(conv)
        self.convs_of[account.account_id].append(conv.conversation_id)
        self.convs_of[support.account_id].append(conv.conversation_id)
        self.dialogs[frozenset((account.account_id, support.account_id))] = conv.conversation_id
        account.hidden_contacts.add(support.account_id)
        self._append(
            conv,
            support.account_id,
            "create",
            rec.system_body(members=[], org_name=None, organisation_id=None, topic=None),
            state="system",
        )
        self._append(conv, support.account_id, "text", WELCOME_MESSAGE, alerting=True)
        self.emit(
            account.account_id,
            [self.contact_for(support, account), *self.init_records(conv, account.account_id)],
        )

    def _claim_address(self, account_id: str, wanted: str | None, email_key: str) -> str:
        if wanted is not None:
            address = wanted.strip().lower()
            if not address or _ADDRESS_CHARS.search(address):
                raise business("invalid_fleep_address", "Invalid Fleep address.")
            owner = self.by_address.get(address)
            if owner is not None and owner != account_id:
                raise business("fleep_address_taken", "This Fleep address is taken.")
        else:
            address = self._unique_address(email_key.split("@", 1)[0])
        self.by_address[address] = account_id
        return address

    def public(self, account: AccountState) -> Account:
        """The public value for an account."""
        return Account(
            account_id=account.account_id,
            email=account.email,
            password=account.password,
            display_name=account.display_name,
            fleep_address=account.fleep_address,
        )

    def find_account(self, ident: str) -> AccountState | None:
        """By account id, email (or confirmed alias) or Fleep address."""
        if ident in self.accounts:
            return self.accounts[ident]
        key = ident.strip().lower()
        account_id = self.by_email.get(key) or self.by_address.get(key)
        local, _, domain = key.partition("@")
        if account_id is None and domain == self.config.fleep_domain:
            # "<fleep address>@fleep.io" reaches the account, as on the real server.
            account_id = self.by_address.get(local)
        found = self.accounts[account_id] if account_id is not None else None
        if found is None or found.mk_account_status == "new":
            # A confirmed alias belongs to its owner (its placeholder account stays unused).
            for acc in self.accounts.values():
                if any(a.confirmed and a.email.lower() == key for a in acc.aliases):
                    return acc
        return found

    def resolve_emails(self, emails: str | None, *, invite: bool = False) -> list[str]:
        """Parse an email "To:" line into account ids, creating placeholders for strangers."""
        ids: list[str] = []
        for part in re.split(r"[,;\n]", emails or ""):
            part = part.strip()
            if not part:
                continue
            match = _EMAIL.search(part)
            target = match.group(0) if match else part.split()[0]
            account = self.find_account(target)
            if account is None:
                if match is None:
                    # The real server skips what is not an address (Fleep's server tests).
                    continue
                account = self.create_account(target, None, status="new")
                if invite:
                    self.new_pending(
                        "register",
                        target,
                        mail_kind="invite",
                        account_id=account.account_id,
                        subject="You are invited to Fleep",
                    )
            ids.append(account.account_id)
        return list(dict.fromkeys(ids))

    def resolve_account_ids(self, account_ids: Iterable[str]) -> list[str]:
        """Check account ids exist."""
        out = []
        for account_id in account_ids:
            if account_id not in self.accounts:
                raise business("unknown_account", "Unknown account.")
            out.append(account_id)
        return out

    def alias_ids(self, account: AccountState) -> list[str]:
        """Confirmed alias account ids."""
        return [a.alias_account_id for a in account.aliases if a.confirmed]

    def own_contact(self, account: AccountState) -> Record:
        """The owner's own contact record."""
        return rec.own_contact(account, self.alias_ids(account))

    def contact_for(self, account: AccountState, viewer: AccountState) -> Record:
        """Any account's contact record as the viewer sees it."""
        if account.account_id == viewer.account_id:
            return self.own_contact(account)
        dialog = self.dialogs.get(frozenset((account.account_id, viewer.account_id)))
        return rec.contact(account, viewer, dialog_id=dialog)

    def contacts_of(self, account: AccountState) -> list[str]:
        """Account ids this account has as contacts (conversation/team mates, known ones)."""
        ids: dict[str, None] = {}
        for conv_id in self.convs_of.get(account.account_id, []):
            for member in self.conversations[conv_id].memberships:
                ids[member] = None
        for t in self.teams.values():
            if account.account_id in t.members and not t.is_deleted:
                ids.update(dict.fromkeys(t.members))
        ids.update(dict.fromkeys(account.known_contacts))
        ids.pop(account.account_id, None)
        return [i for i in ids if i in self.accounts]

    def broadcast_contact(self, account: AccountState) -> None:
        """Send an account's updated contact record to itself and everyone who knows it."""
        self.emit(account.account_id, [self.own_contact(account)])
        watchers = [
            other
            for other in self.accounts.values()
            if other.account_id != account.account_id
            and account.account_id in self.contacts_of(other)
        ]
        for other in watchers:
            self.emit(other.account_id, [self.contact_for(account, other)])

    def send_mail(
        self,
        to: str,
        kind: str,
        *,
        subject: str = "",
        notification_id: str | None = None,
        registration_code: str | None = None,
    ) -> OutboxMail:
        """Write a mail to the fake outbox."""
        mail = OutboxMail(
            to=to,
            kind=kind,
            notification_id=notification_id or self.ids.secret_uuid(),
            registration_code=registration_code,
            subject=subject,
        )
        self.outbox.append(mail)
        log.debug("fake mail %s to %s", kind, to)
        self.notify()
        return mail

    def new_pending(
        self,
        kind: str,
        email: str,
        *,
        mail_kind: str,
        account_id: str | None = None,
        display_name: str | None = None,
        password: str | None = None,
        subject: str = "",
    ) -> Pending:
        """Start an email-confirmed flow and "send" its mail."""
        pending = Pending(
            notification_id=self.ids.secret_uuid(),
            kind=kind,
            email=email,
            account_id=account_id,
            display_name=display_name,
            password=password,
            registration_code=_code(self.ids.secret_uuid()),
        )
        self.pending[pending.notification_id] = pending
        self.send_mail(
            email,
            mail_kind,
            subject=subject,
            notification_id=pending.notification_id,
            registration_code=pending.registration_code,
        )
        return pending

    # ------------------------------------------------------------------ sessions

    def login(self, account: AccountState, *, remember_me: bool) -> Session:
        """Open a session."""
        session = Session(
            token_id=self.ids.token_id(),
            ticket=self.ids.ticket(),
            account_id=account.account_id,
            created_time=self.now(),
            remember_me=remember_me,
        )
        self.sessions[session.token_id] = session
        return session

    def expire_sessions(self, account_id: str) -> int:
        """Kill every session of an account and wake its parked polls (they answer 401)."""
        count = 0
        for session in self.sessions.values():
            if session.account_id == account_id and session.alive:
                session.alive = False
                count += 1
        account = self.accounts.get(account_id)
        if account is not None:
            account.log.signal.fire()
        self.notify()
        return count

    # ------------------------------------------------------------------ conversations

    def conversation(self, conversation_id: str) -> Conversation:
        """A conversation by id (430 when unknown)."""
        conv = self.conversations.get(conversation_id)
        if conv is None:
            raise conversation_not_found()
        return conv

    def membership(self, conv: Conversation, account_id: str) -> Membership:
        """Any membership, current or past (430 if never a member)."""
        m = conv.memberships.get(account_id)
        if m is None:
            raise conversation_not_found()
        return m

    def require_member(self, conv: Conversation, account_id: str) -> Membership:
        """A current membership: 431 for ex-members, 430 for strangers."""
        m = self.membership(conv, account_id)
        if not m.active:
            raise business("not_member", "You are not a member of this conversation.")
        return m

    def full_header(self, conv: Conversation, viewer: str, *, is_init: bool = True) -> Record:
        """Full ConvInfo for a member."""
        return rec.conv_full(
            conv,
            conv.memberships[viewer],
            base_url=self.config.base_url,
            labels=self.accounts[viewer].labels,
            is_init=is_init,
        )

    def partial_header(self, conv: Conversation, viewer: str) -> Record:
        """Partial ConvInfo (message counters) for a member."""
        return rec.conv_partial(self.full_header(conv, viewer))

    def create_conversation(
        self,
        creator: AccountState,
        *,
        topic: str | None = None,
        member_ids: Iterable[str] = (),
        is_autojoin: bool = False,
        is_disclose: bool = False,
        is_list: bool = False,
        is_managed: bool = False,
        mk_conv_type: str | None = None,
        team_ids: Iterable[str] = (),
    ) -> Conversation:
        """Create a conversation with its ``create`` system message (nr 1)."""
        now = self.now()
        conv_id = self.ids.uuid()
        key = self.ids.short()
        conv = Conversation(
            conversation_id=conv_id,
            creator_id=creator.account_id,
            created_time=now,
            topic=topic or "",
            autojoin_key=key,
            cmail=f"conv.{key[:10].lower()}@{_mail_host(self.config.base_url)}",
            is_autojoin=is_autojoin,
            is_disclose=is_disclose,
            is_list=is_list,
            is_managed=is_managed,
            mk_conv_type=mk_conv_type or "cct_default",
            admins=[creator.account_id] if is_managed else [],
        )
        members = list(dict.fromkeys([creator.account_id, *member_ids]))
        teams = []
        for team_id in dict.fromkeys(team_ids):
            t = self.teams.get(team_id)
            if t is None or t.is_deleted:
                raise business("unknown_team", "Unknown team.")
            teams.append(t)
        # The real server leaves default_members empty for a new conversation (Fleep's server
        # tests): it is the dialog partner in 1:1 chats only.
        self.conversations[conv_id] = conv
        self._open_board(conv)
        for account_id in members:
            is_creator = account_id == creator.account_id
            conv.memberships[account_id] = Membership(
                account_id=account_id,
                join_message_nr=1,
                read_message_nr=1 if is_creator else 0,
                is_mark_unread=False if is_creator else None,
            )
            self.convs_of[account_id].append(conv_id)
        self._append(
            conv,
            creator.account_id,
            "create",
            rec.system_body(
                members=[m for m in members if m != creator.account_id],
                org_name=None,
                organisation_id=None,
                topic=topic,
            ),
            state="system",
        )
        for account_id in members:
            viewer = self.accounts[account_id]
            contacts = [
                self.contact_for(self.accounts[o], viewer) for o in members if o != account_id
            ]
            self.emit(account_id, [*contacts, *self.init_records(conv, account_id)])
        # Each team is linked after the create message, by a message of its own that brings
        # its members in (Fleep's tests: a conversation created with two teams is at nr 3).
        for t in teams:
            self.add_team_to_conversation(conv, creator.account_id, t)
        return conv

    def init_records(self, conv: Conversation, viewer: str, *, messages: int = 0) -> list[Record]:
        """Full header, hooks, the member's visible messages (all, or the last N), the board.

        The board's sections follow the messages, as in the answer to conversation/create.
        """
        m = conv.memberships[viewer]
        visible = conv.last_visible(m, messages) if messages else list(conv.visible_messages(m))
        out: list[Record] = [self.full_header(conv, viewer)]
        out.extend(rec.hook(h, viewer, base_url=self.config.base_url) for h in conv.hooks.values())
        for msg in visible:
            out.append(rec.message(conv, msg, viewer))
            out.extend(self.file_records(conv, msg))
        out.extend(self.section_records(conv))
        return out

    def _open_board(self, conv: Conversation) -> None:
        """Give a new conversation's task board its own "Archived" and "To Do" sections."""
        cid = conv.conversation_id
        conv.sections.update(_board_sections(cid, cid, "task", CONV_SYSTEM_SECTIONS))

    def section_records(self, conv: Conversation) -> list[Record]:
        """The live sections of a conversation's task board."""
        return [rec.section(sec) for sec in conv.sections.values() if not sec.is_deleted]

    def place_task(
        self,
        conv: Conversation,
        actor_id: str,
        message_nr: int,
        section_id: str,
        after_nr: int | None,
    ) -> Message:
        """Move a task into a section of its board, just below ``after_nr`` (or on top)."""
        msg = self.get_message(conv, message_nr)
        if msg.state not in ("todo", "done"):
            raise ApiError(400, "invalid_call", "Only a task can be placed in a section.")
        if conv.live_section(section_id) is None:
            raise ApiError(430, "not_found", "Section not found.")
        ranked = [m for m in conv.section_tasks(section_id) if m.message_nr != message_nr]
        weights = [m.task_weight or 0.0 for m in ranked]
        nrs = [m.message_nr for m in ranked]
        if after_nr is None or after_nr not in nrs:
            weight = (weights[0] + WEIGHT_STEP) if weights else float(2**32)
        else:
            i = nrs.index(after_nr)
            below = weights[i + 1] if i + 1 < len(weights) else weights[i] - WEIGHT_STEP
            weight = (weights[i] + below) / 2
        msg.section_id, msg.task_weight = section_id, weight
        self._revise(conv, msg, actor_id)
        return msg

    def move_tasks(
        self, conv: Conversation, actor_id: str, tasks: Iterable[Message], section_id: str
    ) -> list[Message]:
        """Move tasks to another section, keeping their weights; each reaches the members."""
        moved = []
        for msg in tasks:
            if msg.section_id != section_id:
                msg.section_id = section_id
                self._revise(conv, msg, actor_id)
                moved.append(msg)
        return moved

    def file_records(self, conv: Conversation, msg: Message) -> list[Record]:
        """File records of a message's attachments, then the previews of its URLs."""
        out = []
        for att_id in msg.attachment_ids:
            att = conv.attachments[att_id]
            out.append(rec.file(att, self.files[att.file_id]))
        if not (msg.is_deleted or msg.is_url_preview_disabled or msg.state == "system"):
            out.extend(rec.preview(conv, msg, url) for url in urls(msg.text))
        return out

    def _append(
        self,
        conv: Conversation,
        author_id: str,
        mk_message_type: str,
        body: str,
        *,
        text: str = "",
        state: str = "plain",
        alerting: bool = False,
        posted_time: int | None = None,
        shown: bool = True,
        **fields: Any,
    ) -> Message:
        """Append a message; ``shown=False`` for one the conversation list does not show (a
        topic change: it moves neither ``show_message_nr`` nor its author's read horizon)."""
        nr = conv.next_nr()
        now = self.now() if posted_time is None else posted_time
        if alerting:
            conv.last_inbox_nr += 1
            inbox_nr = conv.last_inbox_nr
            conv.inbox_message_nr = nr
            conv.add_inbox(nr, author_id)
        else:
            # Non-alerting messages point back at the previous inbox number (negative).
            inbox_nr = -conv.last_inbox_nr
            if conv.inbox_message_nr == 0:
                conv.inbox_message_nr = nr
        msg = Message(
            message_nr=nr,
            account_id=author_id,
            mk_message_type=mk_message_type,
            body=body,
            text=text,
            posted_time=now,
            prev_message_nr=conv.last_visible_nr,
            inbox_nr=inbox_nr,
            state=state,
            **fields,
        )
        conv.messages[nr] = msg
        author = conv.memberships.get(author_id)
        if state == "system" and shown and author is not None and author.active:
            # The author of a system message has read it (Fleep's server tests).
            author.read_message_nr = max(author.read_message_nr, nr)
        conv.record_change(nr, nr)
        conv.track_state(msg)
        conv.last_visible_nr = nr
        if shown:
            conv.last_shown_nr = nr
        conv.last_message_time = max(conv.last_message_time, now)
        return msg

    def system_message(
        self,
        conv: Conversation,
        actor_id: str,
        mk_message_type: str,
        audience: Iterable[str] = (),
        **body: Any,
    ) -> Message:
        """Post a system message and send it (plus a header) to members and ``audience``."""
        text = rec.compact_body(**body) if mk_message_type in _COMPACT_BODIES else None
        msg = self._append(
            conv, actor_id, mk_message_type, text or rec.system_body(**body), state="system"
        )
        self.emit_each(
            [*conv.members, *audience],
            lambda viewer: [rec.message(conv, msg, viewer), self.full_header(conv, viewer)],
        )
        return msg

    def post(
        self,
        conv: Conversation,
        author_id: str,
        text: str | None,
        *,
        upload_urls: Iterable[str] = (),
        mk_message_type: str = "text",
        tags: Iterable[str] = (),
        subject: str | None = None,
        hook_key: str | None = None,
        sender_name: str | None = None,
        posted_time: int | None = None,
        is_url_preview_disabled: bool | None = None,
        file_ids: Iterable[tuple[str, str]] = (),
        pin_weight: float | None = None,
        assignee_ids: list[str] | None = None,
        mark_read: bool = True,
        is_new_sheet: bool | None = None,
    ) -> Message:
        """Post a text message (the message/send code path)."""
        uploads = [self._upload(url) for url in upload_urls]
        tag_list = [t for t in dict.fromkeys(tags) if isinstance(t, str)]
        state = "plain"
        if "pin" in tag_list:
            state = "pinned"
        elif "is_done" in tag_list:
            state = "done"
        elif "is_todo" in tag_list:
            state = "todo"
        task_weight = None
        if state in ("todo", "done"):
            tag_list = ["is_shared", "is_task", *[t for t in tag_list if t not in _TASK_FLAGS]]
            task_weight = self.next_task_weight(conv)
        msg = self._append(
            conv,
            author_id,
            mk_message_type,
            "",
            text=text or "",
            state=state,
            alerting=True,
            posted_time=posted_time,
            tags=tag_list,
            subject=subject,
            hook_key=hook_key,
            sender_name=sender_name,
            is_new_sheet=is_new_sheet,
            # A conversation without URL previews marks each new message so (Fleep's tests).
            is_url_preview_disabled=True
            if conv.is_url_preview_disabled
            else is_url_preview_disabled,
            pin_weight=(pin_weight or self.next_pin_weight(conv)) if state == "pinned" else None,
            assignee_ids=assignee_ids,
            task_weight=task_weight,
        )
        refs = [(u.file_id, u.name, u.file_type) for u in uploads]
        refs.extend((fid, name, self.files[fid].file_type) for fid, name in file_ids)
        for file_id, name, file_type in refs:
            att = self._attach(conv, msg, author_id, file_id, name, file_type, sender_name)
            msg.attachment_ids.append(att.attachment_id)
        msg.body = self._render(conv, msg)
        author = self.accounts.get(author_id)
        if author is not None:
            author.activity_time = msg.posted_time
        m = conv.memberships.get(author_id)
        if mark_read and m is not None and m.active and hook_key is None:
            m.read_message_nr = max(m.read_message_nr, msg.message_nr)
            m.is_mark_unread = False
        if m is not None and m.is_writing:
            # Sending ends the writing state (the pen disappears for the others).
            m.is_writing, m.activity_time = False, msg.posted_time
        self.place_my_tasks(conv, msg)
        self._flow_changed(conv, msg)
        return msg

    def _render(self, conv: Conversation, msg: Message) -> str:
        refs = []
        for att_id in msg.attachment_ids:
            att = conv.attachments[att_id]
            refs.append(FileRef(att.attachment_id, att.file_name, att.is_deleted))
        return render(msg.text, refs)

    def _attach(
        self,
        conv: Conversation,
        msg: Message,
        author_id: str,
        file_id: str,
        name: str,
        file_type: str,
        sender_name: str | None,
    ) -> Attachment:
        att = Attachment(
            attachment_id=self.ids.short(),
            conversation_id=conv.conversation_id,
            message_nr=msg.message_nr,
            account_id=author_id,
            file_id=file_id,
            file_name=name,
            file_type=file_type,
            posted_time=msg.posted_time,
            url_key=self.ids.short(),
            sender_name=sender_name,
        )
        conv.attachments[att.attachment_id] = att
        self.attachments[att.attachment_id] = att
        return att

    def _upload(self, url: object) -> Upload:
        upload = self.uploads.get(url) if isinstance(url, str) else None
        if upload is None:
            raise business("invalid_attachment", "Unknown upload url in attachments.")
        return upload

    def _mentions(self, conv: Conversation, msg: Message) -> None:
        """Track ``my_message_nr``: the last message that @mentions each member."""
        if msg.state == "system":
            return
        words = set() if msg.is_deleted else set(_MENTION.findall(msg.text.lower()))
        for m in conv.memberships.values():
            account = self.accounts[m.account_id]
            names = {account.fleep_address, account.fleep_autogen} - {None}
            if words & names:
                m.my_message_nr = msg.message_nr
            elif m.my_message_nr == msg.message_nr:
                m.my_message_nr = 0

    def _flow_changed(self, conv: Conversation, msg: Message) -> None:
        """A message was added or changed: every member gets it plus a header."""
        self._mentions(conv, msg)
        for viewer in conv.members:
            m = conv.memberships[viewer]
            revived = m.is_deleted or (
                m.hide_message_nr is not None and m.hide_message_nr < conv.last_message_nr
            )
            if revived:
                # A hidden or deleted conversation comes back when someone writes.
                m.is_deleted = False
                m.hide_message_nr = None
            out = [rec.message(conv, msg, viewer), *self.file_records(conv, msg)]
            # The other members get the full header (Fleep's server tests find the topic and
            # counters in it); the actor, whose answer already had the counters, a partial one.
            if revived or viewer != (msg.edit_account_id or msg.account_id):
                out.append(self.full_header(conv, viewer))
            else:
                out.append(self.partial_header(conv, viewer))
            self.emit(viewer, out)

    def get_message(self, conv: Conversation, message_nr: int) -> Message:
        """A message by nr (430 ``not_found`` when unknown)."""
        msg = conv.messages.get(message_nr)
        if msg is None:
            raise message_not_found()
        return msg

    def edit(
        self,
        conv: Conversation,
        actor_id: str,
        message_nr: int,
        *,
        text: str | None = None,
        upload_urls: list[str] | None = None,
        subject: str | None = None,
        revise: bool = True,
    ) -> Message:
        """Edit a message: only its author may, and it takes a new flow number.

        ``revise=False`` leaves the new flow number to a following :meth:`set_tags` (one
        message/store call is one revision).
        """
        msg = self.get_message(conv, message_nr)
        if msg.state == "system":
            raise business("invalid_edit", "System messages cannot be edited.")
        if msg.is_deleted:
            raise business("invalid_edit", "Deleted messages cannot be edited.")
        if msg.account_id != actor_id and msg.state not in ("pinned", "todo", "done"):
            # Pins and tasks are shared: any member may edit them (Fleep's server tests).
            raise business("invalid_edit", "You can only edit your own messages.")
        uploads = [self._upload(url) for url in upload_urls or []]
        if text is not None:
            msg.text = text
        if subject is not None:
            msg.subject = subject
        if upload_urls is not None:
            for att_id in msg.attachment_ids:
                self._delete_attachment(conv, att_id, actor_id)
            for u in uploads:
                att = self._attach(conv, msg, actor_id, u.file_id, u.name, u.file_type, None)
                msg.attachment_ids.append(att.attachment_id)
        if revise:
            self._revise(conv, msg, actor_id)
        return msg

    def _revise(self, conv: Conversation, msg: Message, actor_id: str) -> None:
        msg.flow_message_nr = conv.next_nr()
        conv.record_change(msg.flow_message_nr, msg.message_nr)
        conv.track_state(msg)
        self.place_my_tasks(conv, msg)
        msg.edit_account_id = actor_id
        msg.edited_time = self.now()
        if not msg.is_deleted and msg.state != "system":
            msg.body = self._render(conv, msg)
        self._flow_changed(conv, msg)

    def _delete_attachment(self, conv: Conversation, attachment_id: str, actor_id: str) -> None:
        att = conv.attachments[attachment_id]
        if not att.is_deleted:
            att.is_deleted = True
            att.deleter_id = actor_id

    def delete(
        self,
        conv: Conversation,
        actor_id: str,
        message_nr: int,
        *,
        attachment_id: str | None = None,
        tags: list[str] | None = None,
    ) -> Message:
        """Delete a message (any member may), or only one of its attachments."""
        msg = self.get_message(conv, message_nr)
        if msg.state == "system":
            raise business("invalid_delete", "System messages cannot be deleted.")
        if msg.is_deleted:
            raise business("invalid_delete", "Message is already deleted.")
        if attachment_id is not None:
            if attachment_id not in msg.attachment_ids:
                raise business("invalid_delete", "Unknown attachment.")
            self._delete_attachment(conv, attachment_id, actor_id)
            self._revise(conv, msg, actor_id)
            return msg
        for att_id in msg.attachment_ids:
            self._delete_attachment(conv, att_id, actor_id)
        msg.state = "deleted"
        msg.body = ""
        if tags is not None:
            msg.tags = tags
        if msg.inbox_nr > 0:
            conv.drop_inbox(msg.message_nr, msg.account_id)
        self._revise(conv, msg, actor_id)
        return msg

    def set_tags(
        self,
        conv: Conversation,
        actor_id: str,
        message_nr: int,
        tags: list[str],
        *,
        pin_weight: float | None = None,
        assignee_ids: list[str] | None = None,
    ) -> Message:
        """Pin / unpin / task state changes through message/store ``tags``."""
        msg = self.get_message(conv, message_nr)
        if msg.state == "system" or msg.is_deleted:
            raise business("invalid_edit", "This message cannot be changed.")
        wanted = list(dict.fromkeys(tags))
        before = msg.state
        if msg.state == "pinned" and ("is_archived" in wanted or "pin" not in wanted):
            # Archiving a pin (or dropping its tag) unpins it (Fleep's server tests).
            msg.state = "unpinned"
            msg.mk_msg_sub_type = "mst_unpin"
            msg.ref_message_nr = msg.message_nr
            rest = [t for t in wanted if t not in ("pin", "unpin", "is_shared")]
            wanted = ["is_shared", "unpin", *rest]
        elif "pin" in wanted:
            msg.state = "pinned"
            msg.mk_msg_sub_type = None
            if pin_weight is not None:
                msg.pin_weight = pin_weight
            elif msg.pin_weight is None:
                msg.pin_weight = self.next_pin_weight(conv)
            msg.ref_message_nr = msg.message_nr
        elif "is_done" in wanted or "is_todo" in wanted:
            msg.state = "done" if "is_done" in wanted else "todo"
            if msg.task_weight is None:
                msg.task_weight = self.next_task_weight(conv)
            # A task is shared with the conversation and flagged as one.
            wanted = ["is_shared", "is_task", *[t for t in wanted if t not in _TASK_FLAGS]]
        completed = msg.state == "done" and before != "done"
        msg.tags = wanted
        if assignee_ids is not None:
            msg.assignee_ids = assignee_ids
        self._revise(conv, msg, actor_id)
        if completed and conv.has_done_notifications:
            # "Done" notifications: each completed task is announced in the flow.
            self.system_message(
                conv,
                actor_id,
                "task_completed",
                task_message_nr=msg.message_nr,
                sysmsg_text="{author} completed a task.",
            )
        return msg

    def set_url_previews(self, conv: Conversation, actor_id: str, *, disabled: bool) -> Message:
        """Switch URL previews of new messages off or on: a system message says so.

        The message number it takes is from Fleep's server tests; its text is *inferred*.
        """
        conv.is_url_preview_disabled = disabled
        verb = "disabled" if disabled else "enabled"
        return self.system_message(
            conv,
            actor_id,
            "no_url_previews" if disabled else "url_previews",
            sysmsg_text=f"{{author}} {verb} link previews.",
        )

    def set_done_notifications(self, conv: Conversation, actor_id: str, on: bool) -> Message:
        """Switch the conversation's task-completion messages on or off (a system message)."""
        conv.has_done_notifications = on
        verb = "enabled" if on else "disabled"
        return self.system_message(
            conv,
            actor_id,
            "enable_done_notifs" if on else "disable_done_notifs",
            sysmsg_text=f"{{author}} {verb} task notifications.",
        )

    def place_my_tasks(self, conv: Conversation, msg: Message) -> None:
        """Put a task on the "my tasks" board of each assignee that does not have it yet.

        It lands in the assignee's "To Do" section, above the tasks placed there before (the
        first at ``2**32``, as Fleep's server tests show). A place outlives a task that is
        unassigned or turned plain: :meth:`my_board` shows only live tasks assigned to the
        account, and the task comes back where it was if it is assigned again.
        """
        if msg.state not in ("todo", "done") or not msg.assignee_ids:
            return
        key = (conv.conversation_id, msg.message_nr)
        for account_id in msg.assignee_ids:
            account = self.accounts.get(account_id)
            if account is None or key in account.my_tasks:
                continue
            default = self.my_section(account, "default")
            weight = float(2**32) + WEIGHT_STEP * account.my_task_count
            account.my_task_count += 1
            account.my_tasks[key] = msg.my_task_places[account_id] = MyTask(
                default.section_id, weight
            )

    def my_section(self, account: AccountState, subtype: str) -> Section:
        """One of the account's two system sections on its board (``default``, ``archived``)."""
        sec = system_section(account.my_sections, subtype)
        if sec is None:
            raise KeyError(subtype)
        return sec

    def my_board(
        self, account: AccountState, section_id: str
    ) -> list[tuple[Conversation, Message, MyTask]]:
        """The tasks in one section of the account's board, top first (weights descending).

        A task is there while it is a todo or done message assigned to the account in a
        conversation it is still a member of.
        """
        me = account.account_id
        out = []
        for (conv_id, nr), place in account.my_tasks.items():
            if place.section_id != section_id:
                continue
            conv = self.conversations.get(conv_id)
            msg = conv.messages.get(nr) if conv is not None else None
            if conv is None or msg is None or msg.state not in ("todo", "done"):
                continue
            m = conv.memberships.get(me)
            if m is None or not m.active or me not in (msg.assignee_ids or ()):
                continue
            out.append((conv, msg, place))
        out.sort(key=lambda item: item[2].task_weight, reverse=True)
        return out

    def next_pin_weight(self, conv: Conversation) -> float:
        """The weight of a new pin: above every earlier one (Fleep's server tests' values)."""
        weight = float(2**32 + 65536 * conv.pin_count)
        conv.pin_count += 1
        return weight

    def next_task_weight(self, conv: Conversation) -> float:
        """The weight of a new task, on the same scale as pins."""
        weight = float(2**32 + 65536 * conv.task_count)
        conv.task_count += 1
        return weight

    def place_pin(
        self, conv: Conversation, actor_id: str, message_nr: int, after_nr: int | None
    ) -> Message:
        """Move a pin or task to just below ``after_nr`` on its board (weights sort descending)."""
        msg = self.get_message(conv, message_nr)
        task = msg.state in ("todo", "done")
        if msg.state != "pinned" and not task:
            raise ApiError(400, "invalid_call", "Only a pin or a task can be placed.")
        board = conv.tasks if task else conv.pinned
        field = "task_weight" if task else "pin_weight"
        ranked = sorted(
            ((getattr(conv.messages[n], field) or 0.0, n) for n in board if n != message_nr),
            reverse=True,
        )
        weights = [w for w, _ in ranked]
        nrs = [n for _, n in ranked]
        if after_nr is None or after_nr not in nrs:
            weight = (weights[0] + 65536.0) if weights else float(2**32)
        else:
            i = nrs.index(after_nr)
            below = weights[i + 1] if i + 1 < len(weights) else weights[i] - 65536.0
            weight = (weights[i] + below) / 2
        setattr(msg, field, weight)
        self._revise(conv, msg, actor_id)
        return msg

    def set_plain(self, conv: Conversation, actor_id: str, message_nr: int) -> Message:
        """Turn a pin or a task back into a plain message."""
        msg = self.get_message(conv, message_nr)
        msg.state, msg.tags, msg.mk_msg_sub_type, msg.pin_weight = "plain", [], None, None
        self._revise(conv, msg, actor_id)
        return msg

    def disable_preview(self, conv: Conversation, actor_id: str, message_nr: int) -> Message:
        """Switch off the URL preview of a message."""
        msg = self.get_message(conv, message_nr)
        msg.is_url_preview_disabled = True
        self._revise(conv, msg, actor_id)
        return msg

    def mark_read(self, conv: Conversation, account_id: str, read_nr: int, *, back: bool) -> None:
        """Move a member's read horizon (forward only unless ``back``)."""
        m = conv.memberships[account_id]
        target = max(0, min(read_nr, conv.last_message_nr))
        if back:
            m.read_message_nr = target
            m.is_mark_unread = True
        elif target > m.read_message_nr:
            m.read_message_nr = target
            m.is_mark_unread = False
        self.emit(account_id, [self.partial_header(conv, account_id)])
        self.activity(conv, account_id, read_message_nr=m.read_message_nr)

    def activity(self, conv: Conversation, account_id: str, **fields: Any) -> Record:
        """Tell the other members about a member's activity (unless full privacy)."""
        account = self.accounts[account_id]
        m = conv.memberships[account_id]
        record = rec.activity(
            conv.conversation_id,
            account_id,
            self.now(),
            join_message_nr=m.join_message_nr,
            **fields,
        )
        if not account.is_full_privacy:
            others = [o for o in conv.members if o != account_id]
            self.emit_each(others, lambda _viewer: [dict(record)])
        return record

    def presence(self, conv: Conversation, m: Membership, **fields: Any) -> Record:
        """A member's activity record (writing state and read horizon)."""
        extra: dict[str, Any] = {"is_writing": m.is_writing, **fields}
        if m.read_message_nr > 0:
            extra["read_message_nr"] = m.read_message_nr
        return rec.activity(
            conv.conversation_id,
            m.account_id,
            m.activity_time,
            join_message_nr=m.join_message_nr,
            **extra,
        )

    def set_writing(
        self, conv: Conversation, account_id: str, writing: bool, *, message_nr: int | None = None
    ) -> None:
        """Record a member's writing state and tell the other members (unless full privacy)."""
        m = conv.memberships[account_id]
        m.is_writing, m.activity_time = writing, self.now()
        if self.accounts[account_id].is_full_privacy:
            return
        record = self.presence(conv, m, message_nr=message_nr)
        others = [o for o in conv.members if o != account_id]
        self.emit_each(others, lambda _viewer: [dict(record)])

    def activity_of_others(self, conv: Conversation, viewer: str) -> list[Record]:
        """The other members' last reported activity, as ``show_activity`` answers it."""
        return [
            self.presence(conv, m)
            for m in conv.memberships.values()
            if m.account_id != viewer
            and m.active
            and m.is_writing is not None
            and not self.accounts[m.account_id].is_full_privacy
        ]

    # ------------------------------------------------------------------ membership changes

    def add_members(
        self,
        conv: Conversation,
        actor_id: str,
        account_ids: Iterable[str],
        *,
        disclose_from: int | None = None,
        mk_message_type: str = "add",
        body: dict[str, Any] | None = None,
    ) -> list[str]:
        """Add (or re-add) members; ``disclose_from`` lets them see history from that nr.

        ``body`` replaces the system message's default body (``{"members": newcomers}``).
        """
        newcomers = []
        for account_id in account_ids:
            m = conv.memberships.get(account_id)
            if m is not None and m.active:
                if disclose_from is not None and disclose_from < m.join_message_nr:
                    m.join_message_nr = max(disclose_from, 1)
                    newcomers.append(account_id)
                continue
            newcomers.append(account_id)
        if not newcomers:
            return []
        first = conv.messages.get(1)
        if (
            mk_message_type == "add"
            and disclose_from is None
            and conv.last_visible_nr == 1
            and first is not None
            and first.mk_message_type == "create"
            and actor_id == conv.creator_id
        ):
            # Right after creating, members join the create message itself: it is edited in
            # place (a new flow number) instead of an ``add`` message (Fleep's server tests).
            body = json.loads(first.body)
            body["members"] = list(dict.fromkeys([*body.get("members", []), *newcomers]))
            first.body = rec.system_body(**body)
            msg, join_at = first, 1
            self._mail_thread(conv, newcomers, conv.last_message_nr + 1)
            self._revise(conv, first, actor_id)
            # The create message carries the topic: its new revision is the topic message.
            conv.topic_message_nr = first.flow_message_nr or conv.topic_message_nr
        else:
            msg = self._append(
                conv,
                actor_id,
                mk_message_type,
                rec.system_body(**(body if body is not None else {"members": newcomers})),
                state="system",
                ref_message_nr=disclose_from if mk_message_type == "discloseV2" else None,
            )
            join_at = msg.message_nr
            self._mail_thread(conv, newcomers, msg.message_nr)
        for account_id in newcomers:
            m = conv.memberships.get(account_id)
            join = join_at if disclose_from is None else max(disclose_from, 1)
            if m is None:
                conv.memberships[account_id] = Membership(
                    account_id=account_id,
                    join_message_nr=join,
                    read_message_nr=join - 1,
                    send_message_nr=join,
                )
                self.convs_of[account_id].append(conv.conversation_id)
            elif not m.active:
                m.send_message_nr = m.rejoin_message_nr = join
                # What was said while away counts as seen (Fleep's server tests).
                m.read_message_nr = max(m.read_message_nr, join - 1)
                m.active = True
                m.was_removed = False
                m.left_message_nr = None
                m.is_deleted = False
                m.join_message_nr = min(m.join_message_nr, join)
        members = conv.members
        for viewer in members:
            viewer_acc = self.accounts[viewer]
            if viewer in newcomers:
                contacts = [
                    self.contact_for(self.accounts[o], viewer_acc) for o in members if o != viewer
                ]
                self.emit(viewer, [*contacts, *self.init_records(conv, viewer)])
            else:
                contacts = [self.contact_for(self.accounts[n], viewer_acc) for n in newcomers]
                self.emit(
                    viewer,
                    [*contacts, rec.message(conv, msg, viewer), self.full_header(conv, viewer)],
                )
        return newcomers

    def disclose(
        self,
        conv: Conversation,
        actor_id: str,
        account_ids: Iterable[str],
        teams: Iterable[Team] = (),
        *,
        disclose_from: int = 1,
    ) -> list[Record]:
        """Show the history from ``disclose_from`` to accounts and to the members of teams.

        Returns the activity records (new ``join_message_nr``) of the people named directly.
        Disclosing to people only posts a ``disclose`` message naming them. Once teams are
        involved the real server posts one ``discloseV2`` message instead: the people named
        directly in ``members``, the teams by id and name, the client's sentence template in
        ``sysmsg_text`` and the first disclosed message in ``ref_message_nr`` (Fleep's tests).
        """
        direct = list(dict.fromkeys(account_ids))
        teams = list(teams)
        everyone = list(dict.fromkeys([*direct, *(a for t in teams for a in t.members)]))
        if not teams:
            shown = self.add_members(
                conv, actor_id, everyone, disclose_from=disclose_from, mk_message_type="disclose"
            )
        else:
            body = {
                "members": direct,
                "team_ids": [t.team_id for t in teams],
                "team_names": [t.team_name for t in teams],
                "sysmsg_text": DISCLOSE_V2_TEXT,
            }
            shown = self.add_members(
                conv,
                actor_id,
                everyone,
                disclose_from=disclose_from,
                mk_message_type="discloseV2",
                body=body,
            )
        # The people named directly get an activity record with their new join position.
        return [self.activity(conv, a) for a in direct if a in shown]

    def _mail_thread(self, conv: Conversation, newcomers: list[str], flow_nr: int) -> None:
        """An e-mail-only member turns the topic into a mail subject (a topic change)."""
        if not conv.has_email_subject and any(
            self.accounts[a].mk_account_status == "new" for a in newcomers
        ):
            conv.has_email_subject = True
            conv.topic_message_nr = flow_nr

    def remove_members(
        self,
        conv: Conversation,
        actor_id: str,
        account_ids: Iterable[str],
        *,
        mk_message_type: str = "kick",
        body: dict[str, Any] | None = None,
    ) -> list[str]:
        """Remove members (``kick``) or let the actor leave (``leave``).

        ``body`` replaces the system message's default body (``{"members": leaving}``).
        """
        leaving = [a for a in account_ids if a in conv.memberships and conv.memberships[a].active]
        if not leaving:
            return []
        audience = conv.members
        if mk_message_type == "leave":
            # The real leave message carries no body (Fleep's server tests).
            msg = self._append(conv, actor_id, "leave", "", state="system")
        else:
            text = rec.system_body(**(body if body is not None else {"members": leaving}))
            msg = self._append(conv, actor_id, mk_message_type, text, state="system")
        for account_id in leaving:
            m = conv.memberships[account_id]
            m.active = False
            m.was_removed = mk_message_type != "leave"
            m.left_message_nr = msg.message_nr
            m.send_message_nr = msg.message_nr
            if m.is_mark_unread:
                m.is_mark_unread = False
        self.emit_each(
            audience,
            lambda viewer: [rec.message(conv, msg, viewer), self.full_header(conv, viewer)],
        )
        return leaving

    def set_topic(self, conv: Conversation, actor_id: str, topic: str) -> Message:
        """Change the topic (a ``topic`` system message)."""
        conv.topic = topic
        # Fleep's tests: after a topic change the author's header still reads 1 for both
        # ``read_message_nr`` and ``show_message_nr``.
        msg = self._append(
            conv, actor_id, "topic", rec.system_body(topic=topic), state="system", shown=False
        )
        conv.topic_message_nr = msg.message_nr
        self.emit_each(
            conv.members,
            lambda viewer: [rec.message(conv, msg, viewer), self.full_header(conv, viewer)],
        )
        return msg

    def set_passive(self, conv: Conversation, account_id: str, passive: bool) -> Message | None:
        """Turn a member passive (``mk_alert_level: passive``) or back; None if unchanged.

        The real server announces both ways with a system message by the member (Fleep's
        tests): ``passiveV1`` ("left and became a passive member"), ``joinV1`` on the way back,
        which also counts as the member's last membership event (``send_message_nr``). A passive
        member stays a member; its ``snooze_interval`` reads -3 while passive.
        """
        m = self.require_member(conv, account_id)
        if (m.mk_alert_level == "passive") == passive:
            return None
        if passive:
            m.mk_alert_level, m.snooze_interval, m.snooze_time = "passive", PASSIVE_SNOOZE, 0
            kind, text = "passiveV1", PASSIVE_TEXT
        else:
            m.mk_alert_level, m.snooze_interval, m.snooze_time = "default", 0, 0
            kind, text = "joinV1", JOIN_TEXT
            m.send_message_nr = conv.last_message_nr + 1  # the message posted just below
        return self.system_message(conv, account_id, kind, sysmsg_text=text)

    def header_changed(self, conv: Conversation, account_ids: Iterable[str]) -> None:
        """Send fresh full headers to some members (per-member settings changed)."""
        self.emit_each(account_ids, lambda viewer: [self.full_header(conv, viewer)])

    # ------------------------------------------------------------------ hooks

    def create_hook(
        self,
        conv: Conversation,
        actor_id: str,
        *,
        hook_name: str | None,
        mk_hook_type: str,
        outgoing_url: str | None,
    ) -> Hook:
        """Create a webhook and announce it with a ``hook`` system message."""
        actor = self.accounts[actor_id]
        h = Hook(
            hook_id=self.ids.uuid(),
            hook_key=self.ids.short(),
            url_id=self.ids.secret_short(),
            conversation_id=conv.conversation_id,
            account_id=actor_id,
            hook_name=hook_name or actor.display_name,
            mk_hook_type=mk_hook_type,
            outgoing_url=outgoing_url or "",
        )
        conv.hooks[h.hook_key] = h
        self.hooks_by_url[h.url_id] = h
        self._announce_hook(conv, actor_id, h, "hook")
        return h

    def _announce_hook(self, conv: Conversation, actor_id: str, h: Hook, kind: str) -> None:
        """Post the ``hook``/``unhook`` system message; members get the hook, it and a header."""
        msg = self._append(
            conv,
            actor_id,
            kind,
            rec.system_body(hook_key=h.hook_key, hook_name=h.hook_name),
            state="system",
        )
        self.emit_each(
            conv.members,
            lambda viewer: [
                rec.hook(h, viewer, base_url=self.config.base_url),
                rec.message(conv, msg, viewer),
                self.partial_header(conv, viewer),
            ],
        )

    def drop_hook(self, conv: Conversation, actor_id: str, hook_key: str) -> Hook:
        """Deactivate a hook (posting to it then answers 404)."""
        h = conv.hooks.get(hook_key)
        if h is None or not h.is_active:
            raise business("invalid_hook", "Unknown hook.")
        h.is_active = False
        self.hooks_by_url.pop(h.url_id, None)
        self._announce_hook(conv, actor_id, h, "unhook")
        return h

    # ------------------------------------------------------------------ files

    def store_file(
        self,
        account: AccountState,
        name: str,
        data: bytes,
        content_type: str | None,
    ) -> Upload:
        """Store uploaded bytes (deduplicated by sha256) and issue a fresh upload_url."""
        sha = hashlib.sha256(data).hexdigest()
        file_id = self.files_by_sha.get(sha)
        if file_id is None:
            file_type = _file_type(name, content_type, data)
            width, height, animated = _image_size(data)
            file_id = self.ids.uuid()
            self.files[file_id] = StoredFile(
                file_id=file_id,
                data=data,
                file_sha256=sha,
                file_type=file_type,
                width=width,
                height=height,
                is_animated=animated,
                orientation=_jpeg_orientation(data) if data.startswith(b"\xff\xd8") else None,
            )
            self.files_by_sha[sha] = file_id
        stored = self.files[file_id]
        account.storage_used_bytes += len(data)
        upload = Upload(
            upload_url=f"{self.config.base_url}/upload/{self.ids.short()}/{_url_segment(name)}",
            file_id=file_id,
            name=name,
            file_type=stored.file_type,
            account_id=account.account_id,
        )
        self.uploads[upload.upload_url] = upload
        return upload

    def upload_info(self, upload: Upload) -> Record:
        """One entry of the file/upload ``files`` list."""
        stored = self.files[upload.file_id]
        info: Record = {
            "file_id": upload.file_id,
            "upload_url": upload.upload_url,
            "name": upload.name,
            "size": len(stored.data),
            "file_type": stored.file_type,
            "file_sha256": stored.file_sha256,
        }
        # The upload answer reads dimensions only from headers that carry them up front (PNG's
        # IHDR, GIF's screen descriptor); a JPEG's come later, in the file record. Only a GIF
        # can be animated, so only a GIF's answer says whether it is.
        if stored.file_type == "image/png":
            info.update(width=stored.width, height=stored.height)
        elif stored.file_type == "image/gif" and stored.width is not None:
            info.update(width=stored.width, height=stored.height, is_animated=stored.is_animated)
        return info

    # ------------------------------------------------------------------ teams

    def team_audience(self, t: Team) -> list[str]:
        """Who hears about a team."""
        return list(dict.fromkeys([t.creator_id, *t.members]))

    def emit_team(self, t: Team, extra: Iterable[str] = ()) -> Record:
        """Send a team record to its members (and ``extra``); keep their team labels current."""
        record = rec.team(t, base_url=self.config.base_url)
        self.emit_each([*self.team_audience(t), *extra], lambda _viewer: [dict(record)])
        self.sync_team_labels(t)
        return record

    def sync_team_labels(self, t: Team) -> None:
        """Give each member of a live team its team label, on every conversation of the team.

        The real server keeps one ``team_label`` system label per team for each member (off the
        left pane, named after the team) and puts it in ``label_ids`` of the team's
        conversations (Fleep's tests). New or renamed labels and relabelled headers reach the
        member through the poll; answers carry them in their headers.
        """
        if t.is_deleted:
            return
        for account_id in t.members:
            account = self.accounts.get(account_id)
            if account is None:
                continue
            lab = next((x for x in account.labels.values() if x.team_id == t.team_id), None)
            if lab is None or lab.label != t.team_name:
                if lab is None:
                    lab = Label(
                        label_id=self.ids.uuid(),
                        label=t.team_name,
                        index=len(account.labels),
                        mk_label_type="system_label",
                        mk_label_subtype="team_label",
                        is_on_left_pane=False,
                        team_id=t.team_id,
                    )
                    account.labels[lab.label_id] = lab
                lab.label = t.team_name
                self.emit(account_id, [rec.label(lab)])
            for conv_id in t.conversations:
                conv = self.conversations.get(conv_id)
                m = conv.memberships.get(account_id) if conv is not None else None
                if conv is None or m is None or not m.active or lab.label_id in m.label_ids:
                    continue
                m.label_ids.append(lab.label_id)
                self.emit(account_id, [self.full_header(conv, account_id)])

    def add_team_to_conversation(self, conv: Conversation, actor_id: str, t: Team) -> None:
        """Link a team to a conversation; its members join."""
        if t.team_id in conv.teams:
            return
        conv.teams.append(t.team_id)
        t.conversations.append(conv.conversation_id)
        t.team_version_nr += 1  # a linked conversation is a change of the team (Fleep's tests)
        # One message links the team and brings in its members (Fleep's tests count one).
        joined = self.add_members(
            conv, actor_id, t.members, mk_message_type="add_team", body={"teams": [t.team_id]}
        )
        if not joined:
            self.system_message(conv, actor_id, "add_team", teams=[t.team_id])
        self.sync_team_labels(t)

    def remove_team_from_conversation(self, conv: Conversation, actor_id: str, t: Team) -> None:
        """Unlink a team from a conversation.

        Unlinking keeps the team's members. Deleting the team (``t.is_deleted``) also removes,
        in the same message, the members who were there through it alone, and takes its team
        label off the conversation (Fleep's tests).
        """
        if t.team_id not in conv.teams:
            return
        conv.teams.remove(t.team_id)
        t.conversations = [c for c in t.conversations if c != conv.conversation_id]
        if not t.is_deleted:
            t.team_version_nr += 1
            self.system_message(conv, actor_id, "kick_team", teams=[t.team_id])
            return
        for m in conv.memberships.values():
            m.label_ids = [i for i in m.label_ids if i not in self._team_label_ids(t)]
        leaving = self._only_through(conv, t, t.members, keep=actor_id)
        if not self.remove_members(
            conv, actor_id, leaving, mk_message_type="kick_team", body={"teams": [t.team_id]}
        ):
            self.system_message(conv, actor_id, "kick_team", teams=[t.team_id])

    def remove_from_team_conversations(
        self, t: Team, actor_id: str, account_ids: Iterable[str]
    ) -> None:
        """People taken out of a team leave its conversations (a ``kick`` each), unless another
        team of the conversation keeps them there (Fleep's tests)."""
        for conv_id in list(t.conversations):
            conv = self.conversations[conv_id]
            leaving = self._only_through(conv, t, account_ids, keep=actor_id)
            if leaving:
                self.remove_members(conv, actor_id, leaving)

    def _only_through(
        self, conv: Conversation, t: Team, account_ids: Iterable[str], *, keep: str
    ) -> list[str]:
        """Of ``account_ids``, the members of ``conv`` no other linked team covers."""
        others = {
            a
            for team_id in conv.teams
            if team_id != t.team_id and team_id in self.teams
            for a in self.teams[team_id].members
        }
        return [a for a in account_ids if a != keep and a in conv.members and a not in others]

    def _team_label_ids(self, t: Team) -> set[str]:
        return {
            lab.label_id
            for account in self.accounts.values()
            for lab in account.labels.values()
            if lab.team_id == t.team_id
        }

    # ------------------------------------------------------------------ idempotency

    def request_record(
        self, client_req_id: str, conversation_id: str | None, result_message_nr: int | None
    ) -> Record:
        """A RequestInfo confirming a processed ``client_req_id``."""
        record: Record = {"mk_rec_type": "request", "client_req_id": client_req_id}
        if conversation_id is not None:
            record["conversation_id"] = conversation_id
        if result_message_nr is not None:
            record["result_message_nr"] = result_message_nr
        return record

    def check_can_send(self, conv: Conversation, account_id: str) -> Membership:
        """Posting rights: 431 for ex-members, 430 for strangers."""
        return self.require_member(conv, account_id)

    def message_text(self, msg: Message) -> str:
        """Plain text of a message (for search and listen)."""
        return msg.text if msg.mk_message_type == "text" else xml_to_text(msg.body).strip()


def _board_sections(
    owner: str, board_id: str, kind: str, table: tuple[tuple[str, str, float], ...]
) -> dict[str, Section]:
    """A new task board's own sections (``table``: subtype, name, weight), by id.

    Their ids derive from the owner's (an account's or a conversation's), not from the seeded
    generator, so that adding the boards moved no other id a seeded run hands out.
    """
    out = {}
    for subtype, name, weight in table:
        section_id = _derived_uuid(owner, f"{kind}:{subtype}")
        out[section_id] = Section(section_id, board_id, name, weight, kind=kind, subtype=subtype)
    return out


def my_board_id(account_id: str) -> str:
    """The ``conversation_id`` of every section of an account's "my tasks" board (*inferred*).

    Not ``null``: Fleep's own test client keys ``section`` records by conversation_id and
    section_id and fails on a null key, and its "my tasks" spec logs in with that client against
    the real server. The real value is unknown; this one is fixed per account and names no
    conversation.
    """
    return _derived_uuid(account_id, "my_task:board")


def _derived_uuid(owner: str, purpose: str) -> str:
    """A UUID4-shaped id fixed by its owner's id and purpose (stable, never drawn twice)."""
    digest = hashlib.sha256(f"{owner}:{purpose}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _code(secret: str) -> str:
    """A 6-digit registration code derived from a secret uuid."""
    return f"{int(secret.replace('-', ''), 16) % 1_000_000:06d}"


def _mail_host(base_url: str) -> str:
    host = base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host or "fleep.test"


_IMAGE_EXT: Final = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
}


def _file_type(name: str, content_type: str | None, data: bytes) -> str:
    """Keep the given type, except that images are recognised by content or extension."""
    given = (content_type or "").split(";", 1)[0].strip().lower()
    if given and given != "application/octet-stream":
        return given
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in _IMAGE_EXT:
        return _IMAGE_EXT[ext]
    if ext == "pdf" or data.startswith(b"%PDF"):
        return "application/pdf"
    return given or "application/octet-stream"


def _image_size(data: bytes) -> tuple[int | None, int | None, bool | None]:
    """(width, height, is_animated) for PNG, GIF and JPEG; Nones otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height, False
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height, data.count(b"\x21\xf9\x04") > 1
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None, None, None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None, bool | None]:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height, False
        pos += 2 + length
    return None, None, None


def _jpeg_orientation(data: bytes) -> int | None:
    """The EXIF orientation (tag 0x0112 of IFD0) of a JPEG, or None when it has none."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no metadata after it
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            return _tiff_orientation(segment[6:])
        pos += 2 + length
    return None


def _tiff_orientation(tiff: bytes) -> int | None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:  # SHORT, stored in the value field itself
            (value,) = struct.unpack(order + "H", entry[8:10])
            return int(value) if 1 <= value <= 8 else None
    return None


def raise_if(condition: bool, error: ApiError) -> None:
    """Raise ``error`` when ``condition`` holds."""
    if condition:
        raise error
