"""Cookies: none kept between calls; the ``token_id`` read from ``Set-Cookie`` and checked.

The ``token_id`` goes back to the server in a ``Cookie`` header, so it must be a value a header
can carry: RFC 6265's cookie-octets (printable ASCII without space, ``"``, ``,``, ``;`` and
``\\``), of a sane length. A server that sets anything else gets a :class:`DecodeError` (the
session keeps its previous cookie), and a saved session holding one gets a :class:`UsageError`
before anything is sent; neither message quotes the value.
"""

from __future__ import annotations

import re
from http.cookiejar import Cookie, CookieJar
from typing import Any, Final
from urllib.request import Request as _UrllibRequest

from fleep_async._http._secret import Secret
from fleep_async._http._wire import HeaderView
from fleep_async.errors import DecodeError, UsageError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "NoCookieJar",
    "check_token",
    "cookie_header",
    "invalid_token",
    "token_from_set_cookie",
]

MAX_TOKEN_LENGTH: Final = 4096
"""The longest ``token_id`` accepted (RFC 6265's minimum size a cookie may have)."""

# RFC 6265 section 4.1.1, cookie-octet.
_COOKIE_OCTETS: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
_RULE: Final = f"printable ASCII cookie characters, at most {MAX_TOKEN_LENGTH}"


class NoCookieJar(CookieJar):
    """A jar that keeps nothing: cookies are strictly per call (accounts may share a transport)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return

    def extract_cookies(self, response: Any, request: _UrllibRequest) -> None:
        return


def _valid(value: str) -> bool:
    return len(value) <= MAX_TOKEN_LENGTH and _COOKIE_OCTETS.fullmatch(value) is not None


def check_token(token_id: Secret[str] | None) -> None:
    """Refuse a ``token_id`` that cannot be sent in a ``Cookie`` header.

    Raises:
        UsageError: the value is not made of cookie characters or is too long (not quoted).
    """
    if token_id is not None and not _valid(token_id.reveal()):
        raise UsageError(f"the session's token_id cookie is not valid: expected {_RULE}")


def cookie_header(token_id: Secret[str] | None) -> dict[str, str]:
    """``{"Cookie": "token_id=..."}`` for a (checked) token, or ``{}``."""
    return {} if token_id is None else {"Cookie": "token_id=" + token_id.reveal()}


def token_from_set_cookie(headers: HeaderView) -> tuple[Secret[str] | None, bool]:
    """The ``token_id`` a response sets (the last one wins), and whether an invalid one was set.

    The value may be quoted (RFC 6265 allows ``token_id="..."``) and spaced around ``=``. An
    invalid value makes the answer ``(None, True)``; the caller raises (:func:`invalid_token`)
    from a frame that holds neither the value nor the headers.
    """
    token: Secret[str] | None = None
    for header in headers.get_list("set-cookie"):
        name, sep, rest = header.partition("=")
        if not (sep and name.strip() == "token_id"):
            continue
        value = rest.split(";", 1)[0].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if not value:
            continue  # an empty cookie clears it: keep what we have
        if not _valid(value):
            return None, True
        token = Secret(value)
    return token, False


def invalid_token(endpoint: str) -> DecodeError:
    """The error for a ``Set-Cookie: token_id`` that is not a valid cookie value."""
    return DecodeError(
        f"the server set a token_id cookie that is not valid (expected {_RULE}); "
        "the session keeps its previous cookie",
        endpoint=endpoint,
    )
