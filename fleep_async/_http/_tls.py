"""The TLS context shared by every client of the process."""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["shared_ssl_context"]


@functools.cache
def shared_ssl_context(http2: bool) -> ssl.SSLContext:
    """One default TLS context per process (and per ALPN setting), shared by every client.

    httpx builds a context per ``AsyncClient`` unless given one, and loading the CA bundle costs
    about 1 MB of memory and 70 ms of CPU each time: two per ``FleepClient``, which is most of the
    cost of a bot, and the whole of it with a thousand bots in one process. The verification
    settings are httpx's defaults (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), read once.
    Keyed by ``http2`` because httpcore sets the context's ALPN protocols from that flag.
    """
    return httpx.create_ssl_context()
