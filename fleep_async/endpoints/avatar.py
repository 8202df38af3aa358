"""``avatar/*``: the account's picture."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import WIRE, Endpoint
from fleep_async.endpoints._fields import UploadFile, to_upload_files
from fleep_async.models.results import AvatarUploadResult, EmptyResult

__all__ = ["AvatarDelete", "AvatarUpload"]


@attrs.frozen(kw_only=True)
class AvatarDelete(Endpoint[EmptyResult]):
    """Remove the account's avatar (documented with no output)."""

    PATH = "avatar/delete"


@attrs.frozen(kw_only=True)
class AvatarUpload(Endpoint[AvatarUploadResult]):
    """Upload a new avatar image; answers the stored picture (file id, size, dimensions ...).

    Multipart; the ticket goes in the query string.

    Attributes:
        files: the image: a path, bytes, a ``(name, content)`` pair or an ``UploadFile``.
    """

    PATH = "avatar/upload"
    MULTIPART = True
    RETRY_SAFE = True  # the same picture again changes nothing

    files: tuple[UploadFile, ...] = attrs.field(converter=to_upload_files, metadata={WIRE: False})
