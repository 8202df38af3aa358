"""Reading a response body with a size cap: raw bytes from the network, inflated by us.

httpx's own decoders never run on our responses: we read ``aiter_raw()`` and inflate here. Its
decoders inflate each network chunk whole before anyone can count the output (64 KiB of gzip'd
zeros is 64 MiB at once), and they stack: ``Content-Encoding: gzip, gzip`` turns a 1 KB body
into 512 MiB in one chunk, and ``br`` / ``zstd`` decode whenever those packages are installed.
We inflate at most the bytes still allowed (plus one, to notice the excess), and accept exactly
one of ``gzip`` / ``x-gzip`` / ``deflate`` / ``identity``: anything stacked or unknown is
refused with :class:`~fleep_async.errors.DecodeError` before a byte is read.
"""

from __future__ import annotations

import zlib
from typing import Final

import httpx

from fleep_async._http._wire import HeaderView, WireResponse
from fleep_async.errors import DecodeError

__all__ = ["check_content_encoding", "read_limited"]

# The codings we inflate ourselves (value: zlib's wbits).
_INFLATE: Final = {
    "gzip": zlib.MAX_WBITS | 16,
    "x-gzip": zlib.MAX_WBITS | 16,
    "deflate": zlib.MAX_WBITS,
}
_IDENTITY: Final = "identity"
# What a refusal message may quote of a hostile header.
_SHOWN_HEADER: Final = 40


def _coding(headers: HeaderView) -> tuple[str, str | None]:
    """``(coding, None)`` for an accepted coding, or ``("", what was sent)`` for a refused one."""
    codings = [
        coding.strip().lower()
        for value in headers.get_list("content-encoding")
        for coding in value.split(",")
    ]
    codings = [coding for coding in codings if coding and coding != _IDENTITY]
    if not codings:
        return _IDENTITY, None
    if len(codings) == 1 and codings[0] in _INFLATE:
        return codings[0], None
    return "", ", ".join(codings)[:_SHOWN_HEADER]


def check_content_encoding(response: WireResponse, *, endpoint: str) -> str:
    """The one content coding of a response: ``identity``, ``gzip``, ``x-gzip`` or ``deflate``.

    Takes the response, not its headers: this frame may raise, and a traceback recorded with
    its locals would show the headers' repr (``Set-Cookie`` included).

    Raises:
        DecodeError: stacked codings (``gzip, gzip``) or one we do not inflate (``br``, ...).
    """
    coding, refused = _coding(response.headers)
    if refused is not None:
        raise DecodeError(
            f"refused a response with Content-Encoding {refused!r}: only one of gzip or deflate "
            "is accepted (stacked or unknown encodings could inflate without bound)",
            endpoint=endpoint,
        )
    return coding


class _Inflater:
    """A gzip/deflate decoder whose output per call is capped."""

    def __init__(self, encoding: str) -> None:
        self._wbits = _INFLATE[encoding]
        self._inflater = zlib.decompressobj(self._wbits)
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
            # The exception httpx's decoders raise, so wrap_httpx maps it to DecodeError.
            raise httpx.DecodingError(str(exc)) from exc
        if data:
            self._raw_deflate_fallback = False
        # A gzip body may be several members back to back (RFC 1952): go on with the next one.
        if self._inflater.eof and self._inflater.unused_data and len(out) < max_length:
            rest = self._inflater.unused_data
            self._inflater = zlib.decompressobj(self._wbits)
            out += self.inflate(rest, max_length - len(out))
        return out

    def flush(self) -> bytes:
        """Whatever output is still buffered at the end of the body."""
        try:
            return self._inflater.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc


async def read_limited(
    response: WireResponse, limit: int, *, endpoint: str
) -> tuple[bytes | None, int]:
    """Read the decoded body: ``(body, size)``, or ``(None, size)`` once it exceeds ``limit``.

    Reading stops at the first chunk past the limit, and a compressed body is never inflated
    beyond ``limit + 1`` bytes whatever its ratio, so memory stays within the limit plus one
    network chunk.

    Raises:
        DecodeError: a stacked or unknown ``Content-Encoding``.
        httpx.DecodingError: a corrupt gzip/deflate body.
    """
    encoding = check_content_encoding(response, endpoint=endpoint)
    if response.is_stream_consumed:
        # A response built from bytes in memory (httpx.MockTransport in tests) was read, and
        # decoded, when it was made: there are no raw bytes left to read.
        content = response.content
        return (content if len(content) <= limit else None), len(content)
    chunks: list[bytes] = []
    total = 0
    inflater = _Inflater(encoding) if encoding != _IDENTITY else None
    async for data in response.aiter_raw():
        chunk = data if inflater is None else inflater.inflate(data, limit - total + 1)
        total += len(chunk)
        if total > limit:
            return None, total
        chunks.append(chunk)
    if inflater is not None:
        chunk = inflater.flush()
        total += len(chunk)
        if total > limit:
            return None, total
        chunks.append(chunk)
    return b"".join(chunks), total
