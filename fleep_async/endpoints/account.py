"""``account/*``: login, registration, the poll, account settings.

``account/sync_pinboard`` and ``account/sync_taskboard`` are in :mod:`.task`,
``account/smtp/*`` in :mod:`.smtp`, the external-account calls in :mod:`.misc`.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_optional_str_list,
    to_optional_uuid,
    to_optional_uuid_list,
    to_str_list,
    to_uuid,
)
from fleep_async.endpoints._paging import CursorPager
from fleep_async.models import ContactRecord
from fleep_async.models.results import (
    AccountPrepareResult,
    AccountSyncResult,
    EmptyResult,
    ListenResult,
    LoginResult,
    PollResult,
    RawResult,
    StreamResult,
)

__all__ = [
    "AccountClickReminder",
    "AccountConfigure",
    "AccountConfigureEmailInterval",
    "AccountConfigurePrimaryEmail",
    "AccountConfirm",
    "AccountConfirmPassword",
    "AccountConfirmV2",
    "AccountExportStart",
    "AccountListen",
    "AccountLogin",
    "AccountLogout",
    "AccountLookup",
    "AccountPoll",
    "AccountPrepareV2",
    "AccountRegister",
    "AccountRegisterV2",
    "AccountResetPassword",
    "AccountSetFlag",
    "AccountSync",
    "AccountSyncConversations",
    "AccountSyncTeams",
    "AccountUnsubscribe",
]


@attrs.frozen(kw_only=True)
class AccountLogin(Endpoint[LoginResult]):
    """Log in with an email (or Fleep address) and password; answers the ticket.

    Prefer ``FleepClient.login()``, which also keeps the session; this call only returns it.

    Attributes:
        email: the email address or Fleep address.
        password: the password (never shown in a repr).
        remember_me: ask for a long-term session cookie.
    """

    PATH = "account/login"
    AUTH = False

    email: str
    password: str = attrs.field(repr=False)
    remember_me: bool = False


@attrs.frozen(kw_only=True)
class AccountLogout(Endpoint[RawResult]):
    """End the session (later calls with its ticket get 401)."""

    PATH = "account/logout"


@attrs.frozen(kw_only=True)
class AccountRegister(Endpoint[RawResult]):
    """Register a new account; a verification email or code is sent.

    Attributes:
        email: the address to register.
        display_name: the name shown to others.
        password: the password (never shown in a repr).
        use_code: send a registration code instead of a link.
        referer: where the registration came from.
    """

    PATH = "account/register"
    AUTH = False

    email: str
    display_name: str
    password: str = attrs.field(repr=False)
    use_code: bool
    referer: str | None = None


@attrs.frozen(kw_only=True)
class AccountRegisterV2(Endpoint[RawResult]):
    """Send the registration code email (again).

    Attributes:
        email: the address being registered.
        referer: where the registration came from.
        landing: the landing page.
    """

    PATH = "account/register/v2"
    AUTH = False

    email: str
    referer: str | None = None
    landing: str | None = None


@attrs.frozen(kw_only=True)
class AccountResetPassword(Endpoint[RawResult]):
    """Email a password reset link (an unknown address gives HTTP 431).

    Attributes:
        email: the account's address.
    """

    PATH = "account/reset_password"
    AUTH = False

    email: str


@attrs.frozen(kw_only=True)
class AccountConfirmPassword(Endpoint[RawResult]):
    """Set a new password from a reset mail (every session of the account is closed).

    Not in the API documentation our inventory comes from: Fleep's password spec and the
    official Python client call it after ``account/reset_password``.

    Attributes:
        notification_id: the id in the reset mail's link (``notification_id=...``).
        password: the new password (never in a repr).
    """

    PATH = "account/confirm_password"
    AUTH = False

    notification_id: str = attrs.field(converter=to_uuid)
    password: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class AccountClickReminder(Endpoint[RawResult]):
    """Tell the server that a reminder has been shown to the user.

    Attributes:
        reminder_id: the reminder record's id.
    """

    PATH = "account/click_reminder"
    RETRY_SAFE = True  # marks a flag: repeating it changes nothing

    reminder_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class AccountPoll(Endpoint[PollResult]):
    """Long-poll for events after ``event_horizon`` (the event engine's call).

    Attributes:
        event_horizon: the last horizon received (0 for an initial sync).
        wait: hold the request until events arrive (about 90 s); ``False`` answers at once.
        poll_flags: ``skip_hidden`` and/or ``skip_rest`` to trim the initial sync.
    """

    PATH = "account/poll"
    RETRY_SAFE = True
    LONG_POLL = True

    event_horizon: int = 0
    wait: bool = True
    poll_flags: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)


@attrs.frozen(kw_only=True)
class AccountListen(Endpoint[ListenResult]):
    """Long-poll for new-message notifications only (lighter than ``account/poll``).

    Attributes:
        event_horizon: the last horizon received.
        wait: hold the request until something arrives.
        download_url: listed as an input by the docs; meaning not documented.
    """

    PATH = "account/listen"
    RETRY_SAFE = True
    LONG_POLL = True

    event_horizon: int
    wait: bool = True
    download_url: str | None = None


@attrs.frozen(kw_only=True)
class AccountSync(Endpoint[AccountSyncResult]):
    """Get the account's basics and a current event horizon (poll from it to skip history)."""

    PATH = "account/sync"
    RETRY_SAFE = True


@attrs.frozen(kw_only=True)
class AccountSyncTeams(Endpoint[StreamResult]):
    """Get the teams the account is a member of (their ``team`` records).

    Not in the API documentation our inventory comes from: Fleep's own server tests call it and
    count the records of its ``stream``.
    """

    PATH = "account/sync_teams"
    RETRY_SAFE = True


@attrs.frozen(kw_only=True)
class AccountSyncConversations(Endpoint[StreamResult]):
    """Get the next batch of conversations (records needed to show them).

    ``conversation_ids`` is required by the seed; it is optional here because paging by
    ``sync_cursor`` (fleepy's docs) sends none.

    Attributes:
        conversation_ids: the conversations to load.
        mk_init_mode: how much to load: ``ic_header``, ``ic_tiny`` or ``ic_full``.
        sync_cursor: where the previous batch ended.
        label: a system label to filter by (``Unread``, ``Muted``, ``Recent``, ``Archived``).
        label_id: a label id to filter by.
    """

    PATH = "account/sync_conversations"
    RETRY_SAFE = True
    PAGER = CursorPager()

    conversation_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    mk_init_mode: str = "ic_tiny"
    sync_cursor: str | None = None
    label: str | None = None
    label_id: str | None = None


@attrs.frozen(kw_only=True)
class AccountConfigure(Endpoint[ContactRecord]):
    """Change account settings; send only what changes. Answers the own contact record.

    Attributes:
        display_name: the name shown to others.
        old_password: the current password, required with ``password`` (never in a repr).
        password: a new password (never in a repr).
        phone_nr: the phone number.
        email_interval: how often to email unread messages.
        is_full_privacy: hide activity (typing, read state) from others.
        is_newsletter_disabled: opt out of the newsletter.
        is_automute_enabled: mute big conversations automatically.
        client_settings: client settings, as a JSON-encoded string.
        primary_email: the primary address (must be a confirmed alias).
        fleep_address: the Fleep address (only if the account has none yet).
    """

    PATH = "account/configure"

    display_name: str | None = None
    old_password: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    phone_nr: str | None = None
    email_interval: str | None = None
    is_full_privacy: bool | None = None
    is_newsletter_disabled: bool | None = None
    is_automute_enabled: bool | None = None
    client_settings: str | None = None
    primary_email: str | None = None
    fleep_address: str | None = None


@attrs.frozen(kw_only=True)
class AccountConfigureEmailInterval(Endpoint[RawResult]):
    """Set the email notification interval from a notification link.

    Attributes:
        notification_id: the id from the notification email.
        email_interval: ``hourly``, ``daily`` or ``never``.
    """

    PATH = "account/configure_email_interval"
    AUTH = False  # used from a notification email's link, like unsubscribe
    RETRY_SAFE = True  # sets a value

    notification_id: str
    email_interval: str


@attrs.frozen(kw_only=True)
class AccountConfigurePrimaryEmail(Endpoint[RawResult]):
    """Make a confirmed alias the primary email address.

    Attributes:
        primary_email: the address (must already be a confirmed alias).
    """

    PATH = "account/configure_primary_email"
    RETRY_SAFE = True  # sets a value

    primary_email: str


@attrs.frozen(kw_only=True)
class AccountConfirm(Endpoint[LoginResult]):
    """Confirm an account from its notification; answers like a login.

    Attributes:
        notification_id: the id from the confirmation email.
    """

    PATH = "account/confirm"
    AUTH = False

    notification_id: str | None = None


@attrs.frozen(kw_only=True)
class AccountConfirmV2(Endpoint[LoginResult]):
    """Confirm and set up a new account in one call; answers like a login.

    Attributes:
        notification_id: the id from ``account/prepare/v2``.
        display_name: the name shown to others.
        password: the password (never in a repr).
        fleep_address: the Fleep address to take.
        phone_nr: the phone number.
        is_newsletter_disabled: opt out of the newsletter (the documented default is ``True``).
    """

    PATH = "account/confirm/v2"
    AUTH = False

    notification_id: str
    display_name: str
    password: str = attrs.field(repr=False)
    fleep_address: str
    phone_nr: str | None = None
    is_newsletter_disabled: bool = True


@attrs.frozen(kw_only=True)
class AccountExportStart(Endpoint[RawResult]):
    """Start exporting history; the user is notified when the files are ready.

    Answers a ConvInfo when ``conversation_id`` is given, else the own ContactInfo.

    Attributes:
        export_action: what to export.
        conversation_id: export only this conversation.
    """

    PATH = "account/export/start"

    export_action: str = "history_all"
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)


