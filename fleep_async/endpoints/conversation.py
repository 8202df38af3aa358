"""``conversation/*``: creating, changing and syncing conversations.

The hook calls (``conversation/*_hook*``) are in :mod:`.hook`. Every call that takes
``from_message_nr`` answers with a normal forward sync from that message when it is given, else
with the conversation state and the records the call added.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_email_line,
    to_optional_email_line,
    to_optional_str_list,
    to_optional_uuid,
    to_optional_uuid_list,
    to_uuid,
    to_uuid_list,
)
from fleep_async.endpoints._paging import BackwardPager, HorizonPager, SectionHorizonPager
from fleep_async.models.results import (
    CallResult,
    ConversationListResult,
    ConversationSyncResult,
    EmptyResult,
    RawResult,
    StreamResult,
)

__all__ = [
    "ConversationAddMembers",
    "ConversationAutojoin",
    "ConversationCheckPermissions",
    "ConversationConvertApi",
    "ConversationCreate",
    "ConversationCreateCall",
    "ConversationDelete",
    "ConversationDisclose",
    "ConversationDiscloseAll",
    "ConversationHide",
    "ConversationLeave",
    "ConversationList",
    "ConversationMarkRead",
    "ConversationPoke",
    "ConversationRemoveMembers",
    "ConversationSetAlerts",
    "ConversationSetTopic",
    "ConversationShowActivity",
    "ConversationStore",
    "ConversationSync",
    "ConversationSyncBackward",
    "ConversationSyncFiles",
    "ConversationSyncPins",
    "ConversationSyncTeams",
    "ConversationUnhide",
    "ConversationUnsubscribe",
]


@attrs.frozen(kw_only=True)
class ConversationAddMembers(Endpoint[ConversationSyncResult]):
    """Add members by email address.

    Attributes:
        conversation_id: the conversation.
        emails: the addresses (a list, or one "To:" line).
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/add_members/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    emails: str = attrs.field(converter=to_email_line)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationAutojoin(Endpoint[ConversationSyncResult]):
    """Join a conversation that allows autojoin.

    Attributes:
        conv_url_key: the conversation id, or the KEY of ``https://fleep.io/chat/KEY``.
    """

    PATH = "conversation/autojoin"

    conv_url_key: str


@attrs.frozen(kw_only=True)
class ConversationCheckPermissions(Endpoint[RawResult]):
    """Check that the account may change the conversation (an error status if not).

    Attributes:
        conversation_id: the conversation.
    """

    PATH = "conversation/check_permissions/{conversation_id}"
    RETRY_SAFE = True

    conversation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class ConversationConvertApi(Endpoint[EmptyResult]):
    """Convert the conversation to the new API (documented with no output).

    Attributes:
        conversation_id: the conversation.
    """

    PATH = "conversation/convert_api/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class ConversationCreate(Endpoint[ConversationSyncResult]):
    """Create a conversation; the new id is ``result.header.conversation_id``.

    Attributes:
        topic: the topic.
        emails: members' addresses (a list, or one "To:" line).
        subject: the subject of the first message.
        message: the first message.
        attachments: upload URLs to attach to the first message.
        is_invite: email invitations to people new to Fleep.
        is_autojoin: allow joining by link.
        is_disclose: disclose the history to members added later.
        fwd_conversation_id: the conversation of a forwarded message.
        fwd_message_nr: the number of a forwarded message.
        team_ids: teams to add.
        account_ids: members' account ids.
        fork_conversation_id: the parent conversation.
        is_list: behave as a mailing list.
        is_managed: a managed (organisation) conversation.
        mk_conv_type: ``cct_default``, ``cct_list`` or ``cct_no_mail``.
    """

    PATH = "conversation/create"

    topic: str | None = None
    emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    subject: str | None = None
    message: str | None = None
    attachments: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    is_invite: bool | None = None
    is_autojoin: bool | None = None
    is_disclose: bool | None = None
    fwd_conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
    fwd_message_nr: int | None = None
    team_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    fork_conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
    is_list: bool | None = None
    is_managed: bool | None = None
    mk_conv_type: str | None = None


@attrs.frozen(kw_only=True)
class ConversationCreateCall(Endpoint[CallResult]):
    """Create a video call; answers the join URL.

    Attributes:
        conversation_id: the conversation.
        provider: the call provider (e.g. ``Whereby``).
        room_name: the room's name.
    """

    PATH = "conversation/create_call/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    provider: str
    room_name: str | None = None


