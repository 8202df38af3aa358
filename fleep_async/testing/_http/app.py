"""The Starlette app: ``/api/...`` dispatch, hooks, file downloads, and the admin routes.

Dispatch order for ``POST /api/<area>/<op>[/<id>][/]``: resolve the path (404), check the
method (405), parse the JSON body (400), check the session (401: ``token_id`` cookie plus the
matching ``ticket`` in the body, or in the query for uploads), answer a repeated
``client_req_id`` from the cache (message/store only, as the real server), run the handler (its
:class:`ApiError` becomes the error body).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import TYPE_CHECKING, Any, Final

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fleep_async.testing._http.errors import ApiError, bad_request, unauthorized
from fleep_async.testing._http.faults import FaultMiddleware, Faults
from fleep_async.testing._http.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    BodyLimitMiddleware,
)
from fleep_async.testing._http.routing import Ctx, Params, Result, Spec, load_handlers, resolve
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.ids import is_uuid
from fleep_async.testing._world.state import AccountState, Session

if TYPE_CHECKING:
    from fleep_async.testing._fake import FakeFleep
    from fleep_async.testing._world.world import World

log = logging.getLogger("fleep_async.testing")

JSON_TYPE: Final = "application/json; charset=utf-8"
_RANGE_SPEC: Final = re.compile(r"(\d*)-(\d*)$")
# More ranges than this in one request is refused (416), as a guard against range floods.
_MAX_RANGES: Final = 64
_SLASHES: Final = re.compile(rb"/{2,}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the real server's content type."""
    return Response(orjson.dumps(data), status_code=status, media_type=JSON_TYPE, headers=headers)


def error_response(error: ApiError) -> Response:
    """An error status with ``{error_id, error_message}``."""
    return json_response(error.body(), error.status, error.headers or None)


def session_from(
    world: World, token_id: str | None, ticket: object
) -> tuple[Session, AccountState]:
    """A live session matching both the cookie and the ticket, or 401."""
    session = world.sessions.get(token_id or "")
    if session is None or not session.alive or not isinstance(ticket, str):
        raise unauthorized()
    if session.ticket != ticket:
        raise unauthorized()
    account = world.accounts.get(session.account_id)
    if account is None or account.mk_account_status != "active":
        raise unauthorized()
    return session, account


def build_app(
    world: World,
    faults: Faults,
    *,
    fake: FakeFleep | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> Starlette:
    """Build the ASGI app over a world; bodies over the caps get 413 (see ``limits``)."""
    from fleep_async.testing._http.admin import admin_routes
    from fleep_async.testing._http.web import web_routes

    load_handlers()

    async def api(request: Request) -> Response:
        try:
            return await _dispatch(world, faults, request)
        except ApiError as error:
            return error_response(error)

    async def hook(request: Request) -> Response:
        try:
            return await _hook_post(world, request)
        except ApiError as error:
            return error_response(error)

    async def download(request: Request) -> Response:
        try:
            return _download(world, request)
        except ApiError as error:
            return error_response(error)

    async def front(request: Request) -> Response:
        return _front_page(world)

    async def login_page(request: Request) -> Response:
        return _login_page(world)

    async def globals_auth(request: Request) -> Response:
        if _live_session(world, request) is None:
            return error_response(unauthorized())
        return Response(b"{}", 200, media_type="application/json; charset=utf-8")

    all_methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [
        Route("/", front, methods=["GET", "HEAD"]),
        Route("/login", login_page, methods=["GET", "HEAD"]),
        Route("/globals/auth", globals_auth, methods=["GET", "HEAD"]),
        Route("/api/{path:path}", api, methods=all_methods),
        Route("/hook/{url_id}", hook, methods=all_methods),
        Route("/hook/{url_id}/", hook, methods=all_methods),
        Route("/file/{rest:path}", download, methods=["GET", "HEAD"]),
        Route("/thumb/{rest:path}", download, methods=["GET", "HEAD"]),
        Route("/avatar/{rest:path}", download, methods=["GET", "HEAD"]),
        *admin_routes(fake),
        *web_routes(stale_session=lambda request: _stale_session(world, request)),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(MergeSlashesMiddleware),
            # Outermost cap: a faulted request is capped too, and nothing inside reads past it.
            Middleware(
                BodyLimitMiddleware,
                max_body_bytes=max_body_bytes,
                max_upload_bytes=max_upload_bytes,
            ),
            Middleware(FaultMiddleware, faults=faults),
            Middleware(ApiGZipMiddleware),
        ],
    )


