"""``message/*``: sending and changing messages.

Retries. ``message/store`` de-duplicates on ``client_req_id``: Fleep's own server tests show the
same id twice storing one message and answering the same result. The id is fixed when the
request object is built (a fresh uuid4 unless the caller gives one), so the transport retries
``message/store`` safely, and ``client.send_text`` and ``ctx.reply`` send through it.

``message/send`` also accepts a ``client_req_id`` (the official Python client sends one), but
nothing shows that the server de-duplicates it, so a ``message/send`` whose outcome is unknown
(a timeout, a dropped connection, a 5xx) is never repeated: repeating it could post the message
twice. See ``docs/reliability.md``.
"""

from __future__ import annotations

from typing import Any

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_client_req_id,
    to_optional_list,
    to_optional_str_list,
    to_optional_uuid,
    to_optional_uuid_list,
    to_uuid,
)
from fleep_async.models.results import ConversationSyncResult

__all__ = [
    "MessageCopy",
    "MessageDelete",
    "MessageEdit",
    "MessageMarkRead",
    "MessageMarkUnread",
    "MessageSend",
    "MessageStore",
]


@attrs.frozen(kw_only=True)
class MessageCopy(Endpoint[ConversationSyncResult]):
    """Copy a message into another conversation (a deleted one gives 431).

    Attributes:
        conversation_id: the message's conversation.
        message_nr: the message.
        to_conv_id: the target conversation.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "message/copy/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    to_conv_id: str = attrs.field(converter=to_uuid)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class MessageDelete(Endpoint[ConversationSyncResult]):
    """Delete a message, or one of its attachments.

    Attributes:
        conversation_id: the conversation.
        message_nr: the message.
        attachment_id: delete only this attachment.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "message/delete/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    attachment_id: str | None = None
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class MessageEdit(Endpoint[ConversationSyncResult]):
    """Replace the text (and optionally the attachments) of an own message.

    Attributes:
        conversation_id: the conversation.
        message_nr: the message.
        message: the new text.
        attachments: upload URLs replacing the attachments.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "message/edit/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    message: str
    attachments: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class MessageMarkRead(Endpoint[ConversationSyncResult]):
    """Move the read horizon forward to a message.

    Attributes:
        conversation_id: the conversation.
        message_nr: the last message read.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "message/mark_read/{conversation_id}"
    RETRY_SAFE = True  # the horizon only moves forward

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class MessageMarkUnread(Endpoint[ConversationSyncResult]):
    """Move the read horizon back, so the conversation shows unread from a message.

    Attributes:
        conversation_id: the conversation.
        message_nr: the first message to show unread.
        from_message_nr: sync forward from this message in the same answer.
    """

    PATH = "message/mark_unread/{conversation_id}"
    RETRY_SAFE = True  # sets the horizon to a fixed number

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int
    from_message_nr: int | None = None


@attrs.frozen(kw_only=True)
class MessageSend(Endpoint[ConversationSyncResult]):
    """Send a message (never retried); ``result.result_message_nr`` is its number.

    A failure whose outcome is unknown is not repeated: the server is not known to
    de-duplicate ``message/send``. For a send that is retried safely use ``message.store``
    (no ``message_nr``), as ``client.send_text`` does.

    Attributes:
        conversation_id: the conversation.
        message: plain text with Fleep markup (``*bold*``, ``_italic_``); the server renders it.
        from_message_nr: sync forward from this message in the same answer.
        attachments: upload URLs (from ``file.upload``).
        is_retry: a resend; fails if ``from_message_nr`` is not the last message.
        client_req_id: passed to the server as given (echoed back and confirmed by a
            ``request`` record in the poll); it does not make the call retried.
    """

    PATH = "message/send/{conversation_id}"

    conversation_id: str = attrs.field(converter=to_uuid)
    message: str | None = None
    from_message_nr: int | None = None
    attachments: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    is_retry: bool | None = None
    client_req_id: str | None = attrs.field(default=None, converter=to_optional_uuid)


@attrs.frozen(kw_only=True)
class MessageStore(Endpoint[ConversationSyncResult]):
    """Create or change a message; without ``message_nr`` it is a new one (retried safely).

    Attributes:
        conversation_id: the conversation.
        message_nr: the message to change.
        message: the text.
        subject: the subject.
        attachments: upload URLs.
        tags: ``pin``, ``is_todo``, ``is_done``, ``is_separator``, ``is_deleted``,
            ``is_archived``.
        pin_weight: the position on the pinboard.
        assignee_ids: task assignees.
        client_req_id: the idempotency key; a fresh uuid4 when not given.
        from_message_nr: sync forward from this message in the same answer.
        is_retry: a resend.
        is_url_preview_disabled: no link previews.
        fwd_conversation_id: the conversation of a forwarded message.
        fwd_message_nr: the forwarded message.
        add_reactions: reactions to add.
        del_reactions: reactions to remove.
    """

    PATH = "message/store/{conversation_id}"
    IDEMPOTENCY_KEY = True

    conversation_id: str = attrs.field(converter=to_uuid)
    message_nr: int | None = None
    message: str | None = None
    subject: str | None = None
    attachments: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    pin_weight: float | None = None
    assignee_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    client_req_id: str = attrs.field(default=None, converter=to_client_req_id)
    from_message_nr: int | None = None
    is_retry: bool | None = None
    is_url_preview_disabled: bool | None = None
    fwd_conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
    fwd_message_nr: int | None = None
    add_reactions: tuple[Any, ...] | None = attrs.field(default=None, converter=to_optional_list)
    del_reactions: tuple[Any, ...] | None = attrs.field(default=None, converter=to_optional_list)
