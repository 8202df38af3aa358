"""Request body caps: a 413 with a Fleep-style error body, decided while streaming.

A body is refused before a byte of it is read when its ``Content-Length`` is over the cap, and
otherwise as soon as the bytes received pass it (a chunked body, or a lying length): the cap is
enforced on the ASGI ``receive`` channel itself, so JSON bodies, multipart uploads and hook posts
all go through it and no handler ever holds more than the cap plus one chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import orjson

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""The cap on a request body (JSON calls, hook posts)."""

DEFAULT_MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024
"""The cap on an upload's body (``file/upload``, ``avatar/upload``)."""

_UPLOAD_PATHS: Final = ("/api/file/upload", "/api/avatar/upload")


class BodyTooLargeError(Exception):
    """Raised into the app by ``receive`` once the body passes the cap."""


class BodyLimitMiddleware:
    """Answers 413 ``request_too_large`` to a body over its path's cap."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, path: str) -> int:
        """The cap for a request path."""
        if path.rstrip("/").startswith(_UPLOAD_PATHS):
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await _refuse(send, limit)  # not a byte of the body read
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise  # too late for a status: the server drops the connection
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {
            "error_id": "request_too_large",
            "error_message": f"Request body exceeds {limit} bytes.",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
