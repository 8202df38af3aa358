"""Argument converters shared by the request classes.

Each converter turns what a caller may reasonably pass (a :class:`uuid.UUID` or its string, a list
of addresses or an "email To: line") into the one form the wire wants, and raises
:class:`~fleep_async.errors.UsageError` otherwise. They run in the request class's ``__init__``,
so a bad argument fails before any request is built, let alone sent.

The annotations of the converters' first parameters become the parameter types of the generated
service methods, so every name used in them must be importable from this module.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

from fleep_async._http import UploadFile
from fleep_async.errors import UsageError, redact

__all__ = [
    "DEFAULT_UPLOAD_NAME",
    "Any",
    "UploadFile",
    "UploadSource",
    "Iterable",
    "Mapping",
    "Sequence",
    "UUID",
    "to_client_req_id",
    "to_email_line",
    "to_keywords",
    "to_mapping_list",
    "to_optional_email_line",
    "to_optional_list",
    "to_optional_mapping_list",
    "to_optional_str_list",
    "to_optional_uuid",
    "to_optional_uuid_list",
    "to_str_list",
    "to_uuid",
    "to_upload_files",
    "to_uuid_list",
]

_SHOWN_LEN = 60

# The spellings of a UUID that uuid.UUID documents: hex digits with or without hyphens, optionally
# in braces or after "urn:uuid:". uuid.UUID itself is laxer (it hands the text to int(), which
# also takes "+", "0x", surrounding spaces and non-ASCII digits such as "\uff10"), so a lookalike
# string would silently name another conversation.
_UUID_TEXT = re.compile(
    r"(?:urn:uuid:)?\{?[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}\}?"
)


def _shown(value: object) -> str:
    # A rejected value goes into the message to help the caller, but cut short and scrubbed:
    # a hook URL or a ticket passed in the wrong place must not end up in a log.
    text = repr(value)
    if len(text) > _SHOWN_LEN:
        text = text[:_SHOWN_LEN] + "..."
    return redact(text)


def _canonical_uuid(value: object, what: str) -> str:
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a UUID or its string, got {type(value).__name__}")
    try:
        if not _UUID_TEXT.fullmatch(value):
            raise ValueError(value)
        parsed = uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{what} must be a UUID, got {_shown(value)}") from None
    # uuid.UUID also accepts braces, "urn:uuid:" and missing hyphens; the server only knows the
    # canonical lower-case form, and a path segment must be exactly that (no "/" can survive).
    return str(parsed)


def to_uuid(value: str | UUID) -> str:
    """Return the canonical string of a UUID; raise UsageError for anything else."""
    return _canonical_uuid(value, "id")


def to_optional_uuid(value: str | UUID | None) -> str | None:
    """Like :func:`to_uuid`, but ``None`` stays ``None`` (the parameter is not sent)."""
    return None if value is None else _canonical_uuid(value, "id")


def to_client_req_id(value: str | UUID | None) -> str:
    """Return ``value`` as a canonical UUID string, or a fresh uuid4 when it is ``None``.

    The id is made once, when the request object is built, so every attempt of the same call
    carries the same id and the server stores the message only once.
    """
    if value is None:
        return str(uuid.uuid4())
    return _canonical_uuid(value, "client_req_id")


def _reject_bare_string(value: object, what: str) -> None:
    # Iterating a str yields characters: ["a", "b", "c"] is never what the caller meant.
    if isinstance(value, str | bytes):
        raise UsageError(f"{what} must be a list, not a single string: wrap it in [...]")


def to_uuid_list(values: Iterable[str | UUID]) -> tuple[str, ...]:
    """Return a tuple of canonical UUID strings; raise UsageError for a bad item."""
    _reject_bare_string(values, "a list of ids")
    return tuple(_canonical_uuid(item, "every id in the list") for item in values)


def to_optional_uuid_list(values: Iterable[str | UUID] | None) -> tuple[str, ...] | None:
    """Like :func:`to_uuid_list`, but ``None`` stays ``None``."""
    return None if values is None else to_uuid_list(values)


def to_str_list(values: Iterable[str]) -> tuple[str, ...]:
    """Return a tuple of strings; refuse a bare string and non-string items."""
    _reject_bare_string(values, "a list of strings")
    items = tuple(values)
    for item in items:
        if not isinstance(item, str):
            raise UsageError(f"expected a list of strings, got an item of {type(item).__name__}")
    return items


def to_optional_str_list(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """Like :func:`to_str_list`, but ``None`` stays ``None``."""
    return None if values is None else to_str_list(values)


def to_mapping_list(values: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """Return a tuple of mappings (for lists of objects such as reactions or contact imports)."""
    _reject_bare_string(values, "a list of objects")
    items = tuple(values)
    for item in items:
        if not isinstance(item, Mapping):
            raise UsageError(f"expected a list of mappings, got an item of {type(item).__name__}")
    return items


def to_optional_mapping_list(
    values: Iterable[Mapping[str, Any]] | None,
) -> tuple[Mapping[str, Any], ...] | None:
    """Like :func:`to_mapping_list`, but ``None`` stays ``None``."""
    return None if values is None else to_mapping_list(values)


def _join(value: object, sep: str, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise UsageError(f"{what} must be text or a list of texts")
    parts = tuple(value)
    for part in parts:
        if not isinstance(part, str):
            raise UsageError(f"{what} must be strings, got an item of {type(part).__name__}")
    return sep.join(part.strip() for part in parts)


def to_email_line(value: str | Iterable[str]) -> str:
    """Return an "email To: line": a string as-is, a list joined with ``", "``."""
    return _join(value, ", ", "email addresses")


def to_optional_email_line(value: str | Iterable[str] | None) -> str | None:
    """Like :func:`to_email_line`, but ``None`` stays ``None``."""
    return None if value is None else _join(value, ", ", "email addresses")


def to_keywords(value: str | Iterable[str]) -> str:
    """Return search keywords as the space-separated string the server wants."""
    return _join(value, " ", "keywords")


def to_optional_list(values: Iterable[Any] | None) -> tuple[Any, ...] | None:
    """Return a tuple of whatever the list holds (for lists the sources leave untyped)."""
    if values is None:
        return None
    _reject_bare_string(values, "a list")
    return tuple(values)


UploadContent: TypeAlias = bytes | os.PathLike[str] | AsyncIterable[bytes]
UploadSource: TypeAlias = UploadFile | str | UploadContent | tuple[str, UploadContent]
"""What an upload accepts per file: an :class:`UploadFile`; a path (``str`` or ``PathLike``);
bytes or an async byte iterator (named :data:`DEFAULT_UPLOAD_NAME`); or a ``(name, content)``
pair."""

DEFAULT_UPLOAD_NAME = "upload.bin"


def _is_content(value: object) -> bool:
    return isinstance(value, bytes | bytearray | memoryview | os.PathLike | AsyncIterable)


def _one_upload(source: object) -> UploadFile:
    if isinstance(source, UploadFile):
        return source
    if isinstance(source, tuple):
        if len(source) != 2 or not isinstance(source[0], str) or not _is_content(source[1]):
            raise UsageError("an upload pair must be (name, bytes | path | async byte iterator)")
        name, content = source
        if not name:
            raise UsageError("an upload needs a non-empty file name")
        if isinstance(content, os.PathLike):
            content = Path(content)
        return UploadFile(name=name, content=bytes(content) if _is_buffer(content) else content)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        # Checked now so that a typo fails before the request, with the caller's own path.
        if not path.is_file():
            raise UsageError(f"no such file to upload: {str(path)[:200]!r}")
        return UploadFile(name=path.name, content=path)
    if isinstance(source, bytes | bytearray | memoryview):
        return UploadFile(name=DEFAULT_UPLOAD_NAME, content=bytes(source))
    if isinstance(source, AsyncIterable):
        return UploadFile(name=DEFAULT_UPLOAD_NAME, content=source)
    raise UsageError(f"cannot upload a {type(source).__name__}")


def _is_buffer(value: object) -> bool:
    return isinstance(value, bytes | bytearray | memoryview)


def _is_single_upload(value: object) -> bool:
    if isinstance(value, tuple):
        return len(value) == 2 and isinstance(value[0], str) and _is_content(value[1])
    return isinstance(value, UploadFile | str | os.PathLike) or _is_content(value)


def to_upload_files(values: UploadSource | Sequence[UploadSource]) -> tuple[UploadFile, ...]:
    """Return the files to upload; one source or a sequence of them (see :data:`UploadSource`)."""
    if _is_single_upload(values):
        return (_one_upload(values),)
    if not isinstance(values, Sequence):
        raise UsageError(f"cannot upload a {type(values).__name__}")
    files = tuple(_one_upload(item) for item in values)
    if not files:
        raise UsageError("nothing to upload: pass at least one file")
    return files
