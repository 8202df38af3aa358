"""``file/upload`` and ``file/upload/external``.

Downloading is not an ``/api`` call (``GET {file_url}`` with the session cookie): see
``client.file.download``.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import WIRE, Endpoint
from fleep_async.endpoints._fields import UploadFile, to_optional_uuid, to_upload_files
from fleep_async.models.results import ExternalUploadResult, UploadResult

__all__ = ["FileUpload", "FileUploadExternal"]


@attrs.frozen(kw_only=True)
class FileUpload(Endpoint[UploadResult]):
    """Upload files; pass ``result.upload_urls`` as ``attachments`` of ``message.send``.

    The documented path has a trailing slash (``file/upload/``); the server takes both.

    Attributes:
        files: one source or a list: paths, bytes, async byte iterators (streamed),
            ``(name, content)`` pairs or ``UploadFile`` objects.
    """

    PATH = "file/upload"
    MULTIPART = True
    RETRY_SAFE = True  # identical bytes give the same file; only replayable content is retried

    files: tuple[UploadFile, ...] = attrs.field(converter=to_upload_files, metadata={WIRE: False})


@attrs.frozen(kw_only=True)
class FileUploadExternal(Endpoint[ExternalUploadResult]):
    """Have the server fetch a file from a URL; progress comes as ``upload`` records in poll.

    Attributes:
        file_url: where the server fetches the file.
        file_name: the name to store it under.
        file_size: its size in bytes, at most 1 GiB (0: unknown).
        file_origin: where the file came from.
        conversation_id: the conversation it is for.
        upload_id: the caller's own id for the upload, echoed in the ``upload`` records.
    """

    PATH = "file/upload/external"
    TRAILING_SLASH = True  # the URL Fleep's clients and server tests use

    file_url: str
    file_name: str
    file_size: int = 0
    file_origin: str | None = None
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
    upload_id: str | None = None