@attrs.frozen(kw_only=True)
class AccountLookup(Endpoint[StreamResult]):
    """Find contacts by email address or Fleep address.

    ``ignore_list`` is listed without a default by the seed, but clients send only
    ``lookup_list``; it is optional here.

    Attributes:
        lookup_list: the addresses to look up.
        ignore_list: account ids the caller already holds.
    """

    PATH = "account/lookup"
    RETRY_SAFE = True

    lookup_list: tuple[str, ...] = attrs.field(converter=to_str_list)
    ignore_list: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)


@attrs.frozen(kw_only=True)
class AccountPrepareV2(Endpoint[AccountPrepareResult]):
    """Look up what a registration or invite link is about (before ``confirm/v2``).

    Attributes:
        notification_id: the id from the link.
        registration_code: a registration code typed by the user.
        registration_mail: the address the code was sent to.
    """

    PATH = "account/prepare/v2"
    AUTH = False
    RETRY_SAFE = True

    notification_id: str | None = None
    registration_code: str | None = None
    registration_mail: str | None = None


@attrs.frozen(kw_only=True)
class AccountSetFlag(Endpoint[RawResult]):
    """Set or clear a client flag on the account.

    Attributes:
        client_flag: the flag's name.
        bool_value: ``False`` clears it.
    """

    PATH = "account/set_flag"
    RETRY_SAFE = True  # sets a value

    client_flag: str
    bool_value: bool = True


@attrs.frozen(kw_only=True)
class AccountUnsubscribe(Endpoint[EmptyResult]):
    """Unsubscribe from a notification email (documented with no output).

    Attributes:
        notification_id: the id from the email.
    """

    PATH = "account/unsubscribe"
    AUTH = False
    RETRY_SAFE = True

    notification_id: str
