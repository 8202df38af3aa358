"""``business/*``: the organisation ("Fleep for Business") API.

None of these is in the API documentation our inventory comes from: they are the calls Fleep's
own server tests (``fleep-api-tests``) make, with the answers those tests assert. Paths,
parameters and result shapes follow those tests; the calls whose answer no test shows decode
into :class:`~fleep_async.models.results.RawResult` or
:class:`~fleep_async.models.results.EmptyResult`. Organisation records (``org_header``,
``org_member``, ``org_changelog``, ``org_conv``, ``reminder``) arrive in the answers' streams.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import WIRE, Endpoint
from fleep_async.endpoints._fields import (
    UploadFile,
    to_optional_uuid,
    to_optional_uuid_list,
    to_upload_files,
    to_uuid,
)
from fleep_async.models.results import (
    DiffTeamResult,
    EmptyResult,
    RawResult,
    StreamResult,
    UploadResult,
)

__all__ = [
    "BusinessAvatarUpload",
    "BusinessClose",
    "BusinessConfigure",
    "BusinessCreate",
    "BusinessCreateConversation",
    "BusinessCreateTeam",
    "BusinessDeclineInvite",
    "BusinessDeleteAvatar",
    "BusinessDiffTeam",
    "BusinessInviteTeam",
    "BusinessJoin",
    "BusinessStoreConversation",
    "BusinessStoreTeam",
    "BusinessSync",
    "BusinessSyncBilling",
    "BusinessSyncChangelog",
    "BusinessSyncConversations",
]


@attrs.frozen(kw_only=True)
class BusinessAvatarUpload(Endpoint[UploadResult]):
    """Upload the organisation's avatar (multipart); answers ``{"files": [...]}``.

    Attributes:
        files: the image: a path, bytes, a ``(name, content)`` pair or an ``UploadFile``.
    """

    PATH = "business/avatar/upload"
    MULTIPART = True
    RETRY_SAFE = True  # the same picture again changes nothing

    files: tuple[UploadFile, ...] = attrs.field(converter=to_upload_files, metadata={WIRE: False})


@attrs.frozen(kw_only=True)
class BusinessClose(Endpoint[RawResult]):
    """Close (delete) an organisation; its managed conversations and teams become unmanaged.

    Attributes:
        organisation_id: the organisation.
    """

    PATH = "business/close/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessConfigure(Endpoint[StreamResult]):
    """Change an organisation: name, members, admins; answers its header and members.

    Attributes:
        organisation_id: the organisation.
        organisation_name: a new name.
        add_account_ids: invite these accounts (each gets an ``org_invite`` reminder).
        remove_account_ids: remove these members from the organisation.
        kick_account_ids: remove these members from the organisation and its conversations.
        close_account_ids: close (delete) these members' accounts.
        suspend_account_ids: suspend these members' accounts.
        activate_account_ids: activate suspended accounts again.
        add_admin_ids: make these members admins.
        remove_admin_ids: take admin rights away.
    """

    PATH = "business/configure/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    organisation_name: str | None = None
    add_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    kick_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    close_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    suspend_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    activate_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    add_admin_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_admin_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )


@attrs.frozen(kw_only=True)
class BusinessCreate(Endpoint[StreamResult]):
    """Create an organisation (the caller is its founder and first admin).

    Attributes:
        organisation_name: the name.
        add_account_ids: accounts to invite right away.
    """

    PATH = "business/create"

    organisation_name: str
    add_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )


@attrs.frozen(kw_only=True)
class BusinessCreateConversation(Endpoint[StreamResult]):
    """Create a conversation managed by the organisation; answers its ``org_conv`` record.

    Attributes:
        organisation_id: the organisation.
        topic: the topic.
        account_ids: the members.
        team_ids: teams to add.
        is_managed: whether it is managed (the default for this call).
    """

    PATH = "business/create_conversation/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    topic: str | None = None
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    team_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    is_managed: bool | None = None


@attrs.frozen(kw_only=True)
class BusinessCreateTeam(Endpoint[StreamResult]):
    """Create a team managed by the organisation; the team record is in the stream.

    Attributes:
        organisation_id: the organisation.
        team_name: the name.
        account_ids: the members (besides the caller).
        is_managed: whether it is managed.
    """

    PATH = "business/create_team/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    team_name: str
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    is_managed: bool | None = None


@attrs.frozen(kw_only=True)
class BusinessDeclineInvite(Endpoint[RawResult]):
    """Decline an organisation's email invitation (no session needed).

    Attributes:
        notification_id: the id from the invitation link.
    """

    PATH = "business/decline_invite"
    AUTH = False
    TRAILING_SLASH = True  # as Fleep's server tests call it

    notification_id: str


@attrs.frozen(kw_only=True)
class BusinessDeleteAvatar(Endpoint[EmptyResult]):
    """Remove the organisation's avatar.

    Attributes:
        organisation_id: the organisation.
    """

    PATH = "business/delete_avatar/{organisation_id}"
    RETRY_SAFE = True  # removing what is gone changes nothing

    organisation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessDiffTeam(Endpoint[DiffTeamResult]):
    """Show who would join what if a team were brought into the organisation.

    Attributes:
        organisation_id: the organisation.
        team_id: the team.
    """

    PATH = "business/diff_team/{organisation_id}"
    RETRY_SAFE = True  # a read

    organisation_id: str = attrs.field(converter=to_uuid)
    team_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessInviteTeam(Endpoint[StreamResult]):
    """Bring a team into the organisation: its members are invited, the team is managed.

    Attributes:
        organisation_id: the organisation.
        team_id: the team.
    """

    PATH = "business/invite_team/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    team_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessJoin(Endpoint[StreamResult]):
    """Accept an organisation's invitation (its ``org_invite`` reminder).

    Attributes:
        organisation_id: the organisation.
        reminder_id: the reminder of the invitation.
    """

    PATH = "business/join/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    reminder_id: str


@attrs.frozen(kw_only=True)
class BusinessStoreConversation(Endpoint[StreamResult]):
    """Change a managed conversation as an organisation admin; answers its ``org_conv``.

    Attributes:
        organisation_id: the organisation.
        conversation_id: the conversation.
        add_account_ids: add these members.
        remove_account_ids: remove these members (they become leavers).
        kick_account_ids: remove these members.
        add_admin_ids: make these members conversation admins.
        remove_admin_ids: take conversation admin rights away.
        is_deleted_by_admin: delete the conversation and its content for everyone.
    """

    PATH = "business/store_conversation/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    conversation_id: str = attrs.field(converter=to_uuid)
    add_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    kick_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    add_admin_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_admin_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_deleted_by_admin: bool | None = None


@attrs.frozen(kw_only=True)
class BusinessStoreTeam(Endpoint[StreamResult]):
    """Change a managed team as an organisation admin.

    Attributes:
        organisation_id: the organisation.
        team_id: the team.
        team_name: a new name.
        add_account_ids: add these members.
        remove_account_ids: remove these members.
        is_autojoin: whether organisation members may join by themselves.
        is_managed: ``False`` gives the team up (it leaves the organisation).
        is_deleted: delete the team.
    """

    PATH = "business/store_team/{organisation_id}"

    organisation_id: str = attrs.field(converter=to_uuid)
    team_id: str = attrs.field(converter=to_uuid)
    team_name: str | None = None
    add_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_autojoin: bool | None = None
    is_managed: bool | None = None
    is_deleted: bool | None = None


@attrs.frozen(kw_only=True)
class BusinessSync(Endpoint[StreamResult]):
    """Get an organisation: its header, and for active admins its members too.

    Attributes:
        organisation_id: the organisation.
    """

    PATH = "business/sync/{organisation_id}"
    RETRY_SAFE = True  # a read

    organisation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessSyncBilling(Endpoint[StreamResult]):
    """Get the organisation's header and its ``billing`` record (paid tier).

    Attributes:
        organisation_id: the organisation.
    """

    PATH = "business/sync_billing/{organisation_id}"
    RETRY_SAFE = True  # a read

    organisation_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class BusinessSyncChangelog(Endpoint[StreamResult]):
    """Get the organisation's change log (``org_changelog`` records, newest first).

    Attributes:
        organisation_id: the organisation.
        sync_cursor: where the previous batch ended.
    """

    PATH = "business/sync_changelog/{organisation_id}"
    RETRY_SAFE = True  # a read

    organisation_id: str = attrs.field(converter=to_uuid)
    sync_cursor: str | None = None


@attrs.frozen(kw_only=True)
class BusinessSyncConversations(Endpoint[StreamResult]):
    """Get the organisation's managed conversations (``org_conv`` records).

    Attributes:
        organisation_id: the organisation.
        sync_cursor: where the previous batch ended (``result.sync_cursor``).
        conversation_id: only this conversation.
    """

    PATH = "business/sync_conversations/{organisation_id}"
    RETRY_SAFE = True  # a read

    organisation_id: str = attrs.field(converter=to_uuid)
    sync_cursor: str | None = None
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
