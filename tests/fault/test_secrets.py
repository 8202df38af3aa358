"""Secrets (password, ticket, token_id, hook URLs and keys) never leave the library's hands:
not in a log line at any level of any logger, not in a repr or str of anything a user sees, not
in an exception or its chain. Plus the transport rules that keep them off the wire: https (plain
http only to loopback), TLS verification on, the session cookie only to the client's own server.

``SessionState.to_dict()`` is the one place tickets legitimately appear: it exists to be saved
(and is documented as "store it like a password").
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from fleep_async._aiohttp import aiohttp_transport
from fleep_async._client import FleepClient
from fleep_async._http import Transport
from fleep_async._retry import RetryPolicy
from fleep_async._session import Credentials, SessionState
from fleep_async.errors import (
    AuthenticationError,
    DecodeError,
    FleepError,
    NotFoundError,
    ServerError,
    TransportError,
    UsageError,
    redact,
)
from fleep_async.events import EventEngine, Router
from fleep_async.models import FileRecord, MessageRecord
from fleep_async.testing import FakeFleep
from tests.fault.conftest import GUARD, Responder

pytestmark = pytest.mark.anyio

RawServer = Callable[[Responder], AbstractAsyncContextManager[str]]

EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple 7f3a"
WRONG_PASSWORD = "tr0ub4dor&3 wrong 91c2"
BOGUS_HOOK_KEY = "Zq9uFAKEhookKEY0000xyz"
LOGGERS = ("", "fleep_async", "httpx", "httpcore", "hpack", "uvicorn", "asyncio")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """Each record as a handler would write it (traceback included), and its raw parts."""
        out: list[str] = []
        for record in self.records:
            out.append(self.format(record))
            out.append(str(record.msg))
            out.append(repr(record.args))
            if record.exc_info and record.exc_info[1] is not None:
                out.extend(with_locals(record.exc_info[1]))
        return out


@contextlib.contextmanager
def every_log_at_debug() -> Iterator[_Collector]:
    """Collect every record of every logger at DEBUG (root, fleep_async, httpx, httpcore ...)."""
    collector = _Collector()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(collector)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def with_locals(error: BaseException) -> list[str]:
    """The traceback as an error reporter records it: the whole chain, every frame's locals.

    The frames of the tests themselves are left out: their locals are the test's own secrets.
    """
    report = traceback.TracebackException(
        type(error), error, error.__traceback__, capture_locals=True
    )
    pending, seen = [report], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if f"{os.sep}tests{os.sep}" not in frame.filename]
        )
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return list(report.format())


def shown(obj: object) -> list[str]:
    """What a user may see of ``obj``: its repr and str, and for an exception its whole chain
    with the locals of every frame (what Sentry-style reporters record)."""
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out.extend(with_locals(obj))
        out.append(repr(obj.args))
    return out


def leaks(secrets: set[str], texts: list[str]) -> list[tuple[str, str]]:
    """(secret, where) for every secret found in a text; secrets shown cut to 4 characters."""
    found = []
    for text in texts:
        for secret in secrets:
            if secret in text:
                start = text.index(secret)
                found.append((secret[:4] + "...", text[max(0, start - 80) : start + 20]))
    return found


async def _no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


@pytest.fixture(params=["in-process", "loopback"])
async def server(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[FakeFleep, str, httpx.AsyncBaseTransport | None]]:
    """FakeFleep in process (ASGI), or served by uvicorn on loopback (real httpcore, h11)."""
    if request.param == "in-process":
        fake = FakeFleep(hold_seconds=0.2, seed=3)
        yield fake, fake.base_url, fake.transport()
        fake.release_polls()
    else:
        async with FakeFleep.serve(hold_seconds=0.2, seed=3) as served:
            yield served.fake, served.base_url, None


async def test_a_full_session_at_debug_leaks_no_secret(
    server: tuple[FakeFleep, str, httpx.AsyncBaseTransport | None],
) -> None:
    fake, base_url, transport = server
    alice = fake.create_account(EMAIL, PASSWORD, "Alice")
    bob = fake.create_account("bob@example.com", "bob's own password 55", "Bob")
    cid = fake.create_conversation(alice, "secrets", [bob])
    private = fake.create_conversation(bob, "not alice's")
    secrets = {PASSWORD, WRONG_PASSWORD, BOGUS_HOOK_KEY, f"{base_url}/hook/{BOGUS_HOOK_KEY}"}
    seen: list[str] = []  # every repr / str a user could look at
    states: list[SessionState | None] = []
    errors: list[BaseException] = []

    def client(password: str) -> FleepClient:
        return FleepClient(
            EMAIL,
            password,
            base_url=base_url,
            transport=transport,
            allow_insecure_http=True,
            sleep=_no_sleep,
            on_session_change=states.append,
        )

    router = Router(skip_own=False)
    texts: dict[str, anyio.Event] = {}

    def arrived(text: str) -> anyio.Event:
        return texts.setdefault(text, anyio.Event())

    @router.any()
    async def everything(record: Any, ctx: Any) -> None:
        seen.extend(shown(record) + shown(ctx))
        if isinstance(record, MessageRecord):
            # (record.system is the decoded wire body, data like SessionState.to_dict(): it
            # keeps the hook_key of a "hook" system message, which every member can see anyway.)
            seen.extend([record.text, record.xml])
            arrived(record.text).set()

    with every_log_at_debug() as logs, anyio.fail_after(GUARD):
        # A refused login.
        with pytest.raises(AuthenticationError) as refused:
            async with client(WRONG_PASSWORD):
                pass
        errors.append(refused.value)

        async with client(PASSWORD) as bot:
            seen.extend(shown(bot) + shown(bot.session_state) + shown(bot._session))
            engine = EventEngine(bot, router, backlog="skip", min_poll_interval=0.05)
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)

                # Send, upload, attach, download.
                seen.extend(shown(await bot.message.send(cid, message="hello")))
                upload = await bot.file.upload([("notes.txt", b"nothing secret here")])
                sent = await bot.message.send(cid, message="a file", attachments=upload.upload_urls)
                seen.extend(shown(upload) + shown(sent))
                (file,) = [r for r in sent.stream if isinstance(r, FileRecord)]
                assert file.file_url is not None
                assert await bot.file.download(file.file_url) == b"nothing secret here"

                # A hook: create it, post through it, see the post come back in the stream.
                created = await bot.conversation.create_hook(cid, hook_name="ci")
                hook = created.hook_info
                assert hook is not None
                assert hook.hook_url is not None
                secrets |= {hook.hook_url, hook.hook_url.rsplit("/", 1)[1], hook.hook_key}
                seen.extend(shown(created) + shown(hook))
                await bot.hook.post(hook.hook_url, "posted by a hook", user="CI")
                await arrived("posted by a hook").wait()

                # The server forgets the session: the poll and the next send log in again.
                fake.expire_session(alice)
                seen.extend(shown(await bot.send_text(cid, "after expiry")))
                await arrived("after expiry").wait()
                assert bot._session.generation >= 2

                # Error responses of several kinds.
                with pytest.raises(NotFoundError) as not_member:
                    await bot.message.send(private, message="x")
                with pytest.raises(NotFoundError) as no_hook:
                    await bot.hook.post(f"{base_url}/hook/{BOGUS_HOOK_KEY}", "x")
                fake.faults.fail("message/store", 503, times=10)
                with pytest.raises(ServerError) as unavailable:
                    await bot.send_text(cid, "x")  # through message/store
                fake.faults.clear()
                fake.faults.truncate("account/sync")
                with pytest.raises(DecodeError) as cut:
                    await bot.request("account/sync", {}, idempotent=True)
                errors += [not_member.value, no_hook.value, unavailable.value, cut.value]

                seen.extend(shown(engine) + shown(engine.health))
                await engine.shutdown()
            await bot.logout()
            seen.extend(shown(bot))

    for state in states:
        if state is not None:
            secrets |= {state.ticket, state.token_id or state.ticket}
            seen.extend(shown(state))
    seen.append(repr(Credentials(email=EMAIL, password=PASSWORD)))
    for error in errors:
        seen.extend(shown(error))

    # The collection is real: the secrets were in play, and the loggers did talk.
    assert sum(1 for s in states if s is not None) >= 2  # the login and the re-login
    assert len(secrets) >= 10
    names = {record.name for record in logs.records}
    assert {"httpx", "fleep_async.session", "fleep_async.transport"} <= names
    if transport is None:
        assert "httpcore.http11" in names  # response headers (Set-Cookie) are logged here
    assert any("POST ***" in text or "/hook/***" in text for text in logs.texts())

    assert leaks(secrets, logs.texts()) == []
    assert leaks(secrets, seen) == []


def test_session_state_to_dict_is_where_tickets_live() -> None:
    state = SessionState(
        account_id="acc", ticket="ticket-0123456789", token_id="token-abcdef0123", email="a@b.c"
    )
    saved = state.to_dict()
    # to_dict is for saving a session: the secrets are in it, on purpose.
    assert saved["ticket"] == "ticket-0123456789"
    assert saved["token_id"] == "token-abcdef0123"
    assert SessionState.from_dict(saved) == state
    # Everything else about the state hides them.
    for text in (repr(state), str(state)):
        assert "0123456789" not in text
        assert "abcdef0123" not in text
        assert "ticket='***'" in text


async def test_a_response_cut_inside_a_secret_shows_no_part_of_it() -> None:
    # Regression: redaction of "ticket": "..." needed the closing quote, so a body cut inside
    # the value (a truncated login answer) put the first half of the ticket in the DecodeError.
    body = b'{"account_id": "acc", "ticket": "0123456789abcdef'

    async with Transport(
        base_url="https://fleep.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    ) as transport:
        with pytest.raises(DecodeError) as info:
            await transport.post_json("account/login", {"email": EMAIL, "password": PASSWORD})
    for text in shown(info.value):
        assert "0123456789" not in text
    assert '"ticket": "***' in str(info.value)
    assert redact("{'password': 'hunter2hunter2") == "{'password': '***"


async def test_http_library_debug_logs_hide_the_session_cookie(raw_server: RawServer) -> None:
    # Regression: httpcore logs every response's headers at DEBUG, Set-Cookie included, and only
    # the "httpx" logger had the redacting filter.
    token = "3c1f9a7e-0b52-4d8e-a6f1-92d0c4b7e5aa"

    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
            b"set-cookie: token_id=" + token.encode() + b"; Path=/; HttpOnly\r\n\r\n{}"
        )

    with every_log_at_debug() as logs:
        async with raw_server(respond) as url, Transport(base_url=url) as transport:
            result = await transport.post_json("account/sync", {}, ticket="t1c2k3e4t5")
        # hpack (HTTP/2) logs header lists at DEBUG; its records are cleaned the same way.
        logging.getLogger("hpack.hpack").debug("Encoding %s", [("cookie", f"token_id={token}")])
    assert result.token_id == token
    texts = logs.texts()
    assert any("set-cookie" in text for text in texts)  # the header was logged, redacted
    assert any("Encoding [('cookie', '***')]" in text for text in texts)
    assert leaks({token, "t1c2k3e4t5"}, texts) == []


# -- transport rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://fleep.io",
        "http://10.0.0.1:8000",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.example",
        "http://x.localhost",
        "http://[::ffff:10.0.0.1]",
        "ftp://fleep.io",
    ],
)
def test_plain_http_is_refused_for_non_loopback_hosts(url: str) -> None:
    with pytest.raises(UsageError):
        FleepClient(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:1",
        "http://[::1]:80",
        "http://127.8.9.10",
        "http://[::ffff:127.0.0.1]",
    ],
)
async def test_plain_http_is_allowed_to_loopback_and_by_opt_in(url: str) -> None:
    await FleepClient(base_url=url).aclose()
    await FleepClient(base_url="http://fleep.example", allow_insecure_http=True).aclose()


async def test_hook_and_download_urls_follow_the_same_http_rule() -> None:
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(200))
    async with FleepClient(base_url="https://fleep.test", transport=transport) as client:
        with pytest.raises(UsageError):
            await client.hook.post(f"http://fleep.test/hook/{BOGUS_HOOK_KEY}", "x")
        with pytest.raises(UsageError):
            await client.file.download("http://fleep.test/file/a/b/c/x.txt")
    assert requests == []


async def test_tls_verification_is_on_by_default() -> None:
    async with FleepClient() as client:
        transport = client._transport
        # Both pools: the long poll's and the one for everything else.
        for http in (transport._client, transport._poll_client):
            context = http._transport._pool._ssl_context  # type: ignore[attr-defined]
            assert isinstance(context, ssl.SSLContext)
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname is True
            assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


TOKEN = "tok-5e2a9c71-b3d4-4f0e-8a6b-c9d2e1f07a3b"


@contextlib.asynccontextmanager
async def logged_in(
    handler: Callable[[httpx.Request], httpx.Response],
) -> AsyncIterator[FleepClient]:
    """A client on https://fleep.test that resumed a session whose cookie is TOKEN.

    The resume's ``account/sync`` is answered here; ``handler`` sees every later request.
    """
    state = SessionState(account_id="acc", ticket="ticket-9f8e7d6c5b", token_id=TOKEN)

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/account/sync":
            return httpx.Response(200, json={"event_horizon": 1})
        return handler(request)

    transport = httpx.MockTransport(serve)
    async with FleepClient(base_url="https://fleep.test", session=state, transport=transport) as c:
        assert c.session_state is not None
        assert c.session_state.token_id == TOKEN
        yield c


@pytest.mark.parametrize(
    "file_url",
    [
        "https://files.example/file/a/b/c/x.txt",
        "https://fleep.test.evil.example/file/x.txt",
        "https://fleep.test:8443/file/x.txt",
        "https://fleep.test@evil.example/file/x.txt",
        "//evil.example/file/x.txt",
    ],
)
async def test_the_session_cookie_is_never_sent_to_a_foreign_host(file_url: str) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=b"data")

    async with logged_in(handler) as client:
        assert await client.file.download(file_url) == b"data"
    (request,) = requests
    assert request.url.host != "fleep.test" or request.url.port == 8443
    assert "cookie" not in request.headers
    assert TOKEN not in str(request.url)


async def test_the_session_cookie_goes_to_the_own_server_only_across_redirects() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host == "fleep.test":
            return httpx.Response(302, headers={"location": "https://cdn.example/blob/1"})
        return httpx.Response(200, content=b"data")

    async with logged_in(handler) as client:
        assert await client.file.download("/file/a/b/c/x.txt") == b"data"
    assert [r.url.host for r in requests] == ["fleep.test", "cdn.example"]
    assert requests[0].headers["cookie"] == f"token_id={TOKEN}"
    assert "cookie" not in requests[1].headers


async def test_a_redirect_to_plain_http_is_refused() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(302, headers={"location": "http://fleep.test/file/a/b/c/x.txt"})

    async with logged_in(handler) as client:
        with pytest.raises(UsageError):
            await client.file.download("/file/a/b/c/x.txt")
    assert len(requests) == 1


async def test_a_hook_post_carries_no_session() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    async with logged_in(handler) as client:
        await client.hook.post(f"https://fleep.test/hook/{BOGUS_HOOK_KEY}", "hi", user="CI")
    (request,) = requests
    assert "cookie" not in request.headers
    assert b"ticket" not in request.content
    assert "ticket" not in str(request.url)


async def test_errors_on_a_hook_url_never_name_it() -> None:
    hook_url = f"https://fleep.test/hook/{BOGUS_HOOK_KEY}"

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error_id": "not_found", "error_message": hook_url})

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    caught: list[FleepError] = []
    for handler, expected in ((refuse, NotFoundError), (fail, TransportError)):
        client = FleepClient(
            base_url="https://fleep.test",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy.none(),
        )
        async with client:
            with pytest.raises(expected) as info:
                await client.hook.post(hook_url, "x")
            caught.append(info.value)
        for bad_url in (hook_url + "/extra", hook_url.replace("fleep.test", "fleep.test:x")):
            with pytest.raises(UsageError) as bad:
                await client.hook.post(bad_url, "x")
            caught.append(bad.value)
    texts = [text for error in caught for text in shown(error)]
    assert len(caught) == 6
    assert leaks({BOGUS_HOOK_KEY}, texts) == []


# -- issue: cookies, locals and the HTTP library loggers, over loopback ---------------------------

TOKEN_A = "Tk0aQuoted7e1f9c2b44d8a6e"


@pytest.mark.parametrize(
    "set_cookie",
    [
        f'token_id="{TOKEN_A}"; Path=/; HttpOnly',  # quoted: RFC 6265 allows it
        f"token_id = {TOKEN_A} ; Path=/",  # spaced around "="
        f'token_id= "{TOKEN_A}"',  # both
    ],
    ids=["quoted", "spaced", "quoted-and-spaced"],
)
async def test_a_quoted_or_spaced_token_cookie_is_used_and_never_logged(
    raw_server: RawServer, set_cookie: str
) -> None:
    # Regression: the parser accepted these forms but the log redaction did not recognise them,
    # so httpcore's DEBUG header line showed the token in clear.
    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
            b"set-cookie: " + set_cookie.encode() + b"\r\n\r\n{}"
        )

    with every_log_at_debug() as logs, anyio.fail_after(GUARD):
        async with raw_server(respond) as url, Transport(base_url=url) as transport:
            result = await transport.post_json("account/sync", {})
    assert result.token_id == TOKEN_A
    texts = logs.texts()
    assert any("receive_response_headers.complete" in text for text in texts)  # httpcore talked
    assert leaks({TOKEN_A}, texts) == []


async def test_a_non_ascii_token_cookie_is_a_typed_error_and_the_session_lives_on(
    raw_server: RawServer,
) -> None:
    # Regression: a non-ASCII byte in the cookie was accepted, and the next call raised an
    # untyped UnicodeEncodeError whose repr held the whole token; the session was poisoned.
    good, bad = "GoodToken0123456789abcdef", b"BadT\xe9ken0123456789abcdef"
    cookies_seen: list[bytes] = []
    syncs = 0

    async def respond(stream: anyio.abc.SocketStream, request: bytes) -> None:
        nonlocal syncs
        head = request.lower()
        cookies_seen.extend(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"cookie:")
        )
        if b"/api/account/login" in head:
            body, cookie = b'{"ticket": "TicketXyz0123456789", "account_id": "acc"}', good.encode()
        else:
            syncs += 1
            body, cookie = b"{}", (bad if syncs == 1 else b"")
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n"
            + (b"set-cookie: token_id=" + cookie + b"; Path=/\r\n" if cookie else b"")
            + b"\r\n"
            + body
        )

    with anyio.fail_after(GUARD):
        async with (
            raw_server(respond) as url,
            FleepClient(EMAIL, PASSWORD, base_url=url) as client,
        ):
            with pytest.raises(DecodeError, match="token_id cookie that is not valid") as info:
                await client.request("account/sync", {})
            assert client.session_state is not None
            assert client.session_state.token_id == good  # not replaced, not poisoned
            await client.request("account/sync", {})  # and the session still works
    assert cookies_seen == [f"token_id={good}".encode()] * 2  # what the server received
    assert leaks({"BadT", "TicketXyz0123456789", good, PASSWORD}, shown(info.value)) == []


async def test_a_saved_session_with_an_unsendable_cookie_is_a_usage_error() -> None:
    fake = FakeFleep(seed=4)
    state = SessionState(account_id="acc", ticket="ticket-0123456789", token_id="tok\xe9n-0123456")
    client = FleepClient(session=state, base_url=fake.base_url, transport=fake.transport())
    with pytest.raises(UsageError, match="token_id cookie is not valid") as info:
        async with client:  # resuming checks the session with a first call
            pass
    assert leaks({"ticket-0123456789", "n-0123456"}, shown(info.value)) == []


async def _caught(call: Callable[[], Any]) -> FleepError:
    """The error ``call`` raises, caught in a frame that holds no secret of its own."""
    try:
        await call()
    except FleepError as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize("http", ["httpx", "aiohttp"])
async def test_no_secret_sits_in_traceback_locals_after_ordinary_errors(http: str) -> None:
    # Regression: with capture_locals=True (what Sentry-style reporters record), the password,
    # the ticket (request content) and the Cookie header were in frame locals after ordinary
    # 401/429/timeout/transport errors. Real uvicorn FakeFleep on loopback, DEBUG everywhere.
    # Over aiohttp the JSON calls take the transport's direct path (no httpx client): the same.
    def transports() -> dict[str, Any]:
        if http == "httpx":
            return {}
        return {"transport": aiohttp_transport(), "poll_transport": aiohttp_transport()}

    async with FakeFleep.serve(hold_seconds=0.2, seed=5) as served:
        fake, url = served.fake, served.base_url
        alice = fake.create_account(EMAIL, PASSWORD, "Alice")
        cid = fake.create_conversation(alice, "locals")
        states: list[SessionState | None] = []
        errors: dict[str, FleepError] = {}
        with every_log_at_debug() as logs, anyio.fail_after(GUARD):
            client = FleepClient(
                EMAIL,
                PASSWORD,
                base_url=url,
                timeout=0.5,
                retry=RetryPolicy.none(),
                on_session_change=states.append,
                **transports(),
            )
            async with client:
                send = lambda: client.message.send(cid, message="x")  # noqa: E731

                fake.faults.fail("message/send", 401, times=2)
                errors["401"] = await _caught(send)
                fake.faults.clear()
                fake.faults.fail("message/send", 429, times=1, retry_after=0)
                errors["429"] = await _caught(send)
                fake.faults.clear()
                fake.faults.delay("message/send", seconds=3)
                errors["timeout"] = await _caught(send)
                fake.faults.clear()
                fake.faults.drop("message/send", commit=False)
                errors["transport"] = await _caught(send)
                fake.faults.clear()
                hook = f"{url}/hook/{BOGUS_HOOK_KEY}"
                errors["hook 404"] = await _caught(lambda: client.hook.post(hook, "x"))

            fake.faults.delay("account/login", seconds=3)
            late = FleepClient(
                EMAIL, PASSWORD, base_url=url, timeout=0.5, retry=RetryPolicy.none(), **transports()
            )
            errors["login timeout"] = await _caught(late.__aenter__)
            await late.aclose()
            fake.faults.clear()

    assert {name: type(error).__name__ for name, error in errors.items()} == {
        "401": "AuthenticationError",
        "429": "RateLimitError",
        "timeout": "FleepTimeoutError",
        "transport": "TransportError",
        "hook 404": "NotFoundError",
        "login timeout": "FleepTimeoutError",
    }
    secrets = {PASSWORD, BOGUS_HOOK_KEY}
    for state in states:
        if state is not None:
            secrets |= {state.ticket, state.token_id or state.ticket}
    assert len(secrets) >= 4  # a login and a re-login: two tickets, two cookies
    for name, error in errors.items():
        texts = with_locals(error)
        assert "Secret('***')" in "".join(texts), name  # the frames that held secrets were there
        assert leaks(secrets, texts) == [], name
        assert leaks(secrets, shown(error)) == [], name
    assert leaks(secrets, logs.texts()) == []
    if http == "httpx":
        assert {"httpcore.http11", "httpx"} <= {record.name for record in logs.records}


def test_importing_fleep_async_changes_no_logger() -> None:
    # A fresh interpreter: importing the library (and FakeFleep) adds no filter to any logger.
    probe = (
        "import logging, fleep_async, fleep_async.testing\n"
        "names = ['', *logging.root.manager.loggerDict]\n"
        "print(sum(len(getattr(logging.getLogger(n), 'filters', [])) for n in names))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"


async def test_the_http_log_filters_only_redact() -> None:
    # Installed with the first Transport, on the HTTP libraries' loggers only; a record without
    # a secret passes untouched (same msg, same args), and no record is ever dropped.
    async with Transport(base_url="https://fleep.test"):
        pass
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.DEBUG)
    http11 = logging.getLogger("httpcore.http11")
    saved = http11.level
    http11.addHandler(keep)
    http11.setLevel(logging.DEBUG)
    try:
        args = ({"a": 1}, [b"x"])
        http11.debug("plain %s %s", *args)
        http11.debug("cookie %s", [(b"set-cookie", b'token_id="abc123def456"; Path=/')])
        http11.debug("query %s", "https://x/api/file/upload?ticket=zz9y8x7w6v")
    finally:
        http11.removeHandler(keep)
        http11.setLevel(saved)
    assert len(records) == 3  # none dropped
    assert records[0].msg == "plain %s %s"
    assert records[0].args == args  # untouched
    assert records[1].getMessage() == "cookie [(b'set-cookie', b'***')]"
    assert records[2].getMessage() == "query https://x/api/file/upload?ticket=***"
    assert logging.getLogger("fleep_async").filters == []
    assert logging.getLogger().filters == []
