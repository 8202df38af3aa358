"""The HTTP layer under attack: decompression bombs, trickling servers and login storms.

Each hostile server here is real and on loopback (a raw socket server, so it can send what no
well-behaved framework would), or FakeFleep itself where it is enough; the client is the real
transport and session.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from fleep_async._client import FleepClient
from fleep_async._http import Transport
from fleep_async._retry import RetryPolicy
from fleep_async._session import RELOGIN_MIN_INTERVAL, Credentials, Session
from fleep_async.errors import (
    AuthenticationError,
    DecodeError,
    FleepTimeoutError,
    RateLimitError,
    ServerError,
    UsageError,
)
from fleep_async.testing import FakeFleep
from tests.fault.conftest import GUARD, Responder

pytestmark = pytest.mark.anyio

RawServer = Callable[[Responder], AbstractAsyncContextManager[str]]

# 512 MiB of zeros, gzipped twice: 980 bytes (made with zlib level 9, wbits 31, twice).
BOMB = (Path(__file__).parent / "data" / "zeros-512MiB.gz.gz").read_bytes()
BOMB_INFLATED = 512 * 1024 * 1024


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Responder:
    """A responder that sends one complete answer."""
    head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"

    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(head.encode("latin-1") + b"\r\n" + body)

    return respond


def test_the_bomb_is_what_it_claims() -> None:
    # Inflating it once shows a 521 KB gzip stream; inflating that would give 512 MiB.
    inner = zlib.decompress(BOMB, wbits=31)
    assert len(BOMB) < 1024 < len(inner)
    inflater = zlib.decompressobj(wbits=31)
    assert len(inflater.decompress(inner, 1024 * 1024)) == 1024 * 1024
    assert BOMB_INFLATED // len(BOMB) > 500_000


# -- item 1: decompression bombs -----------------------------------------------------------------

REFUSED_ENCODINGS = {
    "gzip, gzip": BOMB,
    "deflate, gzip": BOMB,
    "gzip,gzip,identity": BOMB,
    "br": b"\x00" * 64,
    "zstd": b"\x00" * 64,
    "compress": b"\x00" * 64,
}


@pytest.mark.parametrize("encoding", REFUSED_ENCODINGS)
@pytest.mark.parametrize("long_poll", [False, True], ids=["call", "poll"])
async def test_stacked_or_unknown_encodings_are_refused_with_a_typed_error(
    raw_server: RawServer, encoding: str, long_poll: bool
) -> None:
    body = REFUSED_ENCODINGS[encoding]
    respond = answer(200, body, {"content-encoding": encoding})
    with anyio.fail_after(GUARD):
        async with raw_server(respond) as url, Transport(base_url=url) as t:
            with pytest.raises(DecodeError, match="refused a response with Content-Encoding"):
                await t.post_json("account/poll", {}, long_poll=long_poll)


@pytest.mark.parametrize("encoding", ["gzip, gzip", "br"])
async def test_an_error_page_with_a_refused_encoding_is_judged_by_its_status(
    raw_server: RawServer, encoding: str
) -> None:
    respond = answer(502, REFUSED_ENCODINGS[encoding], {"content-encoding": encoding})
    with anyio.fail_after(GUARD):
        async with (
            raw_server(respond) as url,
            Transport(base_url=url, retry=RetryPolicy(max_attempts=1)) as t,
        ):
            with pytest.raises(ServerError) as info:
                await t.post_json("account/sync", {}, idempotent=True)
    assert info.value.status_code == 502
    assert info.value.error_id is None  # the body was not inflated


async def test_hook_posts_and_downloads_refuse_stacked_encodings(raw_server: RawServer) -> None:
    respond = answer(200, BOMB, {"content-encoding": "gzip, gzip"})
    with anyio.fail_after(GUARD):
        async with raw_server(respond) as url, Transport(base_url=url) as t:
            with pytest.raises(DecodeError, match="Content-Encoding"):
                await t.post_hook(f"{url}/hook/abcdef0123456789", {"message": "x"})
            with pytest.raises(DecodeError, match="Content-Encoding"):
                async with t.stream_get("/file/abc/x.bin"):
                    pass


async def test_downloads_ask_for_the_file_unencoded(raw_server: RawServer) -> None:
    seen: list[bytes] = []

    async def respond(stream: anyio.abc.SocketStream, request: bytes) -> None:
        seen.append(request)
        await answer(200, b"file bytes")(stream, request)

    async with (
        raw_server(respond) as url,
        Transport(base_url=url) as t,
        t.stream_get("/file/abc/x.bin") as response,
    ):
        assert await response.aread() == b"file bytes"
    assert b"accept-encoding: identity" in seen[0].lower()


async def test_a_multi_member_gzip_body_is_inflated_whole(raw_server: RawServer) -> None:
    # RFC 1952 allows several gzip members back to back; the capped reader reads them all.
    body = zlib.compress(b'{"a": ', wbits=31) + zlib.compress(b"1}", wbits=31)
    respond = answer(200, body, {"content-encoding": "gzip"})
    async with raw_server(respond) as url, Transport(base_url=url) as t:
        result = await t.post_json("account/sync", {})
    assert result.data == {"a": 1}


# Runs in a fresh interpreter, so its peak RSS is this attack's alone.
_MEMORY_PROBE = r"""
import json, resource, sys, zlib
import anyio
from fleep_async._client import FleepClient
from fleep_async._http import Transport
from fleep_async._retry import RetryPolicy
from fleep_async.errors import FleepError
from tests.fault.conftest import serve_raw
from tests.fault.test_http_attacks import BOMB, answer

