"""Cookies: none kept between calls; the ``token_id`` read from ``Set-Cookie``."""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any
from urllib.request import Request as _UrllibRequest

import httpx

__all__ = ["NoCookieJar", "token_from_set_cookie"]


class NoCookieJar(CookieJar):
    """A jar that keeps nothing: cookies are strictly per call (accounts may share a transport)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return

    def extract_cookies(self, response: Any, request: _UrllibRequest) -> None:
        return


def token_from_set_cookie(headers: httpx.Headers) -> str | None:
    token: str | None = None
    for header in headers.get_list("set-cookie"):
        name, sep, rest = header.partition("=")
        if sep and name.strip() == "token_id":
            value = rest.split(";", 1)[0].strip().strip('"')
            if value:
                token = value
    return token
