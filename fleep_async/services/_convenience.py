"""Conveniences over the generated services (each one a single registry call)."""

from __future__ import annotations

from collections.abc import Iterable

from fleep_async.endpoints import MessageStore
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
    """Send ``text`` to a conversation, retried safely.

    It goes through ``message/store`` without a ``message_nr`` (a new message) and with a
    ``client_req_id`` fixed before the first attempt: the server is known to de-duplicate
    that call, so a retry after a timeout never posts twice (``message/send`` is not, and is
    never retried).

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
        MessageStore(conversation_id=conversation_id, message=text, attachments=attachments),
    )