class MergeSlashesMiddleware:
    """Collapse repeated slashes in the path, as the real front end does (nginx's default).

    Clients join the base URL and a record's ``file_url`` (``/file/...``) into ``...//file/...``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            raw = scope.get("raw_path") or scope["path"].encode()
            scope = {
                **scope,
                "path": re.sub("/{2,}", "/", scope["path"]),
                "raw_path": _SLASHES.sub(b"/", raw),
            }
        await self.app(scope, receive, send)


class ApiGZipMiddleware:
    """Gzip the API's JSON answers only: downloads are served as their raw bytes.

    The real server compresses answers, not stored files: a client that asks for gzip still
    gets a file's exact bytes (and ranges of them).
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 1024) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _front_page(world: World) -> Response:
    """``GET /`` as the web front end answers it: a page and a fresh anonymous ``token_id``.

    The cookie belongs to no session: an old session cookie is simply replaced.
    """
    response = Response(
        "<!doctype html><title>Fleep</title><p>FakeFleep</p>",
        200,
        media_type="text/html; charset=utf-8",
    )
    response.set_cookie("token_id", world.ids.secret_uuid(), path="/", httponly=True)
    return response


def _login_page(world: World) -> Response:
    """``GET /login`` as the web front end answers it: a page, a fresh anonymous ``token_id``
    and an ``xs_ticket`` cookie that belong to no session (an API call with them gets 401)."""
    response = Response(
        '<!doctype html><title>Fleep</title><p>FakeFleep: log in at <a href="/chat/">/chat/</a>',
        200,
        media_type="text/html; charset=utf-8",
    )
    response.set_cookie("token_id", world.ids.secret_uuid(), path="/", httponly=True)
    response.set_cookie("xs_ticket", world.ids.secret_uuid(), path="/")
    return response


def _live_session(world: World, request: Request) -> Session | None:
    """The live session of the request's ``token_id`` cookie, if any."""
    session = world.sessions.get(request.cookies.get("token_id") or "")
    return session if session is not None and session.alive else None


def _stale_session(world: World, request: Request) -> bool:
    """The request carries a ``token_id`` cookie whose session is over (logged out, expired)."""
    return bool(request.cookies.get("token_id")) and _live_session(world, request) is None


async def _dispatch(world: World, faults: Faults, request: Request) -> Response:
    path = request.path_params["path"].strip("/")
    found = resolve(path)
    if found is None:
        raise ApiError(404, "unknown_method", "Unknown API method.")
    spec, path_id = found
    allowed = ("POST", "PUT") if spec.body == "upload" else ("POST",)
    if request.method not in allowed:
        raise ApiError(
            405, "method_not_allowed", "Use POST.", headers={"Allow": ", ".join(allowed)}
        )
    if spec.path_id in ("conversation", "optional_conversation") and path_id is not None:
        if not is_uuid(path_id):
            raise bad_request("Invalid conversation id in the URL.")
        path_id = path_id.lower()
    if spec.path_id == "conversation" and path_id is None:
        raise bad_request("Missing conversation id in the URL.")
    if spec.path_id in ("team", "organisation"):
        if path_id is None or not is_uuid(path_id):
            raise bad_request(f"Missing or invalid {spec.path_id} id in the URL.")
        path_id = path_id.lower()
    body: dict[str, Any] = {}
    if spec.body == "json":
        body = await _json_body(request)
        ticket: object = body.get("ticket")
    else:
        ticket = request.query_params.get("ticket")
    ctx = Ctx(
        world=world,
        faults=faults,
        params=Params(body),
        path=spec.path,
        path_id=path_id,
        request=request,
    )
    if spec.auth:
        ctx.session, ctx.account = session_from(world, request.cookies.get("token_id"), ticket)
    client_req_id = body.get("client_req_id") if spec.idempotent_key else None
    if client_req_id is not None and not isinstance(client_req_id, str):
        raise bad_request("Invalid value for client_req_id: expected text.")
    cache_key = None
    if client_req_id and ctx.account is not None:
        cache_key = (ctx.account.account_id, client_req_id)
        cached = world.idempotency.get(cache_key)
        if cached is not None:
            # Same id -> the identical answer, and nothing happens twice.
            return json_response(copy.deepcopy(cached))
    result = await _run(spec, ctx)
    if isinstance(result, Response):
        return result
    if cache_key is not None and ctx.account is not None and client_req_id:
        result["client_req_id"] = client_req_id
        world.idempotency[cache_key] = copy.deepcopy(result)
        header = result.get("header")
        conv_id = path_id if spec.path_id != "none" else None
        if conv_id is None and isinstance(header, dict):
            conv_id = header.get("conversation_id")
        nr = result.get("result_message_nr")
        world.emit(
            ctx.account.account_id,
            [world.request_record(client_req_id, conv_id, nr if isinstance(nr, int) else None)],
        )
    response = json_response(result)
    for token_id, remember in ctx.cookies:
        response.set_cookie(
            "token_id",
            token_id,
            max_age=30 * 86400 if remember else None,
            expires=30 * 86400 if remember else None,
            path="/",
            httponly=True,
            samesite=None,
        )
    return response


async def _run(spec: Spec, ctx: Ctx) -> Result | Response:
    if spec.is_async:
        return await spec.func(ctx)  # type: ignore[no-any-return,misc]
    return spec.func(ctx)  # type: ignore[return-value]


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise bad_request("Request body must be JSON.")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    return body


