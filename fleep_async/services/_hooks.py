"""Posting into a conversation through a hook URL (``POST /hook/<key>``, no authentication).

Not an ``/api`` call, so written by hand. A hook URL is a bearer secret: whoever has it can post
as the hook. It is therefore never put in a log line, a repr or an exception message here; the
transport keeps to the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from fleep_async._http._secret import Secret
from fleep_async.endpoints._fields import UploadSource, to_upload_files
from fleep_async.errors import UsageError
from fleep_async.services._base import Service

__all__ = ["HookService", "check_hook_url"]


def _hook_url_problem(hook_url: object) -> str | None:
    """What is wrong with ``hook_url`` (a str or a :class:`Secret`), or ``None``."""
    if isinstance(hook_url, Secret):
        hook_url = hook_url.reveal()
    if not isinstance(hook_url, str):
        return "hook_url must be a string (HookRecord.hook_url)"
    if any(ch in hook_url for ch in "\r\n\x00 "):
        return "hook_url must not contain spaces or control characters"
    parts = urlsplit(hook_url)
    segments = parts.path.split("/")
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or len(segments) != 3
        or segments[1] != "hook"
        or not segments[2]
        or segments[2] in (".", "..")
    ):
        return "hook_url must look like https://<server>/hook/<key>"
    return None


def check_hook_url(hook_url: object) -> str:
    """Return ``hook_url`` if it looks like a hook URL (``http(s)://host/hook/<key>``).

    Raises:
        UsageError: anything else (the message never quotes the URL).
    """
    problem = _hook_url_problem(hook_url)
    if problem is not None:
        raise UsageError(problem)
    assert isinstance(hook_url, str)
    return hook_url


class HookService(Service):
    """``client.hook``: post messages through a hook URL (create hooks with
    ``client.conversation.create_hook``)."""

    __slots__ = ()

    async def post(
        self,
        hook_url: str | Secret[str],
        message: str,
        user: str | None = None,
        *,
        files: UploadSource | Sequence[UploadSource] | None = None,
    ) -> None:
        """Post ``message`` into the hook's conversation; no login needed.

        Never retried automatically: a repeat would post the message twice.

        Args:
            hook_url: ``HookRecord.hook_url`` (``https://fleep.io/hook/<key>``); a secret.
            message: plain text with Fleep markup.
            user: the sender name shown on the message.
            files: attachments; the post is then multipart instead of JSON.

        Raises:
            UsageError: a malformed ``hook_url`` or ``message``.
            FleepAPIError: the server refused (an unknown or dropped hook).
        """
        # Held wrapped from here on (checked through a helper whose frame is gone by the time
        # anything is raised): a traceback recorded with its locals must not show it.
        hook_url = Secret.of(hook_url) if isinstance(hook_url, str) else hook_url
        problem = _hook_url_problem(hook_url)
        if problem is not None:
            raise UsageError(problem)
        assert isinstance(hook_url, Secret)
        if not isinstance(message, str):
            raise UsageError("message must be a string")
        if user is not None and not isinstance(user, str):
            raise UsageError("user must be a string")
        data: dict[str, Any] = {"message": message}
        if user is not None:
            data["user"] = user
        uploads = to_upload_files(files) if files is not None else None
        await self._requester.post_hook(hook_url, data, files=uploads)
