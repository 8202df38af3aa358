"""Known values of Fleep's enum-like (``mk_*``) fields.

Records keep these fields as plain ``str``. The server adds new values over time, and a record
must never fail to decode because of one, so no enum conversion happens at decode time. That is
also the fastest option: no per-field hook runs while a poll page is decoded. The
:class:`enum.StrEnum` classes below list the values known today; a member *is* a ``str`` and
compares equal to the wire value, so both spellings work::

    if record.mk_message_type == MessageType.TEXT: ...
    if record.mk_message_type == "text": ...

To get an enum member where one exists, use :func:`as_enum`, which falls back to the raw string.
"""

from __future__ import annotations

import enum
from typing import Final, TypeVar

__all__ = [
    "SYSTEM_MESSAGE_TYPES",
    "AccountStatus",
    "AlertLevel",
    "ConvType",
    "EmailInterval",
    "HookType",
    "InitMode",
    "LabelStatus",
    "LabelSubtype",
    "LabelType",
    "MemberStatus",
    "MessageState",
    "MessageTag",
    "MessageType",
    "TeamSyncMode",
    "as_enum",
]

_E = TypeVar("_E", bound=enum.StrEnum)


class MessageType(enum.StrEnum):
    """``mk_message_type`` of a message record (classificators plus values seen in clients)."""

    TEXT = "text"
    EMAIL = "email"
    SEPARATOR = "separator"
    CREATE = "create"
    ADD = "add"
    LEAVE = "leave"
    KICK = "kick"
    TOPIC = "topic"
    ALERTS = "alerts"
    DISCLOSE = "disclose"
    DISCLOSE_V2 = "discloseV2"
    PASSIVE_V1 = "passiveV1"
    JOIN_V1 = "joinV1"
    HOOK = "hook"
    UNHOOK = "unhook"
    ADD_TEAM = "add_team"
    KICK_TEAM = "kick_team"
    HANGOUT = "hangout"
    REPLACE = "replace"
    SHARE = "share"
    UNSHARE = "unshare"
    AUTOJOIN = "autojoin"
    DELFILE = "delfile"
    SYSMSG = "sysmsg"
    FILE = "file"
    SIGNIN = "signin"
    SHOW = "show"
    UNSHOW = "unshow"
    URL_PREVIEWS = "url_previews"
    NO_URL_PREVIEWS = "no_url_previews"
    BOUNCE = "bounce"
    CALL = "call"
    CLOSE_V1 = "closeV1"
    CLOSE_V2 = "closeV2"
    DELETE = "delete"
    UNMANAGE = "unmanage"
    # Task notifications (switched per conversation by client events).
    ENABLE_DONE_NOTIFS = "enable_done_notifs"
    DISABLE_DONE_NOTIFS = "disable_done_notifs"
    TASK_COMPLETED = "task_completed"
    TEXT_V2 = "textV2"
    EMAIL_V2 = "emailV2"


#: Message types whose ``message`` body is a JSON object describing an event, not user text.
SYSTEM_MESSAGE_TYPES: Final[frozenset[str]] = frozenset(MessageType.__members__.values()) - {
    MessageType.TEXT,
    MessageType.EMAIL,
    MessageType.SEPARATOR,
    MessageType.TEXT_V2,
    MessageType.EMAIL_V2,
}


class MessageState(enum.StrEnum):
    """``mk_message_state`` of a message record."""

    PLAIN = "urn:fleep:message:mk_message_state:plain"
    SYSTEM = "urn:fleep:message:mk_message_state:system"
    DELETED = "urn:fleep:message:mk_message_state:deleted"
    PINNED = "urn:fleep:message:mk_message_state:pinned"
    UNPINNED = "urn:fleep:message:mk_message_state:unpinned"
    TODO = "urn:fleep:message:mk_message_state:todo"
    DONE = "urn:fleep:message:mk_message_state:done"


class MessageTag(enum.StrEnum):
    """Values seen in a message record's ``tags`` list."""

    PIN = "pin"
    UNPIN = "unpin"
    UNLOCK = "unlock"
    IS_TODO = "is_todo"
    IS_DONE = "is_done"
    IS_TASK = "is_task"
    IS_SHARED = "is_shared"
    IS_ARCHIVED = "is_archived"
    IS_DELETED = "is_deleted"
    IS_SEPARATOR = "is_separator"
    IS_NEW_SHEET = "is_new_sheet"
    IS_HIDDEN = "is_hidden"
    IS_EDITED_BY_OTHERS = "is_edited_by_others"
    ADD_GUESTS = "add_guests"


class AlertLevel(enum.StrEnum):
    """``mk_alert_level`` of a conversation."""

    DEFAULT = "default"
    NEVER = "never"


class AccountStatus(enum.StrEnum):
    """``mk_account_status`` of a contact."""

    NEW = "new"
    ACTIVE = "active"
    BANNED = "banned"
    CLOSED = "closed"
    VALID = "valid"
    BETA = "beta"
    ALIAS = "alias"


class EmailInterval(enum.StrEnum):
    """``mk_email_interval`` of the own contact."""

    DEFAULT = "default"
    DAILY = "daily"
    NEVER = "never"


class ConvType(enum.StrEnum):
    """``mk_conv_type`` of a conversation."""

    DEFAULT = "cct_default"
    LIST = "cct_list"
    NO_MAIL = "cct_no_mail"


class InitMode(enum.StrEnum):
    """``mk_init_mode`` of a conversation header."""

    HEADER = "ic_header"
    TINY = "ic_tiny"
    FULL = "ic_full"


class HookType(enum.StrEnum):
    """``mk_hook_type`` of a hook."""

    BITBUCKET = "bitbucket"
    CONFLUENCE = "confluence"
    GITHUB = "github"
    GITLAB = "gitlab"
    IFTTT = "ifttt"
    JIRA = "jira"
    NEWRELIC = "newrelic"
    PIVOTALTRACKER = "pivotaltracker"
    PLAIN = "plain"
    SAMEROOM = "sameroom"
    SLACK = "slack"
    TRELLO = "trello"
    ZAPIER = "zapier"
    IMPORT = "import"


class LabelType(enum.StrEnum):
    """``mk_label_type`` of a label."""

    USER = "user_label"
    SYSTEM = "system_label"


class LabelSubtype(enum.StrEnum):
    """``mk_label_subtype`` of a label."""

    USER = "user"
    STARRED = "starred"
    RECENT = "recent"
    MUTED = "muted"
    ARCHIVED = "archived"
    UNREAD = "unread"
    SPAM = "spam"
    TEAM_LABEL = "team_label"


class LabelStatus(enum.StrEnum):
    """``mk_label_status`` of a label (removed labels should be dropped from a cache)."""

    ACTIVE = "active"
    REMOVED = "removed"


class MemberStatus(enum.StrEnum):
    """``mk_member_status`` of an organisation member."""

    PENDING = "bms_pending"
    ACTIVE = "bms_active"
    REMOVED = "bms_removed"
    CLOSED = "bms_closed"
    SUSPENDED = "bms_suspended"
    DECLINED = "bms_declined"
    EXPIRED = "bms_expired"


class TeamSyncMode(enum.StrEnum):
    """``mk_sync_mode`` of a team."""

    FULL = "tsm_full"
    SNAPSHOT = "tsm_snapshot"


def as_enum(enum_cls: type[_E], value: str) -> _E | str:
    """Return the member of ``enum_cls`` with this value, or ``value`` itself if it is unknown."""
    try:
        return enum_cls(value)
    except ValueError:
        return value
