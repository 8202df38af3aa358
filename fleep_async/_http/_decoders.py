"""Reading a response body with a size cap, inflating gzip/deflate ourselves."""

from __future__ import annotations

import zlib
from typing import Final

import httpx

__all__ = ["read_limited"]


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
            # The same exception httpx's decoder raises, so wrap_httpx maps it to DecodeError.
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


async def read_limited(response: httpx.Response, limit: int) -> tuple[bytes | None, int]:
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
