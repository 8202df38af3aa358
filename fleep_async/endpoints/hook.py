"""Webhook management: ``conversation/create_hook``, ``configure_hook``, ``drop_hook``,
``show_hooks``.

Posting into a conversation through a hook URL is not an ``/api`` call: see
``client.hook.post``. A hook key lets anyone post as the hook, so ``hook_key`` never shows in a
request's repr.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_uuid
from fleep_async.models.results import ConversationSyncResult, HookListResult

__all__ = [
    "ConversationConfigureHook",
    "ConversationCreateHook",
    "ConversationDropHook",
    "ConversationShowHooks",
]


@attrs.frozen(kw_only=True)
class ConversationCreateHook(Endpoint[ConversationSyncResult]):
    """Create a webhook; ``result.hook_info.hook_url`` is where to post.

    Attributes:
        conversation_id: the conversation.
        hook_name: the name shown as the sender.
        mk_hook_type: ``plain`` (generic) or an integration: ``github``, ``jira``, ``slack``,
            ``trello``, ``import`` ...
        from_message_nr: sync forward from this message in the same answer.
        outgoing_url: where Fleep posts the conversation's messages (plain/slack only).
        outgoing_disabled: create with the outgoing part off.
        external_account_id: the linked account (trello only).
        external_object_id: the Trello board id.
    """

    PATH = "conversation/create_hook/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    hook_name: str | None = None
    mk_hook_type: str = "plain"
    from_message_nr: int | None = None
    outgoing_url: str | None = None
    outgoing_disabled: bool | None = None
    external_account_id: str | None = None
    external_object_id: str | None = None


@attrs.frozen(kw_only=True)
class ConversationConfigureHook(Endpoint[ConversationSyncResult]):
    """Rename a hook or change its outgoing URL.

    Attributes:
        conversation_id: the conversation.
        hook_key: the hook's key (a secret: never in a repr).
        hook_name: the new name.
        outgoing_url: the new outgoing URL.
        outgoing_disabled: turn the outgoing part off or on.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/configure_hook/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    hook_key: str = attrs.field(repr=False)
    hook_name: str | None = None
    outgoing_url: str | None = None
    outgoing_disabled: bool | None = None
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationDropHook(Endpoint[ConversationSyncResult]):
    """Remove a hook (an ``unhook`` system message is posted).

    Attributes:
        conversation_id: the conversation.
        hook_key: the hook's key (a secret: never in a repr).
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "conversation/drop_hook/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    hook_key: str = attrs.field(repr=False)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class ConversationShowHooks(Endpoint[HookListResult]):
    """List the conversation's hooks (``hook_url`` only on the owner's hooks).

    Attributes:
        conversation_id: the conversation.
    """

    PATH = "conversation/show_hooks/{conversation_id}"
    RETRY_SAFE = True

    conversation_id: str = attrs.field(converter=to_uuid)
