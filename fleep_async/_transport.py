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
import email.utils
import functools
import ipaddress
import logging
import math
import mimetypes
import os
import re
import secrets
import ssl
import time
import zlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import UTC
from http.cookiejar import Cookie, CookieJar
from typing import Any, Final, TypeVar
from urllib.request import Request as _UrllibRequest

import anyio
import attrs
import httpx
import orjson

from fleep_async._retry import RetryPolicy, Sleep, default_sleep
from fleep_async._version import __version__
from fleep_async.errors import (
    DecodeError,
    FleepAPIError,
    FleepError,
    FleepTimeoutError,
    RateLimitError,
    ResponseTooLargeError,
    TransportError,
    UsageError,
    classify,
    redact,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Transport", "TransportResult", "UploadFile"]

logger = logging.getLogger("fleep_async.transport")


class _RedactingFilter(logging.Filter):
    """Scrubs secrets from the log lines of the HTTP libraries underneath.

    httpx logs every request URL at INFO (an upload URL carries ``?ticket=``, a hook URL is a
    secret by itself); httpcore logs every response's headers at DEBUG, ``Set-Cookie: token_id``
    included; hpack (HTTP/2) logs headers at DEBUG, ``Cookie`` included. We cannot change what
    they log, so we clean each record on its logger: the message is formatted, scrubbed and kept
    without args, because an arg of any type (a list of header tuples, say) may hold a secret.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its args rather than let them through
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        return True


# A logger's filters see only the records of that exact logger, not of its children, so every
# logger that may carry a secret is named here.
_HTTP_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack.hpack",
    "hpack.table",
)


def _install_httpx_filter() -> None:
    for name in _HTTP_LOGGERS:
        http_logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in http_logger.filters):
            http_logger.addFilter(_RedactingFilter())


_install_httpx_filter()


@functools.cache
def _shared_ssl_context(http2: bool) -> ssl.SSLContext:
    """One default TLS context per process (and per ALPN setting), shared by every client.

    httpx builds a context per ``AsyncClient`` unless given one, and loading the CA bundle costs
    about 1 MB of memory and 70 ms of CPU each time: two per ``FleepClient``, which is most of the
    cost of a bot, and the whole of it with a thousand bots in one process. The verification
    settings are httpx's defaults (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), read once.
    Keyed by ``http2`` because httpcore sets the context's ALPN protocols from that flag.
    """
    return httpx.create_ssl_context()


DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""Responses larger than this (64 MiB) are refused unless configured otherwise."""

# Error bodies are only read for their error_id / error_message: a few KiB is plenty, and a
# proxy's huge error page is then classified by its status alone.
_ERROR_BODY_LIMIT: Final = 64 * 1024
_MAX_REDIRECTS: Final = 5
_READ_CHUNK: Final = 64 * 1024

# An API path as the endpoint registry spells it: "account/login", "message/send/<uuid>",
# "file/upload/". No leading slash, no query, no "..": anything else is a bug in the caller.
_PATH_RE: Final = re.compile(r"[A-Za-z0-9_\-.~]+(?:/[A-Za-z0-9_\-.~]+)*/?")

_T = TypeVar("_T")
_RequestFactory = Callable[[httpx.AsyncClient], httpx.Request]


@attrs.frozen(kw_only=True)
class TransportResult:
    """A successful API response.

    Attributes:
        data: the decoded JSON object (``{}`` for an empty body).
        status_code: the HTTP status (2xx).
        token_id: the ``token_id`` the server set in ``Set-Cookie``, or ``None`` if it set none.
    """

    data: dict[str, Any] = attrs.field(repr=False)
    status_code: int = 200
    token_id: str | None = attrs.field(
        default=None, repr=lambda value: "None" if value is None else "'***'"
    )


UploadContent = bytes | os.PathLike[str] | AsyncIterable[bytes]


def _check_upload_content(_inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str):
        raise UsageError("UploadFile.content: pass bytes, a pathlib.Path or an async byte iterator")
    if not isinstance(value, bytes | bytearray | memoryview | os.PathLike | AsyncIterable):
        raise UsageError(f"UploadFile.content: unsupported type {type(value).__name__}")


@attrs.frozen(kw_only=True)
class UploadFile:
    """A file to upload.

    Attributes:
        name: the file name Fleep shows.
        content: the bytes, a path to read them from, or an async iterator of chunks (streamed
            once: an upload from an iterator is never retried).
        content_type: the MIME type; guessed from ``name`` when ``None``.
    """

    name: str
    content: UploadContent = attrs.field(repr=False, validator=_check_upload_content)
    content_type: str | None = None

    @property
    def replayable(self) -> bool:
        """Whether the content can be sent again (bytes or a path, not an iterator)."""
        return isinstance(self.content, bytes | bytearray | memoryview | os.PathLike)

    @property
    def resolved_content_type(self) -> str:
        """``content_type``, or a guess from the name, or ``application/octet-stream``."""
        if self.content_type:
            return self.content_type
        guess, _ = mimetypes.guess_type(self.name, strict=False)
        return guess or "application/octet-stream"


class _NoCookieJar(CookieJar):
    """A jar that keeps nothing: cookies are strictly per call (accounts may share a transport)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return

    def extract_cookies(self, response: Any, request: _UrllibRequest) -> None:
        return


@attrs.frozen
class _Raw:
    status_code: int
    headers: httpx.Headers
    content: bytes


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_scheme(url: httpx.URL, *, allow_insecure_http: bool, what: str) -> None:
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


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default_port)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable; never a negative number.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _token_from_set_cookie(headers: httpx.Headers) -> str | None:
    token: str | None = None
    for header in headers.get_list("set-cookie"):
        name, sep, rest = header.partition("=")
        if sep and name.strip() == "token_id":
            value = rest.split(";", 1)[0].strip().strip('"')
            if value:
                token = value
    return token


@contextlib.contextmanager
def _wrap_httpx(endpoint: str) -> Iterator[None]:
    """Turn httpx exceptions into ours; nothing from httpx crosses the public boundary."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FleepTimeoutError(f"{type(exc).__name__} on {endpoint}", endpoint=endpoint) from exc
    except httpx.DecodingError as exc:
        raise DecodeError("the response body could not be decompressed", endpoint=endpoint) from exc
    except httpx.RequestError as exc:
        detail = str(exc) or type(exc).__name__
        raise TransportError(
            f"{type(exc).__name__} on {endpoint}: {detail}", endpoint=endpoint
        ) from exc


# Encodings inflated here rather than by httpx (value: zlib's wbits). httpx inflates each network
# chunk whole before anyone can count it: 64 KiB of gzip'd zeros is 64 MiB in memory at once, so a
# small hostile body could exhaust memory before the size limit saw a byte. We inflate at most the
# bytes still allowed (plus one, to notice the excess).
_INFLATE: Final = {
    "gzip": zlib.MAX_WBITS | 16,
    "x-gzip": zlib.MAX_WBITS | 16,
    "deflate": zlib.MAX_WBITS,
}


class _Inflater:
    """A gzip/deflate decoder whose output per call is capped (see ``_INFLATE``)."""

    def __init__(self, encoding: str) -> None:
        self._inflater = zlib.decompressobj(_INFLATE[encoding])
        # Some servers send raw deflate without the zlib header; httpx accepts both, so do we.
        self._raw_deflate_fallback = encoding == "deflate"

    def inflate(self, data: bytes, max_length: int) -> bytes:
        """Up to ``max_length`` bytes of output; less means all of ``data`` was consumed."""
        try:
            out = self._inflater.decompress(data, max_length)
        except zlib.error as exc:
            if self._raw_deflate_fallback:
                self._raw_deflate_fallback = False
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.inflate(data, max_length)
            # The same exception httpx's decoder raises, so _wrap_httpx maps it to DecodeError.
            raise httpx.DecodingError(str(exc)) from exc
        if data:
            self._raw_deflate_fallback = False
        return out

    def flush(self) -> bytes:
        """Whatever output is still buffered at the end of the body."""
        try:
            return self._inflater.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc


async def _read_limited(response: httpx.Response, limit: int) -> tuple[bytes | None, int]:
    """Read the decoded body: ``(body, size)``, or ``(None, size)`` once it exceeds ``limit``.

    Reading stops at the first chunk past the limit. A gzip or deflate body is never inflated
    beyond ``limit + 1`` bytes, whatever its compression ratio.
    """
    chunks: list[bytes] = []
    total = 0
    encoding = response.headers.get("content-encoding", "").strip().lower()
    # A response built from bytes in memory (a mock transport) was decoded when it was made.
    if encoding not in _INFLATE or response.is_stream_consumed:
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > limit:
                return None, total
            chunks.append(chunk)
        return b"".join(chunks), total
    inflater = _Inflater(encoding)
    async for data in response.aiter_raw():
        chunk = inflater.inflate(data, limit - total + 1)
        total += len(chunk)
        if total > limit:
            return None, total
        chunks.append(chunk)
    chunk = inflater.flush()
    total += len(chunk)
    if total > limit:
        return None, total
    chunks.append(chunk)
    return b"".join(chunks), total


def _quote_disposition(value: str) -> str:
    # The WHATWG form-data rule: percent-escape the three characters that would break the header.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part_head(
    boundary: str, name: str, *, filename: str | None, content_type: str | None
) -> bytes:
    disposition = f'form-data; name="{_quote_disposition(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote_disposition(filename)}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {_quote_disposition(content_type)}\r\n"
    return (head + "\r\n").encode("utf-8")


