"""A streaming ``multipart/form-data`` body."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import anyio

from fleep_async._http._upload import UploadContent, UploadFile
from fleep_async.errors import UsageError

__all__ = ["Multipart"]

_READ_CHUNK: Final = 64 * 1024


def _quote_disposition(value: str) -> str:
    # The WHATWG form-data rule: percent-escape the three characters that would break the header.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part_head(
    boundary: str, name: str, *, filename: str | None, content_type: str | None
) -> bytes:
    disposition = f'form-data; name="{_quote_disposition(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote_disposition(filename)}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {_quote_disposition(content_type)}\r\n"
    return (head + "\r\n").encode("utf-8")


async def _content_size(content: UploadContent) -> int | None:
    if isinstance(content, bytes | bytearray | memoryview):
        return len(content)
    if isinstance(content, os.PathLike):
        try:
            return (await anyio.Path(os.fspath(content)).stat()).st_size
        except OSError as exc:
            raise UsageError(f"cannot read the upload file: {exc.strerror}") from exc
    return None


async def _content_chunks(content: UploadContent) -> AsyncIterator[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        yield bytes(content)
    elif isinstance(content, os.PathLike):
        async with await anyio.open_file(os.fspath(content), "rb") as handle:
            while chunk := await handle.read(_READ_CHUNK):
                yield chunk
    else:
        async for chunk in content:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise UsageError("an upload iterator must yield bytes")
            yield bytes(chunk)


class Multipart:
    """A streaming multipart/form-data body (httpx cannot stream async sources into one)."""

    def __init__(self, fields: Mapping[str, Any], files: Sequence[UploadFile]) -> None:
        self.boundary = secrets.token_hex(16)
        self._fields = [(str(key), str(value)) for key, value in fields.items()]
        self._files = list(files)

    @property
    def replayable(self) -> bool:
        return all(file.replayable for file in self._files)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_bytes(self, key: str, value: str) -> bytes:
        head = _part_head(self.boundary, key, filename=None, content_type=None)
        return head + value.encode("utf-8") + b"\r\n"

    def _file_head(self, file: UploadFile) -> bytes:
        return _part_head(
            self.boundary, "files", filename=file.name, content_type=file.resolved_content_type
        )

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    async def length(self) -> int | None:
        """The body's byte length, or ``None`` when a part's size is unknown (chunked)."""
        total = sum(len(self._field_bytes(key, value)) for key, value in self._fields)
        for file in self._files:
            size = await _content_size(file.content)
            if size is None:
                return None
            total += len(self._file_head(file)) + size + 2
        return total + len(self._tail())

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body; each call starts over (replayable sources only)."""
        for key, value in self._fields:
            yield self._field_bytes(key, value)
        for file in self._files:
            yield self._file_head(file)
            async for chunk in _content_chunks(file.content):
                yield chunk
            yield b"\r\n"
        yield self._tail()
