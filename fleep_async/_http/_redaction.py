"""Log redaction for the HTTP libraries underneath (httpx, httpcore, hpack)."""

from __future__ import annotations

import logging
from typing import Final

from fleep_async.errors import redact

__all__ = ["RedactingFilter", "install_http_log_filters"]


class RedactingFilter(logging.Filter):
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


def install_http_log_filters() -> None:
    for name in _HTTP_LOGGERS:
        http_logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in http_logger.filters):
            http_logger.addFilter(RedactingFilter())
