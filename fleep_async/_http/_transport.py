"""The one HTTP path of fleep-async: every request to Fleep goes through :class:`Transport`.

The transport moves JSON and bytes and knows nothing of records or sessions: the caller hands it
the ticket and the ``token_id`` cookie for each call, and gets back the decoded JSON together with
any rotated ``token_id`` the server set. It owns what every call shares: the URL rules, the
headers, timeouts, response size limits, error classification and the retry loop.

Two httpx clients are kept: one only for ``account/poll`` (whose read timeout is longer than the
server's ~90 s hold), one for everything else, so a parked long poll never holds up a send.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import anyio
import attrs
import httpx
import orjson

from fleep_async._http._cookies import (
    NoCookieJar,
    check_token,
    cookie_header,
    invalid_token,
    token_from_set_cookie,
)
from fleep_async._http._deadline import deadline
from fleep_async._http._decoders import check_content_encoding, read_limited
from fleep_async._http._exceptions import detached, wrap_httpx
from fleep_async._http._multipart import Multipart
from fleep_async._http._redaction import install_http_log_filters, remember_secret
from fleep_async._http._retry_after import parse_retry_after
from fleep_async._http._secret import Secret
from fleep_async._http._tls import shared_ssl_context
from fleep_async._http._upload import UploadFile
from fleep_async._http._urls import check_path, check_scheme, origin
from fleep_async._http._wire import HeaderView, Wire, WireResponse
from fleep_async._retry import RetryPolicy, Sleep, default_sleep
from fleep_async._version import __version__
from fleep_async.errors import (
    DecodeError,
    FleepAPIError,
    FleepError,
    RateLimitError,
    ResponseTooLargeError,
    TransportError,
    UsageError,
    classify,
    redact,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Transport", "TransportResult"]

logger = logging.getLogger("fleep_async.transport")


DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""Responses larger than this (64 MiB) are refused unless configured otherwise."""

# Error bodies are only read for their error_id / error_message: a few KiB is plenty, and a
# proxy's huge error page is then classified by its status alone.
_ERROR_BODY_LIMIT: Final = 64 * 1024
_MAX_REDIRECTS: Final = 5
_PRINTABLE_ASCII: Final = re.compile(r"[\x20-\x7e]+")

_T = TypeVar("_T")
_R = TypeVar("_R", bound=WireResponse)
_RequestFactory = Callable[[httpx.AsyncClient], httpx.Request]
_Opener = Callable[[], Awaitable[WireResponse]]


@attrs.frozen(kw_only=True)
class TransportResult:
    """A successful API response.

    Attributes:
        data: the decoded JSON value: an object for nearly every endpoint, but ``null`` or a
            list for the few that answer so (``avatar/delete``, ``search/suggest``); ``{}``
            for an empty body. The result types decide what fits (``decode_result``).
        status_code: the HTTP status (2xx).
        token_id: the ``token_id`` the server set in ``Set-Cookie``, or ``None`` if it set none.
    """

    data: Any = attrs.field(repr=False)
    status_code: int = 200
    token_id: str | None = attrs.field(
        default=None, repr=lambda value: "None" if value is None else "'***'"
    )


@attrs.frozen
class _Raw:
    status_code: int
    # Not in the repr: a login answer's body holds the ticket, its headers the cookie.
    headers: HeaderView = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)