LIMIT = int(sys.argv[1])
SINGLE = zlib.decompress(BOMB, wbits=31)  # 512 MiB of zeros gzipped once: allowed, capped
CASES = [
    ("stacked, 200", 200, "gzip, gzip", BOMB, False),
    ("stacked, poll", 200, "gzip, gzip", BOMB, True),
    ("stacked, 502", 502, "gzip, gzip", BOMB, False),
    ("single gzip, 200", 200, "gzip", SINGLE, False),
    ("single gzip, 502", 502, "gzip", SINGLE, False),
]

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

async def main() -> None:
    outcomes = {}
    async with serve_raw(answer(200, b"{}")) as url, Transport(base_url=url) as t:
        await t.post_json("account/sync", {})  # warm up: imports, pools, buffers
    baseline = peak()
    for name, status, encoding, body, poll in CASES:
        respond = answer(status, body, {"content-encoding": encoding})
        async with serve_raw(respond) as url, Transport(
            base_url=url, max_response_bytes=LIMIT, retry=RetryPolicy(max_attempts=1)
        ) as t:
            try:
                await t.post_json("account/poll", {}, long_poll=poll)
                outcomes[name] = "ok"
            except FleepError as exc:
                outcomes[name] = type(exc).__name__
    print(json.dumps({"growth": peak() - baseline, "outcomes": outcomes}))

anyio.run(main)
"""


def test_a_stacked_encoding_bomb_keeps_memory_bounded() -> None:
    # 512 MiB of zeros gzipped twice (980 bytes) drove the client to 1 GB RSS, on a 200 and on
    # a 502 page alike: the hard ceiling is the response limit plus 64 MiB.
    limit = 8 * 1024 * 1024
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(limit)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {
        "stacked, 200": "DecodeError",
        "stacked, poll": "DecodeError",
        "stacked, 502": "ServerError",
        "single gzip, 200": "ResponseTooLargeError",
        "single gzip, 502": "ServerError",
    }
    assert report["growth"] < limit + 64 * 1024 * 1024, report


# -- item 2: a total deadline ----------------------------------------------------------------


def trickle(gap: float, count: int) -> Responder:
    """Send the head at once, then a JSON body one byte every ``gap`` seconds."""
    body = b" " * (count - 2) + b"{}"

    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        for i in range(len(body)):
            await stream.send(body[i : i + 1])
            await anyio.sleep(gap)  # the attack itself: a byte per half second

    return respond


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("account/login", {"email": "a@b.c", "password": "pw-0123456789"}),
        ("message/send/c0ffee00-0000-4000-8000-000000000001", {"message": "hi"}),
    ],
    ids=["login", "send"],
)
async def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(
    raw_server: RawServer, path: str, body: dict[str, Any]
) -> None:
    # A byte every 0.5 s never trips a 2 s read timeout: this held account/login for 45 s and
    # message/send for 30 s. The deadline (2 x timeout) ends each attempt.
    async with (
        raw_server(trickle(0.5, 240)) as url,
        Transport(base_url=url, timeout=2, retry=RetryPolicy(max_attempts=1)) as t,
    ):
        started = time.monotonic()
        with anyio.fail_after(GUARD), pytest.raises(FleepTimeoutError, match="deadline"):
            await t.post_json(path, body, idempotent=True)
        held = time.monotonic() - started
    print(f"{path.split('/')[0]}/...: held {held:.1f} s")  # the figure for the closing note


async def test_the_long_poll_has_no_total_deadline(raw_server: RawServer) -> None:
    # The poll keeps its own watchdog (the engine's): an answer that takes longer than the
    # deadline but keeps arriving is read whole.
    async with (
        raw_server(trickle(0.25, 16)) as url,
        Transport(base_url=url, timeout=0.5, retry=RetryPolicy(max_attempts=1)) as t,
    ):
        with anyio.fail_after(GUARD):
            result = await t.post_json("account/poll", {}, long_poll=True)
    assert result.data == {}


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(UsageError, match="deadline"):
        Transport(deadline=0)
    with pytest.raises(UsageError, match="deadline"):
        FleepClient(deadline=-1)


# -- item 9: no login storm ----------------------------------------------------------------


class CountingApp:
    """FakeFleep's ASGI app, counting the requests per path as the server sees them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: collections.Counter[str] = collections.Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths[scope["path"]] += 1
        await self.app(scope, receive, send)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


