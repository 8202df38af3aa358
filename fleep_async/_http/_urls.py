"""URL rules: API paths, the plain-http rule, origins."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import httpx

from fleep_async.errors import UsageError

__all__ = ["check_path", "check_scheme", "origin"]

# An API path as the endpoint registry spells it: "account/login", "message/send/<uuid>",
# "file/upload/". No leading slash, no query, no "..": anything else is a bug in the caller.
_PATH_RE: Final = re.compile(r"[A-Za-z0-9_\-.~]+(?:/[A-Za-z0-9_\-.~]+)*/?")


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_path(path: str) -> None:
    """Refuse an API path that is not of the registry's shape (a bug in the caller).

    Raises:
        UsageError: a leading slash, a query string, a ``.`` or ``..`` segment, ...
    """
    if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
        raise UsageError(
            f"bad API path {path!r}: expected e.g. 'message/send/<conversation_id>' "
            "(no leading slash, no query string)"
        )
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise UsageError(f"bad API path {path!r}: '.' and '..' segments are not allowed")


def check_scheme(url: httpx.URL, *, allow_insecure_http: bool, what: str) -> None:
    """Allow https, and plain http only to a loopback host (or when explicitly allowed).

    Raises:
        UsageError: any other scheme or host.
    """
    if url.scheme == "https":
        return
    if url.scheme == "http":
        if allow_insecure_http or _is_loopback(url.host):
            return
        raise UsageError(
            f"{what}: plain http is only allowed to a loopback host (localhost, 127.0.0.0/8, "
            "::1); use https, or pass allow_insecure_http=True"
        )
    raise UsageError(f"{what}: the scheme must be https (or http to a loopback host)")


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the default port filled in."""
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default_port)
