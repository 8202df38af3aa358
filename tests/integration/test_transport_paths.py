"""The transport's two paths for JSON calls behave alike: httpx's client, and the direct path
the aiohttp transport offers (``fleep_async._http._wire``). A raw loopback server answers;
each test runs over both and checks what the server saw and what the caller got.
"""

from __future__ import annotations

import gzip
import logging

import anyio
import anyio.abc
import httpx
import orjson
import pytest

from fleep_async._aiohttp import aiohttp_transport
from fleep_async._http import Transport
from fleep_async._retry import RetryPolicy
from fleep_async._version import __version__
from fleep_async.errors import (
    BusinessRuleError,
    DecodeError,
    FleepTimeoutError,
    ResponseTooLargeError,
    TransportError,
    UsageError,
)
from tests.fault.conftest import GUARD, serve_raw

pytestmark = [pytest.mark.asyncio, pytest.mark.parametrize("http", ["httpx", "aiohttp"])]

TICKET = "d5a9c3c2fc696c4a4b55"
TOKEN = "dd737a29-7819-41dc-ad93-a38aab2c9409"
NEW_TOKEN = "0b5e8a52-1f2c-4d9e-9a7c-2b3c4d5e6f70"


async def _no_sleep(seconds: float) -> None:
    return None


def _transport(http: str, base_url: str, **options: object) -> Transport:
    extra: dict[str, object] = {}
    if http == "aiohttp":
        extra = {"transport": aiohttp_transport(), "poll_transport": aiohttp_transport()}
    return Transport(base_url=base_url, sleep=_no_sleep, **extra, **options)  # type: ignore[arg-type]


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    # The raw server closes each connection after one answer, and says so: without it, aiohttp
    # may put the connection back in its pool before the close arrives (as for bare aiohttp).
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_a_json_call_sends_the_same_request_and_reads_gzip_and_the_rotated_cookie(
    http: str, caplog: pytest.LogCaptureFixture
) -> None:
    heads: list[bytes] = []

    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        heads.append(head)
        body = gzip.compress(orjson.dumps({"ok": True, "n": 1}))
        await stream.send(
            _answer(
                "200 OK",
                body,
                "Content-Type: application/json",
                "Content-Encoding: gzip",
                f"Set-Cookie: token_id={NEW_TOKEN}; Path=/; HttpOnly",
                "Set-Cookie: other=1; Path=/",
            )
        )

    caplog.set_level(logging.INFO, logger="httpx")
    with anyio.fail_after(GUARD):
        async with serve_raw(respond) as url, _transport(http, url) as transport:
            result = await transport.post_json(
                "account/sync", {"a": 1}, ticket=TICKET, token_id=TOKEN, idempotent=True
            )
    assert result.data == {"ok": True, "n": 1}
    assert result.token_id == NEW_TOKEN
    (head,) = heads
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/account/sync HTTP/1.1"
    headers = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
    assert headers["cookie"] == f"token_id={TOKEN}"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["accept-encoding"] == "gzip"
    assert headers["user-agent"] == f"fleep-async/{__version__}"
    # Over aiohttp the call took the direct path: httpx's client logged no request.
    logged = [record for record in caplog.records if record.name == "httpx"]
    assert bool(logged) is (http == "httpx")


async def test_an_error_status_is_classified_and_a_5xx_retried(http: str) -> None:
    attempts = 0

    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await stream.send(_answer("503 Service Unavailable", b"busy"))
            return
        error = orjson.dumps({"error_id": "conv_closed", "error_message": "closed"})
        await stream.send(_answer("430 Business", error, "Content-Type: application/json"))

    with anyio.fail_after(GUARD):
        async with serve_raw(respond) as url, _transport(http, url) as transport:
            with pytest.raises(BusinessRuleError) as caught:
                await transport.post_json("message/send/x", {}, ticket=TICKET, idempotent=True)
    assert attempts == 2  # the 503 was retried, the 430 was final
    assert caught.value.error_id == "conv_closed"
    assert caught.value.status_code == 430


