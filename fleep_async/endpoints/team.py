"""``team/*``: groups of accounts that join conversations together."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_optional_email_line,
    to_optional_uuid,
    to_optional_uuid_list,
    to_uuid,
)
from fleep_async.models.results import StreamResult, TeamResult

__all__ = ["TeamAutojoin", "TeamConfigure", "TeamCreate", "TeamRemove", "TeamSync"]


@attrs.frozen(kw_only=True)
class TeamAutojoin(Endpoint[TeamResult]):
    """Join a team that allows autojoin.

    Attributes:
        team_url_key: the team id, or the KEY of ``https://fleep.io/team/KEY``.
    """

    PATH = "team/autojoin"

    team_url_key: str


@attrs.frozen(kw_only=True)
class TeamConfigure(Endpoint[StreamResult]):
    """Change a team; send only what changes.

    Attributes:
        team_id: the team.
        team_name: the new name.
        add_emails: members to add (a list, or one "To:" line).
        remove_emails: members to remove.
        add_conversations: conversations to add.
        remove_conversations: conversations to remove.
        add_account_ids: members to add, by account id.
        remove_account_ids: members to remove, by account id.
        kick_account_ids: members to kick.
        add_admin_ids: accounts to make admins.
        remove_admin_ids: accounts to stop being admins.
        disclose_emails: members to disclose history to.
        disclose_account_ids: members to disclose history to, by account id.
        is_autojoin: allow joining by link.
        is_managed: deprecated.
    """

    PATH = "team/configure/{team_id}"

    team_id: str = attrs.field(converter=to_uuid)
    team_name: str | None = None
    add_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    remove_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    add_conversations: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    remove_conversations: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
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
    disclose_emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    disclose_account_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_autojoin: bool | None = None
    is_managed: bool | None = None


@attrs.frozen(kw_only=True)
class TeamCreate(Endpoint[StreamResult]):
    """Create a team; the stream holds the new ``team`` record.

    Attributes:
        team_name: the name.
        emails: members' addresses (a list, or one "To:" line).
        account_ids: members' account ids.
        conversations: conversations the team joins.
        is_autojoin: allow joining by link.
        is_managed: deprecated.
    """

    PATH = "team/create"

    team_name: str
    emails: str | None = attrs.field(default=None, converter=to_optional_email_line)
    account_ids: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_uuid_list)
    conversations: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_autojoin: bool | None = None
    is_managed: bool | None = None


@attrs.frozen(kw_only=True)
class TeamRemove(Endpoint[StreamResult]):
    """Remove a team.

    Attributes:
        team_id: the team.
    """

    PATH = "team/remove/{team_id}"

    team_id: str = attrs.field(converter=to_uuid)


@attrs.frozen(kw_only=True)
class TeamSync(Endpoint[TeamResult]):
    """Get a team.

    Attributes:
        team_id: the team.
        conversation_id: a conversation the team is in, to prove access (optional for
            autojoin teams).
    """

    PATH = "team/sync/{team_id}"
    RETRY_SAFE = True

    team_id: str = attrs.field(converter=to_uuid)
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
