"""The endpoint registry: one declarative request class per Fleep API endpoint.

This package is the source of truth for the API surface. Each request class (see
:class:`Endpoint`) names its path, result type and flags; importing the package registers all
of them in :data:`REGISTRY`, keyed by path template. The services (``client.message.send``) and
``docs/endpoints.md`` are generated from it by ``scripts/gen_services.py``.

Endpoints of the inventory that have no request class are in :data:`NOT_REGISTERED`, each with
the reason. The inventory is the API documentation (``docs/endpoints.md`` lists it); the
endpoints in :data:`FROM_SPECS` are not in it: Fleep's own server tests (``fleep-api-tests``)
call them, and their request and result types follow those tests' calls and asserted answers.
"""

from __future__ import annotations

from typing import Final

from fleep_async.endpoints._base import (
    PATH_RULE,
    REGISTRY,
    Endpoint,
    path_parameters,
    service_location,
)
from fleep_async.endpoints.account import (
    AccountClickReminder,
    AccountConfigure,
    AccountConfigureEmailInterval,
    AccountConfigurePrimaryEmail,
    AccountConfirm,
    AccountConfirmPassword,
    AccountConfirmV2,
    AccountExportStart,
    AccountListen,
    AccountLogin,
    AccountLogout,
    AccountLookup,
    AccountPoll,
    AccountPrepareV2,
    AccountRegister,
    AccountRegisterV2,
    AccountResetPassword,
    AccountSetFlag,
    AccountSync,
    AccountSyncConversations,
    AccountSyncTeams,
    AccountUnsubscribe,
)
from fleep_async.endpoints.alias import (
    AliasAdd,
    AliasConfirm,
    AliasRemove,
    AliasSync,
)
from fleep_async.endpoints.avatar import (
    AvatarDelete,
    AvatarUpload,
)
from fleep_async.endpoints.business import (
    BusinessAvatarUpload,
    BusinessClose,
    BusinessConfigure,
    BusinessCreate,
    BusinessCreateConversation,
    BusinessCreateTeam,
    BusinessDeclineInvite,
    BusinessDeleteAvatar,
    BusinessDiffTeam,
    BusinessInviteTeam,
    BusinessJoin,
    BusinessStoreConversation,
    BusinessStoreTeam,
    BusinessSync,
    BusinessSyncBilling,
    BusinessSyncChangelog,
    BusinessSyncConversations,
)
from fleep_async.endpoints.contact import (
    ContactDescribe,
    ContactHide,
    ContactImport,
    ContactSync,
    ContactSyncActivity,
    ContactSyncAll,
    ContactSyncList,
    ContactUnlist,
)
from fleep_async.endpoints.conversation import (
    ConversationAddMembers,
    ConversationAutojoin,
    ConversationCheckPermissions,
    ConversationConvertApi,
    ConversationCreate,
    ConversationCreateCall,
    ConversationDelete,
    ConversationDisclose,
    ConversationDiscloseAll,
    ConversationHide,
    ConversationLeave,
    ConversationList,
    ConversationMarkRead,
    ConversationPoke,
    ConversationRemoveMembers,
    ConversationSetAlerts,
    ConversationSetTopic,
    ConversationShowActivity,
    ConversationStore,
    ConversationSync,
    ConversationSyncBackward,
    ConversationSyncFiles,
    ConversationSyncPins,
    ConversationSyncTeams,
    ConversationUnhide,
    ConversationUnsubscribe,
)
from fleep_async.endpoints.event import (
    ClientEvent,
    EventStore,
)
from fleep_async.endpoints.file import (
    FileUpload,
    FileUploadExternal,
)
from fleep_async.endpoints.hook import (
    ConversationConfigureHook,
    ConversationCreateHook,
    ConversationDropHook,
    ConversationShowHooks,
)
from fleep_async.endpoints.label import (
    LabelStore,
    LabelSyncConversations,
)
from fleep_async.endpoints.mail import (
    MailList,
)
from fleep_async.endpoints.message import (
    MessageCopy,
    MessageDelete,
    MessageEdit,
    MessageMarkRead,
    MessageMarkUnread,
    MessageSend,
    MessageStore,
)
from fleep_async.endpoints.misc import (
    AccountExternalAccountList,
    AccountTrelloBoardList,
    Classificators,
)
from fleep_async.endpoints.search import (
    Search,
    SearchPrepare,
    SearchReset,
    SearchSuggest,
)
from fleep_async.endpoints.smtp import (
    AccountSmtpConfigure,
    AccountSmtpList,
    AccountSmtpStore,
)
from fleep_async.endpoints.task import (
    AccountSyncPinboard,
    AccountSyncTaskboard,
)
from fleep_async.endpoints.team import (
    TeamAutojoin,
    TeamConfigure,
    TeamCreate,
    TeamRemove,
    TeamSync,
)