async def test_oversized_answers_are_refused(http: str) -> None:
    bomb = gzip.compress(b"0" * 2_000_000)

    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        if b"declared" in head.split(b"\r\n")[0]:
            await stream.send(_answer("200 OK", b"{}" + b" " * 5000))
        else:
            await stream.send(_answer("200 OK", bomb, "Content-Encoding: gzip"))

    with anyio.fail_after(GUARD):
        async with (
            serve_raw(respond) as url,
            _transport(http, url, max_response_bytes=4096) as transport,
        ):
            with pytest.raises(ResponseTooLargeError):
                await transport.post_json("declared", {})
            with pytest.raises(ResponseTooLargeError) as caught:
                await transport.post_json("inflated", {})
    size = caught.value.size
    assert size is not None
    assert size <= 4096 + 64 * 1024  # stopped near the limit, not after inflating 2 MB


async def test_bad_codings_are_decode_errors(http: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        if b"stacked" in head.split(b"\r\n")[0]:
            body = gzip.compress(gzip.compress(b"{}"))
            await stream.send(_answer("200 OK", body, "Content-Encoding: gzip, gzip"))
        else:
            await stream.send(_answer("200 OK", b"not gzip at all", "Content-Encoding: gzip"))

    with anyio.fail_after(GUARD):
        async with serve_raw(respond) as url, _transport(http, url) as transport:
            with pytest.raises(DecodeError, match="Content-Encoding"):
                await transport.post_json("stacked", {})
            with pytest.raises(DecodeError, match="decompressed"):
                await transport.post_json("corrupt", {})


async def test_a_trickling_answer_hits_the_deadline_and_a_cut_one_is_a_transport_error(
    http: str,
) -> None:
    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        if b"trickle" in head.split(b"\r\n")[0]:
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
            )
            for _ in range(100):  # one byte every 0.1 s: never a read timeout, but no end
                await stream.send(b" ")
                await anyio.sleep(0.1)
        else:
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{"
            )

    with anyio.fail_after(GUARD):
        async with (
            serve_raw(respond) as url,
            _transport(http, url, timeout=0.5, deadline=1.0, retry=RetryPolicy.none()) as transport,
        ):
            started = anyio.current_time()
            with pytest.raises(FleepTimeoutError, match="deadline"):
                await transport.post_json("trickle", {}, ticket=TICKET)
            assert anyio.current_time() - started < 5  # the 1 s deadline, not the trickle's 10 s
            with pytest.raises(TransportError) as caught:
                await transport.post_json("cut", {}, ticket=TICKET)
    assert TICKET not in str(caught.value)


async def test_a_refused_connection_is_a_transport_error(http: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    await listener.aclose()  # nothing listens there now
    with anyio.fail_after(GUARD):
        async with _transport(
            http, f"http://127.0.0.1:{port}", retry=RetryPolicy.none()
        ) as transport:
            with pytest.raises(TransportError) as caught:
                await transport.post_json("account/sync", {}, ticket=TICKET, token_id=TOKEN)
    assert not isinstance(caught.value, FleepTimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert TICKET not in str(caught.value)


async def test_the_long_poll_has_no_deadline_but_its_own_read_timeout(http: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, head: bytes) -> None:
        await anyio.sleep(1.5)  # longer than the 1 s deadline of normal calls
        await stream.send(_answer("200 OK", b'{"event_horizon": 7}'))

    with anyio.fail_after(GUARD):
        async with (
            serve_raw(respond) as url,
            _transport(http, url, timeout=0.5, deadline=1.0, poll_timeout=5.0) as transport,
        ):
            result = await transport.post_json("account/poll", {}, ticket=TICKET, long_poll=True)
    assert result.data == {"event_horizon": 7}


@pytest.mark.parametrize("agent", ["bot/1.0\r\nX-Injected: 1", "b\u00f6t/1.0"])
async def test_an_unsendable_user_agent_is_refused_before_anything_is_sent(
    http: str, agent: str
) -> None:
    with pytest.raises(UsageError, match="user_agent"):
        _transport(http, "http://127.0.0.1:9", user_agent=agent)
