"""Log redaction for the HTTP libraries underneath (httpx, httpcore, hpack).

httpx logs every request URL at INFO (an upload URL carries ``?ticket=``, a hook URL is a secret
by itself); httpcore logs every response's headers at DEBUG, ``Set-Cookie: token_id`` included;
hpack (HTTP/2) logs header lists at DEBUG, ``Cookie`` included. We cannot change what they log,
so a filter sits on each of those loggers. It is installed when the first :class:`Transport` is
made (importing fleep_async changes no logger), and it only redacts: a record that holds no
secret passes through untouched (same message, same args), and no record is ever dropped.

A record is redacted three ways: the value of a cookie or authorization header tuple as httpcore
and hpack print them, the recognisable shapes of :func:`fleep_async.errors.redact` (quoted and
spaced cookie forms included), and the secrets the transport has sent or received, by value.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from typing import Final

from fleep_async.errors import REDACTED, redact

__all__ = ["RedactingFilter", "install_http_log_filters", "remember_secret", "scrub"]

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

# A header as httpcore and hpack print it: (b'set-cookie', b'token_id=...; Path=/'). The whole
# value goes: whatever its form (quoted, spaced, non-ASCII escapes), a cookie is a secret.
_SECRET_HEADER: Final = re.compile(
    r"""(?ix)
    (\(\s*b?(['"])(?:set-cookie|cookie|authorization|proxy-authorization)\2\s*,\s*b?)
    (['"])(?:\\.|(?!\3).)*\3
    """
)

# Secrets seen by value: bounded, so a long-lived process with rotating cookies stays small.
_MAX_KNOWN: Final = 1024
_known: collections.OrderedDict[str, None] = collections.OrderedDict()
_known_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Scrub ``value`` from HTTP library log records from now on (the most recent 1024 kept)."""
    if not value or len(value) < 4:  # shorter values would scrub ordinary words
        return
    with _known_lock:
        _known[value] = None
        _known.move_to_end(value)
        while len(_known) > _MAX_KNOWN:
            _known.popitem(last=False)


def scrub(text: str) -> str:
    """``text`` with secret headers, secret shapes and known secret values replaced."""
    text = _SECRET_HEADER.sub(lambda m: f"{m.group(1)}{m.group(3)}{REDACTED}{m.group(3)}", text)
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    return redact(text, known)


class RedactingFilter(logging.Filter):
    """Redacts secrets in a record; never drops one, never touches a record without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: judge its raw text
            message = str(record.msg)
        scrubbed = scrub(message)
        if scrubbed != message:
            # Keep the scrubbed text without args: an arg of any type (a list of header tuples,
            # say) may hold the secret again.
            record.msg = scrubbed
            record.args = ()
        return True


_install_lock = threading.Lock()


def install_http_log_filters() -> None:
    """Put one :class:`RedactingFilter` on each HTTP library logger (idempotent)."""
    with _install_lock:
        for name in _HTTP_LOGGERS:
            http_logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in http_logger.filters):
                http_logger.addFilter(RedactingFilter())
