"""The upload model: :class:`UploadFile` and what it may hold."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterable
from typing import Any

import attrs

from fleep_async.errors import UsageError

__all__ = ["UploadContent", "UploadFile"]


UploadContent = bytes | os.PathLike[str] | AsyncIterable[bytes]


def _check_upload_content(_inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str):
        raise UsageError("UploadFile.content: pass bytes, a pathlib.Path or an async byte iterator")
    if not isinstance(value, bytes | bytearray | memoryview | os.PathLike | AsyncIterable):
        raise UsageError(f"UploadFile.content: unsupported type {type(value).__name__}")


@attrs.frozen(kw_only=True)
class UploadFile:
    """A file to upload.

    Attributes:
        name: the file name Fleep shows.
        content: the bytes, a path to read them from, or an async iterator of chunks (streamed
            once: an upload from an iterator is never retried).
        content_type: the MIME type; guessed from ``name`` when ``None``.
    """

    name: str
    content: UploadContent = attrs.field(repr=False, validator=_check_upload_content)
    content_type: str | None = None

    @property
    def replayable(self) -> bool:
        """Whether the content can be sent again (bytes or a path, not an iterator)."""
        return isinstance(self.content, bytes | bytearray | memoryview | os.PathLike)

    @property
    def resolved_content_type(self) -> str:
        """``content_type``, or a guess from the name, or ``application/octet-stream``."""
        if self.content_type:
            return self.content_type
        guess, _ = mimetypes.guess_type(self.name, strict=False)
        return guess or "application/octet-stream"
