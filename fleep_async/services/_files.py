"""File downloads: ``GET {file_url}`` with the session cookie, outside ``/api``.

Not an endpoint of the registry (no JSON, no ``/api`` path), so these two methods are written by
hand; the generated ``FileService`` inherits them. File names that come from the server are
sanitised before they touch the file system: a URL ending in ``..%2F..%2Fetc%2Fpasswd`` is saved
as ``passwd`` inside the destination directory, never elsewhere.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Final, overload
from urllib.parse import unquote, urlsplit

import anyio

from fleep_async.errors import UsageError
from fleep_async.services._base import Service

__all__ = ["DEFAULT_CHUNK_SIZE", "FALLBACK_FILE_NAME", "FileTransferService", "safe_file_name"]

DEFAULT_CHUNK_SIZE: Final = 64 * 1024
FALLBACK_FILE_NAME: Final = "download"
# In UTF-8 bytes, not characters: file systems limit names to 255 bytes, and the temporary
# ".<name>.<12 hex>.part" beside the target needs 19 more.
_MAX_NAME_BYTES: Final = 200
# Characters no file system should get from a server: separators, controls, and the ones
# Windows refuses.
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_file_name(file_url: str) -> str:
    """Return a file name for ``file_url`` that is safe to create inside a directory.

    The name is the last segment of the URL's path, percent-decoded, reduced to its last
    component (so no ``/``, ``\\`` or ``..`` survives), stripped of control and reserved
    characters and of leading dots, and cut to 200 bytes of UTF-8 (keeping the extension). An
    empty result becomes ``"download"``.

    >>> safe_file_name("/file/abc/12/def/..%2F..%2Fetc%2Fpasswd")
    'passwd'
    >>> safe_file_name("/file/abc/12/def/report%20Q1.pdf")
    'report Q1.pdf'
    """
    path = urlsplit(file_url).path
    name = unquote(path.rsplit("/", 1)[-1])
    # A decoded name may hold separators again ("..%2F.."): keep only the last component.
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = _cut(stem, _MAX_NAME_BYTES - len(ext.encode("utf-8")) - 1) + "." + ext
        else:
            name = _cut(name, _MAX_NAME_BYTES)
    return name or FALLBACK_FILE_NAME


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _check_file_url(file_url: object) -> str:
    if not isinstance(file_url, str) or not file_url.strip():
        raise UsageError("file_url must be a non-empty string (a record's file_url)")
    if any(ch in file_url for ch in "\r\n\x00"):
        raise UsageError("file_url must not contain control characters")
    parts = urlsplit(file_url)
    if parts.scheme not in ("", "http", "https"):
        raise UsageError("file_url must be a /file/... path or an http(s) URL")
    if not parts.scheme and not file_url.startswith("/"):
        raise UsageError("a relative file_url must start with '/' (e.g. /file/...)")
    # A '..' segment (also spelled %2e%2e) would walk the request off the file tree to another
    # path of the server. An encoded slash (%2F) stays inside its segment, so split first.
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise UsageError("file_url must not contain '.' or '..' path segments")
    return file_url


class FileTransferService(Service):
    """The hand-written file methods: :meth:`download` and :meth:`iter_download`."""

    __slots__ = ()

    async def iter_download(
        self, file_url: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """Stream a file's bytes: ``async for chunk in client.file.iter_download(url): ...``.

        Args:
            file_url: the ``file_url`` (or ``thumb_url_*``) of a file record: a path relative
                to the server, or an absolute URL. The session cookie goes only to the
                client's own server.
            chunk_size: the size of the chunks yielded.

        Raises:
            UsageError: a malformed ``file_url``.
            FleepAPIError: the server refused (404 for a deleted file ...).
        """
        url = _check_file_url(file_url)
        if chunk_size < 1:
            raise UsageError("chunk_size must be at least 1")
        async with self._requester.download(url) as response:
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk

    @overload
    async def download(self, file_url: str, dest: None = None) -> bytes: ...

    @overload
    async def download(self, file_url: str, dest: str | os.PathLike[str]) -> Path: ...

    async def download(
        self, file_url: str, dest: str | os.PathLike[str] | None = None
    ) -> bytes | Path:
        """Download a file to ``dest``, streamed; or into memory when ``dest`` is ``None``.

        Args:
            file_url: the ``file_url`` of a file record (see :meth:`iter_download`).
            dest: an existing directory (the file keeps its name, sanitised: see
                :func:`safe_file_name`), or the path of the file to write. The bytes go to a
                temporary file beside it first, renamed into place when complete, so a failed
                download leaves no partial file.

        Returns:
            The path written, or the bytes when ``dest`` is ``None``.

        Raises:
            UsageError: a malformed ``file_url``, or a ``dest`` whose directory does not exist.
            FleepAPIError: the server refused.
            TransportError: the connection failed.
        """
        url = _check_file_url(file_url)
        if dest is None:
            async with aclosing(self.iter_download(url)) as stream:
                return b"".join([chunk async for chunk in stream])
        target = await _target_path(Path(dest), url)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        try:
            async with (
                await anyio.open_file(partial, "wb") as out,
                aclosing(self.iter_download(url)) as stream,
            ):
                async for chunk in stream:
                    await out.write(chunk)
            await anyio.Path(partial).replace(target)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.Path(partial).unlink(missing_ok=True)
            raise
        return target


async def _target_path(dest: Path, file_url: str) -> Path:
    adest = anyio.Path(dest)
    if await adest.is_dir():
        directory = Path(await adest.resolve())
        target = directory / safe_file_name(file_url)
        # safe_file_name allows no separator, so this holds; checked anyway because a path
        # outside the caller's directory must be impossible, not merely unlikely.
        if target.parent != directory:
            raise UsageError("refusing to write outside the destination directory")
        return target
    if not await anyio.Path(dest.parent if str(dest.parent) else ".").is_dir():
        raise UsageError("the destination's directory does not exist")
    return dest
