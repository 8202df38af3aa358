"""The exceptions fleep-async raises, and how server errors are classified.

::

    FleepError                       base of everything this library raises
    ├── TransportError               the network failed (wraps httpx errors)
    │   └── FleepTimeoutError        connect / read / write / pool timeout
    ├── FleepAPIError                the server answered with an error status
    │   ├── AuthenticationError      401, or a failed login
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404, or error_id "not_found" (Fleep sends it with 430)
    │   ├── InvalidRequestError      400
    │   ├── ConflictError            409 (edit conflict)
    │   ├── RateLimitError           429 (.retry_after)
    │   ├── BusinessRuleError        430-439 (Fleep's "business logic" family)
    │   ├── ServerError              5xx (except 507)
    │   └── StorageQuotaError        507 (quota full: retrying does not help)
    ├── ResponseTooLargeError        a response exceeded ``max_response_bytes``
    ├── DecodeError                  bad JSON, a record or a checkpoint that cannot be decoded
    ├── StoreLockedError             a checkpoint store is owned by another engine (process)
    │   └── FencedError              a fenced KV write lost: another process took over (also
    │                                a ClusterError)
    ├── ClusterError                 the NATS JetStream tier (``fleep_async.cluster``) failed
    │   └── ClusterUnavailableError  NATS cannot be reached, or JetStream is not enabled
    └── UsageError (also ValueError) bad arguments, raised before any request

Classification (:func:`classify`) looks at the ``error_id`` first, then the HTTP status, and falls
back to :class:`FleepAPIError`; except that a 5xx or 429 status always decides (whatever the
``error_id`` says, the server failed or asked us to slow down: the answer is retryable). No
httpx or cattrs exception crosses the public boundary: they are wrapped with
``raise ... from exc``.

Secrets (password, ticket, token_id, hook keys) never appear in an exception's ``str`` or
``repr``: every text that reaches one passes through :func:`redact`. A :class:`Redactor` also
scrubs secrets that are known by value (the current ticket, say) and carry no recognisable shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "AuthenticationError",
    "BusinessRuleError",
    "ClusterError",
    "ClusterUnavailableError",
    "ConflictError",
    "DecodeError",
    "FencedError",
    "FleepAPIError",
    "FleepError",
    "FleepTimeoutError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Redactor",
    "ResponseTooLargeError",
    "ServerError",
    "StorageQuotaError",
    "StoreLockedError",
    "TransportError",
    "UsageError",
    "classify",
    "redact",
]

REDACTED: Final = "***"

# Shapes of secrets that can be recognised without knowing their value. Each pattern keeps the
# key (group 1) and any closing quote (group 2) and replaces only the value, so a redacted line
# still says what was there.
_PATTERNS: Final[tuple[re.Pattern[str], ...]] = (
    # hook URLs: https://fleep.io/hook/<key> (the key alone lets anyone post as the hook)
    re.compile(r"(\bhook/)[^/?#\s\"'<>]+()"),
    # cookies in the quoted form RFC 6265 allows, with optional spaces: token_id = "..."
    re.compile(r"(?i)(\b(?:ticket|token_id|password|hook_key)\s*=\s*\")[^\"]*(\"|\Z)"),
    # query strings, cookies and form bodies: ticket=..., token_id = ..., password=...
    re.compile(r"(?i)(\b(?:ticket|token_id|password|hook_key)\s*=\s*)[^&;\s\"'<>]+()"),
    # JSON / repr of a mapping: "ticket": "...", 'password': '...'; also when the text was cut
    # inside the value (a truncated body): then up to the end of the text.
    re.compile(
        r"(?i)([\"'](?:ticket|token_id|password|hook_key|hook_url)[\"']\s*:\s*[\"'])"
        r"[^\"']*([\"']|\Z)"
    ),
)

# Secrets shorter than this are not scrubbed by value: replacing every "a" in a text would
# destroy it while protecting nothing.
_MIN_SECRET_LEN: Final = 4


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with recognisable secrets and the given ``secrets`` replaced by ``***``.

    Args:
        text: any text that may reach a log line, a repr or an exception message.
        secrets: values known to be secret (a ticket, a token_id, a password).

    Returns:
        The scrubbed text.
    """
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    return text


class Redactor:
    """Scrubs secrets out of strings: known values plus recognisable shapes.

    A session registers its ticket, token_id and password with :meth:`add`; the transport and
    the loggers then pass every text that may leave the library through the redactor.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` so that it is scrubbed from now on (``None`` is ignored)."""
        if secret and len(secret) >= _MIN_SECRET_LEN:
            self._secrets.add(secret)

    def discard(self, secret: str | None) -> None:
        """Forget ``secret`` (when a session is closed)."""
        if secret:
            self._secrets.discard(secret)

    def __call__(self, text: str) -> str:
        """Return ``text`` scrubbed; see :func:`redact`."""
        # Longest first so that a secret containing another one is replaced whole.
        secrets: list[str] = sorted(self._secrets, key=len, reverse=True)
        return redact(text, secrets)

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"