class Transport:
    """Sends requests to Fleep: one POST path with timeouts, size limits, errors and retries.

    Args:
        base_url: the server, ``https://fleep.io`` by default. Plain ``http://`` only to a
            loopback host unless ``allow_insecure_http`` is set.
        timeout: seconds for connect, read, write and pool waits of normal calls.
        deadline: seconds for the whole of one attempt of a normal call (connect, send and
            the full answer; default twice ``timeout``); uploads get one more second per
            256 KiB. The long poll has none (the engine's watchdog covers it).
        poll_timeout: read timeout of long polls; longer than the server's ~90 s hold.
        retry: the retry policy (default: :class:`RetryPolicy` defaults).
        sleep: how to wait between retries (default ``anyio.sleep``).
        max_response_bytes: refuse responses larger than this (decoded size).
        allow_insecure_http: allow plain http to any host (tests against a remote fake only).
        user_agent: the ``User-Agent`` header (default ``fleep-async/<version>``).
        http2: use HTTP/2 (needs the ``h2`` package).
        transport: an httpx transport for normal calls (tests: ``httpx.ASGITransport``). One
            that is also a :class:`~fleep_async._http._wire.Wire` (the aiohttp transport)
            gets the JSON calls directly, under httpx's client layer.
        poll_transport: an httpx transport for long polls (default: ``transport``).

    Raises:
        UsageError: a bad ``base_url`` or limit.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://fleep.io",
        timeout: float = 30.0,
        deadline: float | None = None,
        poll_timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        http2: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise UsageError(f"base_url is not a valid URL: {exc}") from exc
        if not url.host:
            raise UsageError("base_url must be an absolute URL such as https://fleep.io")
        if url.query or url.fragment:
            raise UsageError("base_url must not have a query or a fragment")
        check_scheme(url, allow_insecure_http=allow_insecure_http, what="base_url")
        if not (timeout > 0 and poll_timeout > 0):
            raise UsageError("timeout and poll_timeout must be positive")
        if deadline is not None and not deadline > 0:
            raise UsageError("deadline must be positive")
        if max_response_bytes < 1:
            raise UsageError("max_response_bytes must be positive")
        if user_agent and not _PRINTABLE_ASCII.fullmatch(user_agent):
            # Refused here, the same for every HTTP library below: a line break would split
            # the header, and what a non-ASCII one becomes differs between them.
            raise UsageError("user_agent must be printable ASCII (no line breaks)")

        self._base_url = url.copy_with(path=url.path.rstrip("/"))
        self._api_base = str(self._base_url) + "/api/"
        self._allow_insecure_http = allow_insecure_http
        self._retry = retry if retry is not None else RetryPolicy()
        self._sleep: Sleep = sleep if sleep is not None else default_sleep
        self._max_response_bytes = max_response_bytes
        self._deadline = deadline if deadline is not None else 2 * timeout
        self._timeout = timeout
        self._poll_timeout = poll_timeout
        self._closed = False
        # Redact what httpx, httpcore and hpack log about our requests (not at import time:
        # importing fleep_async changes no logger).
        install_http_log_filters()

        headers = {
            "User-Agent": user_agent or f"fleep-async/{__version__}",
            # Fleep compresses only when asked; we inflate it ourselves (see _decoders).
            "Accept-Encoding": "gzip",
        }
        # Unused when a transport is given (httpx then makes no context of its own).
        ssl_context = shared_ssl_context(http2)
        try:
            self._client = httpx.AsyncClient(
                verify=ssl_context,
                timeout=httpx.Timeout(timeout),
                headers=headers,
                cookies=NoCookieJar(),
                follow_redirects=False,
                http2=http2,
                transport=transport,
            )
            self._poll_client = httpx.AsyncClient(
                verify=ssl_context,
                timeout=httpx.Timeout(timeout, read=poll_timeout),
                headers=headers,
                cookies=NoCookieJar(),
                follow_redirects=False,
                http2=http2,
                transport=poll_transport if poll_transport is not None else transport,
            )
        except ImportError as exc:
            raise UsageError(
                "http2=True needs the 'h2' package (pip install httpx[http2])"
            ) from exc
        # The direct path of JSON calls, when the transport offers one (see _wire).
        poll = poll_transport if poll_transport is not None else transport
        self._wire: Wire | None = transport if isinstance(transport, Wire) else None
        self._poll_wire: Wire | None = poll if isinstance(poll, Wire) else None
        self._json_headers: Final = {
            **headers,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        # What client.build_request would put in a JSON call's extensions: the timeouts.
        self._extensions: Final = {"timeout": self._client.timeout.as_dict()}
        self._poll_extensions: Final = {"timeout": self._poll_client.timeout.as_dict()}

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self._base_url)!r})"

    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return str(self._base_url)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in use."""
        return self._retry

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close both connection pools. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        # Shield so that a cancelled owner still releases its sockets.
        with anyio.CancelScope(shield=True):
            try:
                await self._poll_client.aclose()
            finally:
                await self._client.aclose()

    # -- public calls -----------------------------------------------------------------------
    #
    # Secrets (ticket, token_id, password, hook URL) are held in Secret wrappers from the first
    # line of each call: no plain local of these frames, or of the frames below them, holds one,
    # so a traceback recorded with its locals shows none (see _secret). The real values are
    # revealed only inside the request factories, which have returned before anything can fail.

    async def post_json(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        ticket: str | Secret[str] | None = None,
        token_id: str | Secret[str] | None = None,
        idempotent: bool = False,
        long_poll: bool = False,
    ) -> TransportResult:
        """``POST {base_url}/api/{path}`` with a JSON body and decode the JSON answer.

        Args:
            path: the API path, e.g. ``"message/send/<conversation_id>"`` (no leading slash).
            body: the JSON fields; ``ticket`` is added when given. A value may be a
                :class:`Secret` (a password): it is revealed only when the body is encoded.
            ticket: the session ticket, or ``None`` for unauthenticated calls.
            token_id: the session cookie, sent as ``Cookie: token_id=...``.
            idempotent: whether the call may be repeated after a failure (see ``RetryPolicy``).
            long_poll: use the long-poll connection pool and read timeout, and no deadline.

        Returns:
            The decoded JSON value and any rotated ``token_id``.

        Raises:
            FleepAPIError: (a subclass of) for an error status.
            TransportError: the network failed (after retries).
            FleepTimeoutError: a timeout, or the total ``deadline`` passed (after retries).
            ResponseTooLargeError: the answer exceeded ``max_response_bytes``.
            DecodeError: a 2xx answer that is not JSON, a refused ``Content-Encoding``, or an
                invalid ``token_id`` cookie.
            UsageError: a bad path or ``token_id``, or a body that cannot be encoded as JSON.
        """
        ticket, token_id = Secret.wrap(ticket), Secret.wrap(token_id)
        self._check_open()
        check_path(path)
        check_token(token_id)
        fields = dict(body) if body is not None else {}
        if ticket is not None:
            fields["ticket"] = ticket
        _remember(token_id, *fields.values())
        content = _encode_json(fields, what=f"the body of {path}")
        url = self._api_base + path
        wire = self._poll_wire if long_poll else self._wire
        opener: _Opener
        if wire is not None:
            read_timeout = self._poll_timeout if long_poll else self._timeout

            async def opener() -> WireResponse:
                with wrap_httpx(path):
                    response = await wire.post(
                        url,
                        content.reveal(),
                        self._json_headers | cookie_header(token_id),
                        connect_timeout=self._timeout,
                        read_timeout=read_timeout,
                    )
                return await self._checked(response, path)

        else:
            extensions = self._poll_extensions if long_poll else self._extensions

            def factory(client: httpx.AsyncClient) -> httpx.Request:
                # Built whole, not by client.build_request: that parses the URL and merges
                # the client's headers and (empty) cookie jar again on every call, several
                # times the cost of the request itself (each poll of every bot pays it).
                return httpx.Request(
                    "POST",
                    _parsed_url(url),
                    content=content.reveal(),
                    headers=self._json_headers | cookie_header(token_id),
                    extensions=extensions,
                )

            async def opener() -> WireResponse:
                return await self._open(factory, endpoint=path, long_poll=long_poll)

        raw = await self._send(opener, endpoint=path, idempotent=idempotent, long_poll=long_poll)
        return self._json_result(raw, endpoint=path)

    async def upload(
        self,
        path: str,
        files: Sequence[UploadFile],
        *,
        ticket: str | Secret[str] | None,
        token_id: str | Secret[str] | None,
        idempotent: bool = True,
    ) -> TransportResult:
        """Upload ``files`` as ``multipart/form-data`` (field ``files``) to ``/api/{path}``.

        The ticket goes in the query string (``?ticket=``), the cookie as usual. Content is
        streamed, never read whole into memory. Retried (when ``idempotent``) only if every
        file's content can be replayed: an async iterator is consumed by the first attempt.
        The total deadline grows by one second per 256 KiB of known content.

        Returns:
            The decoded answer, e.g. ``{"files": [{"file_id": ..., "upload_url": ...}]}``.
        """
        ticket, token_id = Secret.wrap(ticket), Secret.wrap(token_id)
        self._check_open()
        check_path(path)
        check_token(token_id)
        _remember(ticket, token_id)
        if not files:
            raise UsageError("upload needs at least one file")
        body = Multipart({}, files)
        headers = await self._multipart_headers(body)
        url = self._api_base + path

        def factory(client: httpx.AsyncClient) -> httpx.Request:
            return client.build_request(
                "POST",
                url,
                params=None if ticket is None else {"ticket": ticket.reveal()},
                content=body.stream(),
                headers=headers | cookie_header(token_id),
            )

        async def opener() -> WireResponse:
            return await self._open(factory, endpoint=path, long_poll=False)

        raw = await self._send(
            opener,
            endpoint=path,
            idempotent=idempotent and body.replayable,
            long_poll=False,
            extra_seconds=_upload_allowance(headers),
        )
        return self._json_result(raw, endpoint=path)

    async def post_hook(
        self,
        url: str | Secret[str],
        data: Mapping[str, Any],
        *,
        files: Sequence[UploadFile] | None = None,
    ) -> None:
        """Post into a conversation through its hook URL (no authentication).

        Sends ``data`` as JSON (``{"message": ..., "user": ...}``), or as multipart form fields
        with ``files`` attached. Never retried: a repeat would post the message twice. The hook
        URL is a secret and appears in no log line, error message or traceback local.
        """
        url = Secret.of(url)
        self._check_open()
        _remember(url)
        target = Secret(str(self._resolve(url.reveal(), what="hook URL")))
        endpoint = "hook"
        if files:
            body = Multipart(data, files)
            headers = await self._multipart_headers(body)

            def factory(client: httpx.AsyncClient) -> httpx.Request:
                return client.build_request(
                    "POST", target.reveal(), content=body.stream(), headers=headers
                )

        else:
            content = _encode_json(dict(data), what="the hook data")

            def factory(client: httpx.AsyncClient) -> httpx.Request:
                return client.build_request(
                    "POST",
                    target.reveal(),
                    content=content.reveal(),
                    headers={"Content-Type": "application/json"},
                )

        async def opener() -> WireResponse:
            return await self._open(factory, endpoint=endpoint, long_poll=False)

        await self._send(opener, endpoint=endpoint, idempotent=False, long_poll=False)

    @contextlib.asynccontextmanager
    async def stream_get(
        self, url_or_path: str, *, token_id: str | Secret[str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Download a file: an async context manager yielding the streaming response.

        ``url_or_path`` is a ``/file/...`` path (resolved against ``base_url``) or an absolute
        URL. The ``token_id`` cookie is sent only to ``base_url``'s own origin, never to a
        foreign host (including after a redirect). No size limit applies: read the body with
        ``response.aiter_bytes()``; httpx errors raised while reading are wrapped as usual.
        The file is asked for without compression; a stacked or unknown ``Content-Encoding``
        is refused (``DecodeError``) before the body is read. The total deadline covers the
        redirects and the response head; reading the body is up to the caller.
        """
        token_id = Secret.wrap(token_id)
        self._check_open()
        check_token(token_id)
        _remember(token_id)
        start = self._resolve(url_or_path, what="download URL")
        endpoint = redact(start.path)

        async def attempt() -> httpx.Response:
            target = start
            with deadline(self._deadline, endpoint=endpoint):
                for _ in range(_MAX_REDIRECTS + 1):
                    own = origin(target) == origin(self._base_url)

                    def factory(
                        client: httpx.AsyncClient, target: httpx.URL = target, own: bool = own
                    ) -> httpx.Request:
                        # Ask for the file as it is: its bytes are the point, not a coding.
                        headers = {"Accept-Encoding": "identity"}
                        if own:
                            headers |= cookie_header(token_id)
                        return client.build_request("GET", target, headers=headers)

                    response = await self._open(
                        factory, endpoint=endpoint, long_poll=False, redirects_ok=True
                    )
                    if not response.is_redirect:
                        try:
                            check_content_encoding(response, endpoint=endpoint)
                        except DecodeError:
                            await _close(response)
                            raise
                        return response
                    location = response.headers.get("location", "")
                    await _close(response)
                    target = target.join(location)
                    check_scheme(
                        target, allow_insecure_http=self._allow_insecure_http, what="redirect"
                    )
            raise TransportError(f"too many redirects on {endpoint}", endpoint=endpoint)

        response = await self._with_retries(attempt, endpoint=endpoint, idempotent=True)
        try:
            with wrap_httpx(endpoint):
                yield response
        finally:
            await _close(response)

    # -- the shared path -----------------------------------------------------------------

    async def _send(
        self,
        opener: _Opener,
        *,
        endpoint: str,
        idempotent: bool,
        long_poll: bool,
        extra_seconds: float = 0.0,
    ) -> _Raw:
        """Send with retries and read the whole (size-limited) body of a 2xx answer.

        Each attempt of a non-poll call has a total deadline (connect, send, full body).
        """
        limit = None if long_poll else self._deadline + extra_seconds

        async def attempt() -> _Raw:
            with deadline(limit, endpoint=endpoint):
                response = await opener()
                try:
                    content = await self._read_success_body(response, endpoint)
                finally:
                    await _close(response)
            if logger.isEnabledFor(logging.DEBUG):  # redact() is not free: not on every call
                logger.debug(
                    "POST %s -> %d (%d bytes)", redact(endpoint), response.status_code, len(content)
                )
            return _Raw(response.status_code, response.headers, content)

        return await self._with_retries(attempt, endpoint=endpoint, idempotent=idempotent)

    async def _with_retries(
        self, attempt: Callable[[], Awaitable[_T]], *, endpoint: str, idempotent: bool
    ) -> _T:
        number = 1
        while True:
            try:
                return await attempt()
            except FleepError as exc:
                if number >= self._retry.max_attempts or not self._retry.should_retry(
                    exc, idempotent=idempotent
                ):
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
                delay = self._retry.delay(number, retry_after)
                logger.info(
                    "retrying %s in %.2fs after attempt %d/%d failed: %s",
                    redact(endpoint),
                    delay,
                    number,
                    self._retry.max_attempts,
                    exc,
                )
            # Sleep outside the except block so later errors do not chain this one.
            await self._sleep(delay)
            number += 1

    async def _open(
        self,
        factory: _RequestFactory,
        *,
        endpoint: str,
        long_poll: bool,
        redirects_ok: bool = False,
    ) -> httpx.Response:
        """One attempt: send and return the open response if 2xx, else raise the typed error."""
        client = self._poll_client if long_poll else self._client
        with wrap_httpx(endpoint):
            # The request is never bound to a local here: its URL or body may hold a secret.
            response = await client.send(_build(factory, client), stream=True)
        return await self._checked(response, endpoint, redirects_ok=redirects_ok)

    async def _checked(self, response: _R, endpoint: str, *, redirects_ok: bool = False) -> _R:
        """``response`` if 2xx (or a redirect, when ``redirects_ok``); else the typed error."""
        if response.is_success or (redirects_ok and response.is_redirect):
            return response
        try:
            error = await self._error_from(response, endpoint)
        finally:
            await _close(response)
        raise error

    async def _error_from(self, response: WireResponse, endpoint: str) -> FleepAPIError:
        try:
            with wrap_httpx(endpoint):
                content, _ = await read_limited(response, _ERROR_BODY_LIMIT, endpoint=endpoint)
        except DecodeError:
            content = None  # a refused or corrupt coding: the status alone decides
        body: object = None
        if content:
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                body = None  # an HTML page from a proxy: the status alone decides
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = classify(response.status_code, body, endpoint=endpoint, retry_after=retry_after)
        logger.debug(
            "%s -> %d (%s)",
            redact(endpoint),
            response.status_code,
            error.error_id,
        )
        return error

    async def _read_success_body(self, response: WireResponse, endpoint: str) -> bytes:
        limit = self._max_response_bytes
        # Content-Length is the compressed size: if even that is too big, refuse unread.
        declared = response.headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(limit=limit, size=int(declared), endpoint=endpoint)
        # Counting the decoded bytes also stops a small gzip body that inflates without bound.
        with wrap_httpx(endpoint):
            content, total = await read_limited(response, limit, endpoint=endpoint)
        if content is None:
            raise ResponseTooLargeError(limit=limit, size=total, endpoint=endpoint)
        return content

    # -- helpers ---------------------------------------------------------------------------

    def _json_result(self, raw: _Raw, *, endpoint: str) -> TransportResult:
        # The cookie first: an invalid one must fail before the body (a login answer holds the
        # ticket) is bound to a local of this frame.
        token_id, invalid = token_from_set_cookie(raw.headers)
        if invalid:
            raise invalid_token(endpoint)
        _remember(token_id)
        data: Any
        if not raw.content.strip():
            data = {}  # logout and hooks may answer 200 with an empty body
        else:
            try:
                data = orjson.loads(raw.content)
            except orjson.JSONDecodeError as exc:
                raise DecodeError(
                    "the response is not JSON",
                    excerpt=raw.content,
                    endpoint=endpoint,
                    status_code=raw.status_code,
                ) from exc
        # Any JSON value passes: whether it fits is the caller's (the result type's) business.
        return TransportResult(
            data=data,
            status_code=raw.status_code,
            token_id=None if token_id is None else token_id.reveal(),
        )

    async def _multipart_headers(self, body: Multipart) -> dict[str, str]:
        headers = {"Content-Type": body.content_type, "Accept": "application/json"}
        length = await body.length()
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the transport is closed")

    def _resolve(self, url_or_path: str, *, what: str) -> httpx.URL:
        try:
            url = httpx.URL(url_or_path)
        except httpx.InvalidURL as exc:
            raise UsageError(f"{what} is not a valid URL") from detached(exc)
        if not url.is_absolute_url:
            if not url_or_path.startswith("/"):
                raise UsageError(f"{what} must be absolute or start with '/'")
            url = self._base_url.join(url_or_path)
        check_scheme(url, allow_insecure_http=self._allow_insecure_http, what=what)
        return url


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, parsed once per API URL (a poll's is the same every time)."""
    return httpx.URL(url)


def _build(factory: _RequestFactory, client: httpx.AsyncClient) -> httpx.Request:
    """Build the request; a header that cannot be encoded is a typed error naming no value."""
    try:
        return factory(client)
    except UnicodeError:
        # Not chained: a UnicodeEncodeError's args hold the whole text it failed on.
        raise UsageError(
            "a request header holds characters that cannot be sent (non-ASCII)"
        ) from None


async def _close(response: WireResponse) -> None:
    close_now: Callable[[], None] | None = getattr(response, "close_now", None)
    if close_now is not None:
        close_now()  # a wire response that lets its connection go without waiting
        return
    # Shielded: a call cancelled by its deadline (or its caller) still releases the connection.
    with anyio.CancelScope(shield=True):
        await response.aclose()


def _reveal(value: object) -> object:
    if isinstance(value, Secret):
        return value.reveal()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _encode_json(fields: Mapping[str, Any], *, what: str) -> Secret[bytes]:
    """The JSON body, held as a secret (it may carry the ticket or the password)."""
    try:
        return Secret(orjson.dumps(fields, default=_reveal))
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise UsageError(f"{what} cannot be encoded as JSON: {exc}") from detached(exc)


def _remember(*values: object) -> None:
    """Register the secret values of a call with the HTTP log filters (see _redaction)."""
    for value in values:
        if isinstance(value, Secret):
            revealed = value.reveal()
            if isinstance(revealed, str):
                remember_secret(revealed)


# An upload's deadline grows with its size: a large file on a slow link is not a stuck server.
_UPLOAD_BYTES_PER_SECOND: Final = 256 * 1024


def _upload_allowance(headers: Mapping[str, str]) -> float:
    length = headers.get("Content-Length", "")
    return int(length) / _UPLOAD_BYTES_PER_SECOND if length.isdigit() else 0.0