async def test_a_server_rejecting_every_fresh_session_gets_no_login_storm() -> None:
    # Every message/send answered 401 while account/login keeps succeeding: 5 messages cost
    # 16 logins and 30 sends. Now the first re-login is immediate and the next ones wait.
    fake = FakeFleep(hold_seconds=0.2, seed=11)
    alice = fake.create_account("alice@example.com", "alice's password 1", "Alice")
    cid = fake.create_conversation(alice, "storm")
    app = CountingApp(fake.app)
    clock = Clock()
    fake.faults.fail("message/send", 401, times=1000)
    async with Transport(
        base_url=fake.base_url, transport=httpx.ASGITransport(app=app), sleep=_no_sleep
    ) as transport:
        session = Session(
            transport,
            Credentials(email="alice@example.com", password="alice's password 1"),
            clock=clock,
        )
        errors: list[BaseException] = []
        with anyio.fail_after(GUARD):
            for i in range(5):
                try:
                    await session.call(f"message/send/{cid}", {"message": f"m{i}"})
                except (AuthenticationError, RateLimitError) as exc:
                    errors.append(exc)
    logins = app.paths["/api/account/login"]
    sends = app.paths[f"/api/message/send/{cid}"]
    print(f"5 messages: {logins} logins, {sends} sends (server-side)")
    assert (logins, sends) == (2, 6)  # the login, one re-login; one repeat of the first send
    assert [type(e) for e in errors] == [AuthenticationError] + [RateLimitError] * 4
    for error in errors[1:]:
        assert isinstance(error, RateLimitError)
        assert error.error_id == "relogin_rate_limited"
        assert error.retry_after == pytest.approx(RELOGIN_MIN_INTERVAL)

    # Once the interval has passed, a re-login is allowed again; then the wait doubles.
    async with Transport(
        base_url=fake.base_url, transport=httpx.ASGITransport(app=app), sleep=_no_sleep
    ) as transport:
        session._transport = transport
        clock.now += RELOGIN_MIN_INTERVAL
        with anyio.fail_after(GUARD), pytest.raises(AuthenticationError):
            await session.call(f"message/send/{cid}", {"message": "later"})
        assert app.paths["/api/account/login"] == 3
        with anyio.fail_after(GUARD), pytest.raises(RateLimitError) as info:
            await session.call(f"message/send/{cid}", {"message": "later still"})
        assert info.value.retry_after == pytest.approx(2 * RELOGIN_MIN_INTERVAL)
        assert app.paths["/api/account/login"] == 3


async def test_a_session_that_lives_resets_the_relogin_backoff() -> None:
    fake = FakeFleep(hold_seconds=0.2, seed=12)
    alice = fake.create_account("alice@example.com", "alice's password 1", "Alice")
    cid = fake.create_conversation(alice, "calm")
    clock = Clock()
    async with Transport(base_url=fake.base_url, transport=fake.transport()) as transport:
        session = Session(
            transport,
            Credentials(email="alice@example.com", password="alice's password 1"),
            clock=clock,
        )
        with anyio.fail_after(GUARD):
            await session.call(f"message/send/{cid}", {"message": "a"})
            for _ in range(4):  # sessions that expire every ten minutes: healed every time
                clock.now += 600
                fake.expire_session(alice)
                await session.call(f"message/send/{cid}", {"message": "b"})
    assert session.generation == 5


async def test_sessions_expired_every_few_seconds_are_healed_every_time() -> None:
    # Found by the long chaos profiles: a server that expires the session every ten seconds,
    # while each new session works, is not a login storm. Before, the re-login backoff grew
    # (5, 10, 20, 40 s ...) and calls failed with relogin_rate_limited for minutes, so a bot's
    # handlers dead-lettered their records. A re-login whose repeated call succeeds resets it.
    fake = FakeFleep(hold_seconds=0.2, seed=13)
    alice = fake.create_account("alice@example.com", "alice's password 1", "Alice")
    cid = fake.create_conversation(alice, "churn")
    clock = Clock()
    async with Transport(base_url=fake.base_url, transport=fake.transport()) as transport:
        session = Session(
            transport,
            Credentials(email="alice@example.com", password="alice's password 1"),
            clock=clock,
        )
        with anyio.fail_after(GUARD):
            await session.call(f"message/send/{cid}", {"message": "a"})
            for _ in range(8):
                clock.now += 10
                fake.expire_session(alice)
                await session.call(f"message/send/{cid}", {"message": "b"})
    assert session.generation == 9