def _clean(text: str | None) -> str | None:
    return None if text is None else redact(text)


class FleepError(Exception):
    """Base class of every exception fleep-async raises."""


class TransportError(FleepError):
    """The request did not get an HTTP answer: connection refused or reset, DNS, TLS, protocol.

    Attributes:
        endpoint: the API path (``account/poll``), or ``None``.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        self.endpoint = _clean(endpoint)
        super().__init__(redact(message))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


class FleepTimeoutError(TransportError):
    """A connect, read, write or pool timeout expired."""


class FleepAPIError(FleepError):
    """The server answered with an error status.

    Attributes:
        status_code: the HTTP status (or the per-request status of a batch result).
        error_id: Fleep's machine-readable id (``"not_found"``), when the body had one.
        error_message: Fleep's human-readable message, when the body had one.
        endpoint: the API path that failed (may contain a conversation id, never a secret).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int,
        error_id: str | None = None,
        error_message: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.error_id = _clean(error_id)
        self.error_message = _clean(error_message)
        self.endpoint = _clean(endpoint)
        self._message = _clean(message)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" on {self.endpoint}" if self.endpoint else ""
        text = f"HTTP {self.status_code}{where}"
        detail = [part for part in (self.error_id, self._message or self.error_message) if part]
        if detail:
            text += ": " + ": ".join(detail)
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"error_id={self.error_id!r}, error_message={self.error_message!r}, "
            f"endpoint={self.endpoint!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


class AuthenticationError(FleepAPIError):
    """The session is not valid (HTTP 401), or the login was refused."""


class PermissionDeniedError(FleepAPIError):
    """Logged in, but not allowed (HTTP 403)."""


class NotFoundError(FleepAPIError):
    """The object does not exist (HTTP 404, or ``error_id`` ``not_found``)."""


class InvalidRequestError(FleepAPIError):
    """Missing or invalid fields (HTTP 400)."""


class ConflictError(FleepAPIError):
    """Edit conflict (HTTP 409)."""


class RateLimitError(FleepAPIError):
    """Too many requests (HTTP 429).

    Attributes:
        retry_after: seconds the server asked us to wait (``Retry-After``), or ``None``.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int = 429,
        error_id: str | None = None,
        error_message: str | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            status_code=status_code,
            error_id=error_id,
            error_message=error_message,
            endpoint=endpoint,
        )


class BusinessRuleError(FleepAPIError):
    """Fleep refused the request by a business rule (HTTP 430-439; the message says what)."""


class ServerError(FleepAPIError):
    """The server (or a proxy in front of it) failed (HTTP 5xx)."""


class StorageQuotaError(FleepAPIError):
    """The account's storage quota is full (HTTP 507). Not retried: waiting does not help."""


