"""The HTTP layer: :class:`Transport` (the one request path) and what it is made of.

One concern per module, as httpx keeps its own apart:

- ``_transport``: :class:`Transport`, the one request path (send, read, classify, retry).
- ``_urls``: API paths, the plain-http rule, origins.
- ``_cookies``: no cookie jar; the ``token_id`` read from ``Set-Cookie``.
- ``_decoders``: the capped body reader and our own gzip/deflate inflation.
- ``_multipart``: the streaming ``multipart/form-data`` body.
- ``_upload``: :class:`UploadFile`.
- ``_retry_after``: :func:`parse_retry_after`.
- ``_exceptions``: httpx exceptions mapped to ours.
- ``_redaction``: log filters for httpx/httpcore/hpack.
- ``_tls``: the process-wide TLS context.
"""

from __future__ import annotations

from fleep_async._http._retry_after import parse_retry_after
from fleep_async._http._transport import DEFAULT_MAX_RESPONSE_BYTES, Transport, TransportResult
from fleep_async._http._upload import UploadContent, UploadFile

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Transport",
    "TransportResult",
    "UploadContent",
    "UploadFile",
    "parse_retry_after",
]