async def _hook_post(world: World, request: Request) -> Response:
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST.", headers={"Allow": "POST"})
    hook = world.hooks_by_url.get(request.path_params["url_id"])
    conv = world.conversations.get(hook.conversation_id) if hook is not None else None
    if hook is None or conv is None or not hook.is_active:
        raise ApiError(404, "not_found", "Hook not found.")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    files: list[tuple[str, str]] = []
    owner = world.accounts[hook.account_id]
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        for item in form.getlist("files"):
            if not isinstance(item, str):
                upload = world.store_file(
                    owner, item.filename or "file", await item.read(), item.content_type
                )
                files.append((upload.file_id, upload.name))
        await form.close()
    else:
        try:
            decoded = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise bad_request("Request body is not valid JSON.") from None
        if not isinstance(decoded, dict):
            raise bad_request("Request body must be a JSON object.")
        data = decoded
    params = Params(data)
    if isinstance(data.get("messages"), list):
        # Import hooks: a batch with stored posted_time and sender_name.
        for item in data["messages"]:
            if not isinstance(item, dict):
                raise bad_request("Invalid value for messages.")
            item_params = Params(item)
            world.post(
                conv,
                hook.account_id,
                item_params.text("message") or "",
                hook_key=hook.hook_key,
                sender_name=item_params.text("sender_name"),
                posted_time=item_params.integer("posted_time"),
            )
        return json_response({})
    text = params.text("message")
    if not (text and text.strip()) and not files:
        raise bad_request("Missing required field: message.")
    world.post(
        conv,
        hook.account_id,
        text,
        hook_key=hook.hook_key,
        sender_name=params.text("user"),
        file_ids=files,
        # Live hook posts start no new sheet; imported history carries no such flag.
        is_new_sheet=False,
    )
    return json_response({})


def _download(world: World, request: Request) -> Response:
    session = world.sessions.get(request.cookies.get("token_id") or "")
    if session is None or not session.alive:
        raise unauthorized()
    parts = request.url.path.strip("/").split("/")
    data, file_type, name = _find_download(world, session.account_id, parts)
    headers = {
        "Cache-Control": "private, max-age=86400",
        "Content-Security-Policy": "default-src 'none'",
        "Accept-Ranges": "bytes",
    }
    if not file_type.startswith("image/"):
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    range_header = request.headers.get("range")
    if range_header:
        size = len(data)
        spans = _parse_ranges(range_header, size)
        if spans is None:
            return Response(b"", 416, headers={**headers, "Content-Range": f"bytes */{size}"})
        if len(spans) == 1:
            first, last = spans[0]
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            return Response(data[first : last + 1], 206, headers=headers, media_type=file_type)
        boundary = world.ids.short()
        body = _byteranges(data, spans, file_type, boundary)
        return Response(
            body, 206, headers=headers, media_type=f"multipart/byteranges; boundary={boundary}"
        )
    return Response(data, 200, headers=headers, media_type=file_type)


def _parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ``(first, last)`` spans of a ``Range: bytes=...`` header, or None (416)."""
    unit, _, specs = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    spans = []
    for spec in specs.split(","):
        match = _RANGE_SPEC.match(spec.strip())
        if match is None or not (match.group(1) or match.group(2)):
            return None
        start, end = match.group(1), match.group(2)
        if start:
            first, last = int(start), min(int(end) if end else size - 1, size - 1)
        else:
            first, last = max(size - int(end), 0), size - 1
        if first < size and first <= last:
            spans.append((first, last))
    return spans if 0 < len(spans) <= _MAX_RANGES else None


def _byteranges(data: bytes, spans: list[tuple[int, int]], file_type: str, boundary: str) -> bytes:
    """A ``multipart/byteranges`` body: one part per span, each with its own length."""
    out = []
    for first, last in spans:
        part_headers = (
            f"--{boundary}\r\nContent-Type: {file_type}\r\n"
            f"Content-Range: bytes {first}-{last}/{len(data)}\r\n"
            f"Content-Length: {last - first + 1}\r\n\r\n"
        )
        out.append(part_headers.encode() + data[first : last + 1] + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _find_download(world: World, account_id: str, parts: list[str]) -> tuple[bytes, str, str]:
    not_found = ApiError(404, "not_found", "File not found.")
    if parts[0] == "avatar" and len(parts) >= 3:
        owner = world.accounts.get(parts[1])
        if owner is None or owner.avatar_file_id != parts[2]:
            raise not_found
        stored = world.files[owner.avatar_file_id]
        return stored.data, stored.file_type, parts[-1]
    if len(parts) < 4:
        raise not_found
    att = world.attachments.get(parts[3])
    if att is None or att.url_key != parts[1] or att.is_deleted:
        raise not_found
    conv = world.conversations[att.conversation_id]
    if account_id not in conv.memberships:
        raise not_found
    stored = world.files[att.file_id]
    return stored.data, att.file_type, att.file_name


def hook_info(world: World, hook_key: str, conversation_id: str, viewer: str) -> Result:
    """The ``hook_info`` object of create_hook responses."""
    h = world.conversations[conversation_id].hooks[hook_key]
    return rec.hook(h, viewer, base_url=world.config.base_url)