NOT_REGISTERED: Final[dict[str, str]] = {
    "conversation/slash_command/{conversation_id}": (
        "the seed says the slash command API is no longer supported"
    ),
    "hook/{hook_id}": (
        "not under /api and not authenticated: posting through a hook URL is "
        "client.hook.post(hook_url, message, user=...) over the transport's post_hook"
    ),
    "{file_url}": (
        "a GET of a relative file URL outside /api with the session cookie: "
        "client.file.download(file_url, dest) / client.file.iter_download(file_url)"
    ),
}
"""Inventory rows without a request class, each with the reason (and where it is served)."""

FROM_SPECS: Final[frozenset[str]] = frozenset(
    {
        "business/avatar/upload",
        "business/close/{organisation_id}",
        "business/configure/{organisation_id}",
        "business/create",
        "business/create_conversation/{organisation_id}",
        "business/create_team/{organisation_id}",
        "business/decline_invite",
        "business/delete_avatar/{organisation_id}",
        "business/diff_team/{organisation_id}",
        "business/invite_team/{organisation_id}",
        "business/join/{organisation_id}",
        "business/store_conversation/{organisation_id}",
        "business/store_team/{organisation_id}",
        "business/sync/{organisation_id}",
        "business/sync_billing/{organisation_id}",
        "business/sync_changelog/{organisation_id}",
        "business/sync_conversations/{organisation_id}",
        "account/confirm_password",
        "account/sync_teams",
        "event/store",
        "label/store",
        "mail/list",
    }
)
"""Registered endpoints that are not in the documented inventory: Fleep's server tests call them
(the organisation API, ``account/confirm_password``, ``account/sync_teams``, ``event/store``,
``label/store``, ``mail/list``)."""

__all__ = [
    "FROM_SPECS",
    "NOT_REGISTERED",
    "PATH_RULE",
    "REGISTRY",
    "Endpoint",
    "path_parameters",
    "service_location",
    "AccountClickReminder",
    "AccountConfigure",
    "AccountConfigureEmailInterval",
    "AccountConfigurePrimaryEmail",
    "AccountConfirm",
    "AccountConfirmPassword",
    "AccountConfirmV2",
    "AccountExportStart",
    "AccountExternalAccountList",
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
    "AccountSmtpConfigure",
    "AccountSmtpList",
    "AccountSmtpStore",
    "AccountSync",
    "AccountSyncConversations",
    "AccountSyncTeams",
    "AccountSyncPinboard",
    "AccountSyncTaskboard",
    "AccountTrelloBoardList",
    "AccountUnsubscribe",
    "AliasAdd",
    "AliasConfirm",
    "AliasRemove",
    "AliasSync",
    "AvatarDelete",
    "AvatarUpload",
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
    "Classificators",
    "ClientEvent",
    "ContactDescribe",
    "ContactHide",
    "ContactImport",
    "ContactSync",
    "ContactSyncActivity",
    "ContactSyncAll",
    "ContactSyncList",
    "ContactUnlist",
    "ConversationAddMembers",
    "ConversationAutojoin",
    "ConversationCheckPermissions",
    "ConversationConfigureHook",
    "ConversationConvertApi",
    "ConversationCreate",
    "ConversationCreateCall",
    "ConversationCreateHook",
    "ConversationDelete",
    "ConversationDisclose",
    "ConversationDiscloseAll",
    "ConversationDropHook",
    "ConversationHide",
    "ConversationLeave",
    "ConversationList",
    "ConversationMarkRead",
    "ConversationPoke",
    "ConversationRemoveMembers",
    "ConversationSetAlerts",
    "ConversationSetTopic",
    "ConversationShowActivity",
    "ConversationShowHooks",
    "ConversationStore",
    "ConversationSync",
    "ConversationSyncBackward",
    "ConversationSyncFiles",
    "ConversationSyncPins",
    "ConversationSyncTeams",
    "ConversationUnhide",
    "ConversationUnsubscribe",
    "EventStore",
    "FileUpload",
    "FileUploadExternal",
    "LabelStore",
    "LabelSyncConversations",
    "MailList",
    "MessageCopy",
    "MessageDelete",
    "MessageEdit",
    "MessageMarkRead",
    "MessageMarkUnread",
    "MessageSend",
    "MessageStore",
    "Search",
    "SearchPrepare",
    "SearchReset",
    "SearchSuggest",
    "TeamAutojoin",
    "TeamConfigure",
    "TeamCreate",
    "TeamRemove",
    "TeamSync",
]