async def _content_size(content: UploadContent) -> int | None:
    if isinstance(content, bytes | bytearray | memoryview):
        return len(content)
    if isinstance(content, os.PathLike):
        try:
            return (await anyio.Path(os.fspath(content)).stat()).st_size
        except OSError as exc:
            raise UsageError(f"cannot read the upload file: {exc.strerror}") from exc
    return None


async def _content_chunks(content: UploadContent) -> AsyncIterator[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        yield bytes(content)
    elif isinstance(content, os.PathLike):
        async with await anyio.open_file(os.fspath(content), "rb") as handle:
            while chunk := await handle.read(_READ_CHUNK):
                yield chunk
    else:
        async for chunk in content:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise UsageError("an upload iterator must yield bytes")
            yield bytes(chunk)


class _Multipart:
    """A streaming multipart/form-data body (httpx cannot stream async sources into one)."""

    def __init__(self, fields: Mapping[str, Any], files: Sequence[UploadFile]) -> None:
        self.boundary = secrets.token_hex(16)
        self._fields = [(str(key), str(value)) for key, value in fields.items()]
        self._files = list(files)

    @property
    def replayable(self) -> bool:
        return all(file.replayable for file in self._files)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_bytes(self, key: str, value: str) -> bytes:
        head = _part_head(self.boundary, key, filename=None, content_type=None)
        return head + value.encode("utf-8") + b"\r\n"

    def _file_head(self, file: UploadFile) -> bytes:
        return _part_head(
            self.boundary, "files", filename=file.name, content_type=file.resolved_content_type
        )

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    async def length(self) -> int | None:
        """The body's byte length, or ``None`` when a part's size is unknown (chunked)."""
        total = sum(len(self._field_bytes(key, value)) for key, value in self._fields)
        for file in self._files:
            size = await _content_size(file.content)
            if size is None:
                return None
            total += len(self._file_head(file)) + size + 2
        return total + len(self._tail())

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body; each call starts over (replayable sources only)."""
        for key, value in self._fields:
            yield self._field_bytes(key, value)
        for file in self._files:
            yield self._file_head(file)
            async for chunk in _content_chunks(file.content):
                yield chunk
            yield b"\r\n"
        yield self._tail()


class Transport:
    """Sends requests to Fleep: one POST path with timeouts, size limits, errors and retries.

    Args:
        base_url: the server, ``https://fleep.io`` by default. Plain ``http://`` only to a
            loopback host unless ``allow_insecure_http`` is set.
        timeout: seconds for connect, read, write and pool waits of normal calls.
        poll_timeout: read timeout of long polls; longer than the server's ~90 s hold.
        retry: the retry policy (default: :class:`RetryPolicy` defaults).
        sleep: how to wait between retries (default ``anyio.sleep``).
        max_response_bytes: refuse responses larger than this (decoded size).
        allow_insecure_http: allow plain http to any host (tests against a remote fake only).
        user_agent: the ``User-Agent`` header (default ``fleep-async/<version>``).
        http2: use HTTP/2 (needs the ``h2`` package).
        transport: an httpx transport for normal calls (tests: ``httpx.ASGITransport``).
        poll_transport: an httpx transport for long polls (default: ``transport``).

    Raises:
        UsageError: a bad ``base_url`` or limit.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://fleep.io",
        timeout: float = 30.0,
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
        _check_scheme(url, allow_insecure_http=allow_insecure_http, what="base_url")
        if not (timeout > 0 and poll_timeout > 0):
            raise UsageError("timeout and poll_timeout must be positive")
        if max_response_bytes < 1:
            raise UsageError("max_response_bytes must be positive")

        self._base_url = url.copy_with(path=url.path.rstrip("/"))
        self._api_base = str(self._base_url) + "/api/"
        self._allow_insecure_http = allow_insecure_http
        self._retry = retry if retry is not None else RetryPolicy()
        self._sleep: Sleep = sleep if sleep is not None else default_sleep
        self._max_response_bytes = max_response_bytes
        self._closed = False

        headers = {
            "User-Agent": user_agent or f"fleep-async/{__version__}",
            # Fleep compresses only when asked; httpx decompresses transparently.
            "Accept-Encoding": "gzip",
        }
        # Unused when a transport is given (httpx then makes no context of its own).
        ssl_context = _shared_ssl_context(http2)
        try:
            self._client = httpx.AsyncClient(
                verify=ssl_context,
                timeout=httpx.Timeout(timeout),
                headers=headers,
                cookies=_NoCookieJar(),
                follow_redirects=False,
                http2=http2,
                transport=transport,
            )
            self._poll_client = httpx.AsyncClient(
                verify=ssl_context,
                timeout=httpx.Timeout(timeout, read=poll_timeout),
                headers=headers,
                cookies=_NoCookieJar(),
                follow_redirects=False,
                http2=http2,
                transport=poll_transport if poll_transport is not None else transport,
            )
        except ImportError as exc:
            raise UsageError(
                "http2=True needs the 'h2' package (pip install httpx[http2])"
            ) from exc

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

    async def post_json(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        ticket: str | None = None,
        token_id: str | None = None,
        idempotent: bool = False,
        long_poll: bool = False,
    ) -> TransportResult:
        """``POST {base_url}/api/{path}`` with a JSON body and decode the JSON answer.

        Args:
            path: the API path, e.g. ``"message/send/<conversation_id>"`` (no leading slash).
            body: the JSON fields; ``ticket`` is added when given.
            ticket: the session ticket, or ``None`` for unauthenticated calls.
            token_id: the session cookie, sent as ``Cookie: token_id=...``.
            idempotent: whether the call may be repeated after a failure (see ``RetryPolicy``).
            long_poll: use the long-poll connection pool and read timeout.

        Returns:
            The decoded object and any rotated ``token_id``.

        Raises:
            FleepAPIError: (a subclass of) for an error status.
            TransportError: the network failed (after retries).
            ResponseTooLargeError: the answer exceeded ``max_response_bytes``.
            DecodeError: a 2xx answer that is not a JSON object.
            UsageError: a bad path, or a body that cannot be encoded as JSON.
        """
        self._check_open()
        self._check_path(path)
        payload = dict(body) if body is not None else {}
        if ticket is not None:
            payload["ticket"] = ticket
        try:
            content = orjson.dumps(payload)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise UsageError(f"the body of {path} cannot be encoded as JSON: {exc}") from exc
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token_id:
            headers["Cookie"] = f"token_id={token_id}"
        url = self._api_base + path

        def factory(client: httpx.AsyncClient) -> httpx.Request:
            return client.build_request("POST", url, content=content, headers=headers)

        raw = await self._send(factory, endpoint=path, idempotent=idempotent, long_poll=long_poll)
        return self._json_result(raw, endpoint=path)

    async def upload(
        self,
        path: str,
        files: Sequence[UploadFile],
        *,
        ticket: str | None,
        token_id: str | None,
        idempotent: bool = True,
    ) -> TransportResult:
        """Upload ``files`` as ``multipart/form-data`` (field ``files``) to ``/api/{path}``.

        The ticket goes in the query string (``?ticket=``), the cookie as usual. Content is
        streamed, never read whole into memory. Retried (when ``idempotent``) only if every
        file's content can be replayed: an async iterator is consumed by the first attempt.

        Returns:
            The decoded answer, e.g. ``{"files": [{"file_id": ..., "upload_url": ...}]}``.
        """
        self._check_open()
        self._check_path(path)
        if not files:
            raise UsageError("upload needs at least one file")
        body = _Multipart({}, files)
        headers = await self._multipart_headers(body)
        if token_id:
            headers["Cookie"] = f"token_id={token_id}"
        url = self._api_base + path
        params = {"ticket": ticket} if ticket is not None else None

        def factory(client: httpx.AsyncClient) -> httpx.Request:
            return client.build_request(
                "POST", url, params=params, content=body.stream(), headers=headers
            )

        raw = await self._send(
            factory, endpoint=path, idempotent=idempotent and body.replayable, long_poll=False
        )
        return self._json_result(raw, endpoint=path)

    async def post_hook(
        self,
        url: str,
        data: Mapping[str, Any],
        *,
        files: Sequence[UploadFile] | None = None,
    ) -> None:
        """Post into a conversation through its hook URL (no authentication).

        Sends ``data`` as JSON (``{"message": ..., "user": ...}``), or as multipart form fields
        with ``files`` attached. Never retried: a repeat would post the message twice. The hook
        URL is a secret and appears in no log line or error message.
        """
        self._check_open()
        target = self._resolve(url, what="hook URL")
        endpoint = "hook"
        headers: dict[str, str]
        if files:
            body = _Multipart(data, files)
            headers = await self._multipart_headers(body)

            def factory(client: httpx.AsyncClient) -> httpx.Request:
                return client.build_request("POST", target, content=body.stream(), headers=headers)

        else:
            try:
                content = orjson.dumps(dict(data))
            except TypeError as exc:
                raise UsageError(f"the hook data cannot be encoded as JSON: {exc}") from exc
            headers = {"Content-Type": "application/json"}

            def factory(client: httpx.AsyncClient) -> httpx.Request:
                return client.build_request("POST", target, content=content, headers=headers)

        await self._send(factory, endpoint=endpoint, idempotent=False, long_poll=False)

    @contextlib.asynccontextmanager
    async def stream_get(
        self, url_or_path: str, *, token_id: str | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Download a file: an async context manager yielding the streaming response.

        ``url_or_path`` is a ``/file/...`` path (resolved against ``base_url``) or an absolute
        URL. The ``token_id`` cookie is sent only to ``base_url``'s own origin, never to a
        foreign host (including after a redirect). No size limit applies: read the body with
        ``response.aiter_bytes()``; httpx errors raised while reading are wrapped as usual.
        """
        self._check_open()
        start = self._resolve(url_or_path, what="download URL")
        endpoint = redact(start.path)

        async def attempt() -> httpx.Response:
            target = start
            for _ in range(_MAX_REDIRECTS + 1):
                headers: dict[str, str] = {}
                if token_id and _origin(target) == _origin(self._base_url):
                    headers["Cookie"] = f"token_id={token_id}"

                def factory(
                    client: httpx.AsyncClient,
                    target: httpx.URL = target,
                    headers: dict[str, str] = headers,
                ) -> httpx.Request:
                    return client.build_request("GET", target, headers=headers)

                response = await self._open(
                    factory, endpoint=endpoint, long_poll=False, redirects_ok=True
                )
                if not response.is_redirect:
                    return response
                location = response.headers.get("location", "")
                await response.aclose()
                target = target.join(location)
                _check_scheme(
                    target, allow_insecure_http=self._allow_insecure_http, what="redirect"
                )
            raise TransportError(f"too many redirects on {endpoint}", endpoint=endpoint)

        response = await self._with_retries(attempt, endpoint=endpoint, idempotent=True)
        try:
            with _wrap_httpx(endpoint):
                yield response
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    # -- the shared path -----------------------------------------------------------------

    async def _send(
        self, factory: _RequestFactory, *, endpoint: str, idempotent: bool, long_poll: bool
    ) -> _Raw:
        """Send with retries and read the whole (size-limited) body of a 2xx answer."""

        async def attempt() -> _Raw:
            response = await self._open(factory, endpoint=endpoint, long_poll=long_poll)
            try:
                with _wrap_httpx(endpoint):
                    content = await self._read_success_body(response, endpoint)
            finally:
                await response.aclose()
            logger.debug(
                "%s %s -> %d (%d bytes)",
                response.request.method,
                redact(endpoint),
                response.status_code,
                len(content),
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
        with _wrap_httpx(endpoint):
            request = factory(client)
            response = await client.send(request, stream=True)
        if response.is_success or (redirects_ok and response.is_redirect):
            return response
        try:
            error = await self._error_from(response, endpoint)
        finally:
            await response.aclose()
        raise error

    async def _error_from(self, response: httpx.Response, endpoint: str) -> FleepAPIError:
        with _wrap_httpx(endpoint):
            content = await self._read_capped(response, _ERROR_BODY_LIMIT)
        body: object = None
        if content:
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                body = None  # an HTML page from a proxy: the status alone decides
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = classify(response.status_code, body, endpoint=endpoint, retry_after=retry_after)
        logger.debug(
            "%s %s -> %d (%s)",
            response.request.method,
            redact(endpoint),
            response.status_code,
            error.error_id,
        )
        return error

    async def _read_capped(self, response: httpx.Response, limit: int) -> bytes | None:
        """The body, or ``None`` as soon as it exceeds ``limit`` bytes."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        content, _ = await _read_limited(response, limit)
        return content

    async def _read_success_body(self, response: httpx.Response, endpoint: str) -> bytes:
        limit = self._max_response_bytes
        # Content-Length is the compressed size: if even that is too big, refuse unread.
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(limit=limit, size=int(declared), endpoint=endpoint)
        # Counting the decoded bytes also stops a small gzip body that inflates without bound.
        content, total = await _read_limited(response, limit)
        if content is None:
            raise ResponseTooLargeError(limit=limit, size=total, endpoint=endpoint)
        return content

    # -- helpers ---------------------------------------------------------------------------

    def _json_result(self, raw: _Raw, *, endpoint: str) -> TransportResult:
        data: object
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
        if not isinstance(data, dict):
            raise DecodeError(
                f"expected a JSON object, got {type(data).__name__}",
                endpoint=endpoint,
                status_code=raw.status_code,
            )
        return TransportResult(
            data=data,
            status_code=raw.status_code,
            token_id=_token_from_set_cookie(raw.headers),
        )

    async def _multipart_headers(self, body: _Multipart) -> dict[str, str]:
        headers = {"Content-Type": body.content_type, "Accept": "application/json"}
        length = await body.length()
        if length is not None:
            headers["Content-Length"] = str(length)
        return headers

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the transport is closed")

    @staticmethod
    def _check_path(path: str) -> None:
        if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
            raise UsageError(
                f"bad API path {path!r}: expected e.g. 'message/send/<conversation_id>' "
                "(no leading slash, no query string)"
            )
        if any(segment in {".", ".."} for segment in path.split("/")):
            raise UsageError(f"bad API path {path!r}: '.' and '..' segments are not allowed")

    def _resolve(self, url_or_path: str, *, what: str) -> httpx.URL:
        try:
            url = httpx.URL(url_or_path)
        except httpx.InvalidURL as exc:
            raise UsageError(f"{what} is not a valid URL") from exc
        if not url.is_absolute_url:
            if not url_or_path.startswith("/"):
                raise UsageError(f"{what} must be absolute or start with '/'")
            url = self._base_url.join(url_or_path)
        _check_scheme(url, allow_insecure_http=self._allow_insecure_http, what=what)
        return url
