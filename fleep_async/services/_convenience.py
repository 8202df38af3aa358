"""Conveniences over the generated services (each one a single registry call)."""

from __future__ import annotations

from collections.abc import Iterable

from fleep_async.endpoints import MessageSend
from fleep_async.errors import UsageError
from fleep_async.models.results import ConversationSyncResult
from fleep_async.services._base import Requester, call

__all__ = ["send_text"]


async def send_text(
    requester: Requester,
    conversation_id: str,
    text: str,
    *,
    attachments: Iterable[str] | None = None,
) -> ConversationSyncResult:
    """Send ``text`` to a conversation (``message/send``, retried safely with a fixed
    ``client_req_id``).

    Args:
        requester: the client.
        conversation_id: the conversation.
        text: plain text with Fleep markup.
        attachments: upload URLs from ``client.file.upload``.

    Returns:
        The conversation-sync result; ``result_message_nr`` is the new message's number.

    Raises:
        UsageError: a bad conversation id, or ``text`` not a string.
    """
    if not isinstance(text, str):
        raise UsageError("text must be a string")
    return await call(
        requester,
        MessageSend(conversation_id=conversation_id, message=text, attachments=attachments),
    )