@attrs.frozen(kw_only=True)
class ConversationDelete(Endpoint[ConversationSyncResult]):
    """Delete the conversation from the account's list.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/delete/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationDisclose(Endpoint[ConversationSyncResult]):
    """Disclose the history (up to ``message_nr``) to some members.

    Attributes:
        conversation_id: the conversation.
        emails: the members' addresses (a list, or one "To:" line).
        account_ids: members' account ids.
        team_ids: teams.
        message_nr: disclose up to this message.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/disclose/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    emails: str = attrs.field(converter=to_email_line)
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    team_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    message_nr: int | None = None
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationDiscloseAll(Endpoint[ConversationSyncResult]):
    """Disclose the whole history to some members.

    Attributes:
        conversation_id: the conversation.
        emails: the members' addresses (a list, or one "To:" line).
        account_ids: members' account ids.
        team_ids: teams.
        message_nr: sent by the official client; not documented.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/disclose_all/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    emails: str = attrs.field(converter=to_email_line)
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    team_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    message_nr: int | None = None
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationHide(Endpoint[ConversationSyncResult]):
    """Hide the conversation until a new message arrives.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/hide/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationLeave(Endpoint[ConversationSyncResult]):
    """Leave the conversation.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/leave/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationList(Endpoint[ConversationListResult]):
    """List conversations page by page (legacy; an empty page ends the listing).

    Attributes:
        sync_horizon: 0 for the first page, then the returned ``sync_horizon``.
    """

    PATH = "conversation/list"
    RETRY_SAFE = True
    PAGER = HorizonPager()

    sync_horizon: int | None = None


@attrs.frozen(kw_only=True)
class ConversationMarkRead(Endpoint[ConversationSyncResult]):
    """Mark the whole conversation read.

    Attributes:
        conversation_id: the conversation.
        mk_init_mode: how much state to answer with: ``ic_tiny`` or ``ic_full``.
    """

    PATH = "conversation/mark_read/{conversation_id}"
    RETRY_SAFE = True  # the read horizon only moves forward

    conversation_id: str = attrs.field(converter=to_uuid)
    mk_init_mode: str = "ic_tiny"


@attrs.frozen(kw_only=True)
class ConversationPoke(Endpoint[ConversationSyncResult]):
    """Poke the conversation; a ``poke`` record with the same number comes back in poll.

    A poke is a handy barrier: once it is back, everything sent before it has been polled.

    Attributes:
        conversation_id: the conversation.
        message_nr: any number, echoed in the poke record.
        from_message_nr: sync forward from this message in the same answer.
        is_bg_poke: a background poke.
    """

    PATH = "conversation/poke/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    from_message_nr: int | None = None
    is_bg_poke: bool | None = None


@attrs.frozen(kw_only=True)
class ConversationRemoveMembers(Endpoint[ConversationSyncResult]):
    """Remove members by email address.

    Attributes:
        conversation_id: the conversation.
        emails: the addresses (a list, or one "To:" line).
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/remove_members/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    emails: str = attrs.field(converter=to_email_line)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationSetAlerts(Endpoint[ConversationSyncResult]):
    """Set the conversation's alert level.

    Attributes:
        conversation_id: the conversation.
        mk_alert_level: ``default`` or ``never``.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/set_alerts/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    mk_alert_level: str
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationSetTopic(Endpoint[ConversationSyncResult]):
    """Change the topic.

    Attributes:
        conversation_id: the conversation.
        topic: the new topic.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/set_topic/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    topic: str
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationShowActivity(Endpoint[ConversationSyncResult]):
    """Show (or cancel) "writing..." to the others; an empty call subscribes to activity.

    Attributes:
        conversation_id: the conversation.
        is_writing: ``True`` writing, ``False`` stopped.
        message_nr: the message being edited.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/show_activity/{conversation_id}"
    RETRY_SAFE = True  # a presence signal: repeating it shows the same thing

    conversation_id: str = attrs.field(converter=to_uuid)
    is_writing: bool | None = None
    message_nr: int | None = None
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationStore(Endpoint[ConversationSyncResult]):
    """Change header fields; send only what changes.

    Attributes:
        conversation_id: the conversation.
        read_message_nr: the read horizon (may move back: mark unread).
        labels: label names.
        label_ids: label ids.
        topic: the topic.
        mk_alert_level: the alert level.
        snooze_interval: mute: 0 unmute, -1 forever, -2 until read, -3 hide the count.
        add_emails: members to add (a list, or one "To:" line).
        remove_emails: members to remove.
        disclose_emails: members to disclose the history to.
        add_account_ids: members to add, by account id.
        kick_account_ids: members to kick (managed conversations only).
        remove_account_ids: members to remove, by account id.
        disclose_account_ids: members to disclose the history to, by account id.
        disclose_team_ids: teams to disclose the history to.
        hide_message_nr: hide while the last message is at most this.
        is_deleted: delete the conversation.
        is_deleted_by_admin: delete as an organisation admin.
        from_message_nr: sync forward from this message in the same answer.
        is_autojoin: allow joining by link.
        is_disclose: disclose history to members added later.
        can_post: ``False`` leaves the conversation.
        is_url_preview_disabled: turn link previews off.
        is_list: behave as a mailing list.
        add_team_ids: teams to add.
        remove_team_ids: teams to remove.
        is_managed: a managed conversation.
        add_admins: account ids to make admins.
        remove_admins: account ids to stop being admins.
        mk_conv_type: the conversation type.
    """

    PATH = "conversation/store/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    read_message_nr: int | None = None
    labels: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    label_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    topic: str | None = None
    mk_alert_level: str | None = None
    snooze_interval: int | None = None
    add_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    remove_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    disclose_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    add_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    kick_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    disclose_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    disclose_team_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    hide_message_nr: int | None = None
    is_deleted: bool | None = None
    is_deleted_by_admin: bool | None = None
    from_message_nr: int | None = None
    is_autojoin: bool | None = None
    is_disclose: bool | None = None
    can_post: bool | None = None
    is_url_preview_disabled: bool | None = None
    is_list: bool | None = None
    add_team_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_team_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_managed: bool | None = None
    add_admins: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    remove_admins: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    mk_conv_type: str | None = None


@attrs.frozen(kw_only=True)
class ConversationSync(Endpoint[ConversationSyncResult]):
    """Sync one conversation: by default a few messages around the read horizon.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: where to start.
        mk_direction: ``ic_header``, ``ic_tiny``, ``ic_full``, ``ic_flow``, ``ic_end``,
            ``ic_backward``, ``ic_forward``, ``ic_files``, ``ic_pinboard``, ``ic_tasks``; unset
            means sequential forward, edits included.
    """

    PATH = "conversation/sync/{conversation_id}"
    RETRY_SAFE = True

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None
    mk_direction: str | None = None


@attrs.frozen(kw_only=True)
class ConversationSyncBackward(Endpoint[ConversationSyncResult]):
    """Get the messages before the earliest one held.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: the earliest message number held.
    """

    PATH = "conversation/sync_backward/{conversation_id}"
    RETRY_SAFE = True
    PAGER = BackwardPager()

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationSyncFiles(Endpoint[ConversationSyncResult]):
    """Get the conversation's files, page by page.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: the header's ``file_horizon``.
    """

    PATH = "conversation/sync_files/{conversation_id}"
    RETRY_SAFE = True
    PAGER = SectionHorizonPager(horizon="file_horizon")

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationSyncPins(Endpoint[ConversationSyncResult]):
    """Get the conversation's pinboard, page by page.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: the header's ``pin_horizon``.
    """

    PATH = "conversation/sync_pins/{conversation_id}"
    RETRY_SAFE = True
    PAGER = SectionHorizonPager(horizon="pin_horizon")

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationSyncTeams(Endpoint[StreamResult]):
    """Get teams of the conversation (team records).

    Attributes:
        conversation_id: the conversation.
        team_ids: the teams.
    """

    PATH = "conversation/sync_teams/{conversation_id}"
    RETRY_SAFE = True

    conversation_id: str = attrs.field(converter=to_uuid)
    team_ids: tuple[str, ...] = attrs.field(converter=to_uuid_list)


@attrs.frozen(kw_only=True)
class ConversationUnhide(Endpoint[ConversationSyncResult]):
    """Show a hidden conversation again.

    Attributes:
        conversation_id: the conversation.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/unhide/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationUnsubscribe(Endpoint[EmptyResult]):
    """Remove an email address from a (mailing-list) conversation (documented with no output).

    Attributes:
        conversation_id: the conversation.
        email: the address to remove.
    """

    PATH = "conversation/unsubscribe/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    email: str
