"""FakeFleep's web chat page at ``/chat/``: a small Fleep web client for talking to a bot by hand.

The page (``web/chat.html``, ``chat.js``, ``chat.css``, shipped in the package) logs in and
long-polls ``/api`` like any client. Creating an account goes through the FakeFleep-only admin
route ``POST /_fakefleep/state``. The strict Content-Security-Policy allows only this server's own
script, styles and connections: even if a message slipped past the page's escaping, no inline
script would run and nothing would load from elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # Starlette is imported only when the app is built (as the rest of _http)
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

CHAT_PATH: Final = "/chat/"

_FILES: Final = {
    "": ("chat.html", "text/html; charset=utf-8"),
    "chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "chat.css": ("chat.css", "text/css; charset=utf-8"),
}

_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files("fleep_async.testing").joinpath("web", name).read_bytes()


def _serve(name: str) -> Route:
    from starlette.responses import Response
    from starlette.routing import Route

    file_name, media_type = _FILES[name]

    async def page(request: Request) -> Response:
        return Response(_asset(file_name), media_type=media_type, headers=_HEADERS)

    return Route(CHAT_PATH + name, page, methods=["GET", "HEAD"])


#: The page and its assets: fault injection leaves them alone (it is for the protocol).
PAGE_PATHS: Final = frozenset({CHAT_PATH.rstrip("/"), *(CHAT_PATH + name for name in _FILES)})


def web_routes(*, stale_session: Callable[[Request], bool]) -> list[Route]:
    """``GET /chat/`` (the page) and its two assets; ``/chat`` redirects to ``/chat/``.

    A browser whose ``token_id`` cookie belongs to a session that is over is sent to
    ``/login`` instead (302), as the real web front end does (Fleep's server tests).
    """
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def to_page(request: Request) -> Response:
        if stale_session(request):
            return RedirectResponse("/login", status_code=302)
        return RedirectResponse(CHAT_PATH, status_code=308)

    return [Route("/chat", to_page, methods=["GET", "HEAD"]), *map(_serve, _FILES)]
