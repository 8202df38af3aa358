"""URL rules: API paths, the plain-http rule, origins."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import httpx

from fleep_async.errors import UsageError

__all__ = ["check_path", "check_scheme", "is_loopback_host", "origin"]

# An API path as the endpoint registry spells it: "account/login", "message/send/<uuid>",
# "file/upload/". No leading slash, no query, no "..": anything else is a bug in the caller.
_PATH_RE: Final = re.compile(r"[A-Za-z0-9_\-.~]+(?:/[A-Za-z0-9_\-.~]+)*/?")


_LOOPBACK_V4: Final = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6: Final = ipaddress.IPv6Address("::1")


def is_loopback_host(host: str) -> bool:
    """Whether plain http to ``host`` stays on this machine, by explicit rules.

    Only three forms pass: the name ``localhost`` itself, an IPv4 address in 127.0.0.0/8 and
    the IPv6 address ``::1``; an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is judged as
    the IPv4 address it carries. No other name passes on its spelling: ``x.localhost`` may
    resolve anywhere (RFC 6761 only asks resolvers to keep it local), so it is refused rather
    than trusted. The rules do not use ``ipaddress``'s ``is_loopback``, whose answer for mapped
    addresses changed in Python 3.13.
    """
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return address == _LOOPBACK_V6
        address = address.ipv4_mapped
    return address in _LOOPBACK_V4


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
        if allow_insecure_http or is_loopback_host(url.host):
            return
        raise UsageError(
            f"{what}: plain http is only allowed to a loopback host (localhost, 127.0.0.0/8, "
            "::1, ::ffff:127.0.0.0/104; no other name); use https, or pass "
            "allow_insecure_http=True"
        )
    raise UsageError(f"{what}: the scheme must be https (or http to a loopback host)")


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the default port filled in."""
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default_port)