class ResponseTooLargeError(FleepError):
    """A response body exceeded the configured ``max_response_bytes``.

    Attributes:
        limit: the configured limit in bytes.
        size: the announced or counted size when refused (at least ``limit + 1``), or ``None``.
        endpoint: the API path, or ``None``.
    """

    def __init__(self, *, limit: int, size: int | None = None, endpoint: str | None = None) -> None:
        self.limit = limit
        self.size = size
        self.endpoint = _clean(endpoint)
        where = f" from {self.endpoint}" if self.endpoint else ""
        got = f" ({size} bytes)" if size is not None else ""
        super().__init__(f"response{where} exceeds the limit of {limit} bytes{got}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


_EXCERPT_LEN: Final = 120


class DecodeError(FleepError):
    """A response was not valid JSON, or a record could not be decoded.

    Only a short, redacted excerpt of the offending data is kept (never the whole body).

    Attributes:
        excerpt: at most 120 characters of the data, secrets scrubbed, or ``None``.
        endpoint: the API path, or ``None``.
        status_code: the HTTP status of the response, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        excerpt: str | bytes | None = None,
        endpoint: str | None = None,
        status_code: int | None = None,
    ) -> None:
        if isinstance(excerpt, bytes):
            excerpt = excerpt[: _EXCERPT_LEN * 4].decode("utf-8", errors="replace")
        if excerpt is not None:
            # Redact before cutting too: a cut could split a secret's key from its value.
            excerpt = redact(redact(excerpt)[:_EXCERPT_LEN])
        self.excerpt = excerpt
        self.endpoint = _clean(endpoint)
        self.status_code = status_code
        super().__init__(redact(message))

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else ""
        if self.endpoint:
            text += f" (from {self.endpoint})"
        if self.excerpt is not None:
            text += f": {self.excerpt!r}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


class UsageError(FleepError, ValueError):
    """The caller passed bad arguments; raised before any request is sent."""


class StoreLockedError(FleepError):
    """A checkpoint store is already owned by another engine, in this process or another.

    Two engines on one store would each handle every record (and overwrite each other's
    horizon), so a store has one owner at a time; the second gets this error when it starts.

    Attributes:
        path: the store's file.
        owner: what is known of the owner (``pid 1234 on host x``), or ``None``.
    """

    def __init__(self, message: str, *, path: str, owner: str | None = None) -> None:
        self.path = path
        self.owner = owner
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


class ClusterError(FleepError):
    """The NATS JetStream tier (:mod:`fleep_async.cluster`) failed."""


class ClusterUnavailableError(ClusterError):
    """NATS cannot be reached (or JetStream is not enabled on it).

    Attributes:
        servers: the server URLs tried (credentials in them redacted).
    """

    def __init__(self, message: str, *, servers: tuple[str, ...] = ()) -> None:
        self.servers = servers
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


class FencedError(ClusterError, StoreLockedError):
    """A fenced write lost its compare-and-set: another process took over.

    Raised by a checkpoint save whose expected revision is no longer the latest: a successor
    holds the lease and has written since. The holder must stop: anything it would still commit
    could overwrite its successor's progress. A :class:`StoreLockedError` too (the store has
    another owner now), so an :class:`~fleep_async.events.EventEngine` on a
    ``JetStreamHorizonStore`` stops on it.

    Attributes:
        key: the KV key written (also ``path``).
        expected: the revision the write expected to replace (``None``: expected no entry).
    """

    def __init__(self, message: str, *, key: str, expected: int | None) -> None:
        self.key = key
        self.expected = expected
        StoreLockedError.__init__(self, message, path=key, owner=None)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__, self.args))


def _rebuild(cls: type[BaseException], state: dict[str, Any], args: tuple[Any, ...]) -> Any:
    # Exceptions with keyword-only constructors do not survive the default pickling (it calls
    # cls(*args)); rebuild them without running __init__ so they cross process pools intact.
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


# error_id wins over a 4xx status: Fleep sends "not_found" with 430, and it means NotFound.
_BY_ERROR_ID: Final[Mapping[str, type[FleepAPIError]]] = {
    "not_found": NotFoundError,
    "invalid_call": InvalidRequestError,
}

_BY_STATUS: Final[Mapping[int, type[FleepAPIError]]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
    507: StorageQuotaError,
}


def _status_class(status_code: int) -> type[FleepAPIError]:
    cls = _BY_STATUS.get(status_code)
    if cls is not None:
        return cls
    # Fleep clients treat 430-439 as the "backend error" family (code // 10 == 43).
    if 430 <= status_code <= 439:
        return BusinessRuleError
    if 500 <= status_code <= 599:
        return ServerError
    return FleepAPIError


def _status_decides(status_code: int) -> bool:
    return status_code == 429 or 500 <= status_code <= 599


def _text_field(body: object, key: str) -> str | None:
    if isinstance(body, Mapping):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def classify(
    status_code: int,
    body: object,
    *,
    endpoint: str | None,
    retry_after: float | None = None,
) -> FleepAPIError:
    """Build the exception for an error response.

    Args:
        status_code: the HTTP status (or a batch item's ``status_code``).
        body: the decoded JSON body, or ``None``/anything else for a non-JSON body (an HTML
            502 page from a proxy): then only the status decides.
        endpoint: the API path, for the message.
        retry_after: seconds from a ``Retry-After`` header, kept on :class:`RateLimitError`.

    Returns:
        An instance of the most specific :class:`FleepAPIError` subclass (not raised).
    """
    error_id = _text_field(body, "error_id")
    error_message = _text_field(body, "error_message")
    cls = _status_class(status_code)
    # A 5xx or 429 is retryable whatever its body names: a proxy or a failing server may put
    # any error_id in it (a 503 carrying "not_found" must not end a poll loop). Only a 4xx
    # status is refined by the error_id.
    if not _status_decides(status_code) and error_id:
        cls = _BY_ERROR_ID.get(error_id) or cls
    if issubclass(cls, RateLimitError):
        return cls(
            status_code=status_code,
            error_id=error_id,
            error_message=error_message,
            endpoint=endpoint,
            retry_after=retry_after,
        )
    return cls(
        status_code=status_code,
        error_id=error_id,
        error_message=error_message,
        endpoint=endpoint,
    )
