"""Session: login, logout, resume, token rotation and the single-flight re-login."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
import respx

from fleep_async._http import Transport, UploadFile
from fleep_async._retry import RetryPolicy
from fleep_async._session import Credentials, Session, SessionState
from fleep_async.errors import (
    AuthenticationError,
    DecodeError,
    PermissionDeniedError,
    ServerError,
    TransportError,
    UsageError,
)

pytestmark = pytest.mark.anyio

BASE = "https://fleep.test"
EMAIL = "bot@example.com"
PASSWORD = "correct-horse-battery"
ACCOUNT = "3c2c8dee-02c6-4280-9306-d76a932cd79e"


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeAuth:
    """Just enough of Fleep's auth: logins hand out ticket + token_id; calls check both."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.password = PASSWORD
        self.logins = 0
        self.live: set[tuple[str, str]] = set()
        self.served_401 = 0
        self.login_gate: anyio.Event | None = None
        self.refuse_status = 401
        # Per-path handlers that take over from the generic authenticated endpoint.
        self.overrides: dict[str, Any] = {}
        self.login_route = router.post("/api/account/login").mock(side_effect=self.login)
        self.logout_route = router.post("/api/account/logout").mock(side_effect=self.logout)
        router.route(method="POST", path__regex=r"^/api/(?!account/log)").mock(
            side_effect=self.call
        )

    def secrets(self) -> list[str]:
        out = [self.password]
        for n in range(1, self.logins + 2):
            out += [self.ticket(n), self.token(n)]
        return out

    @staticmethod
    def ticket(n: int) -> str:
        return f"{n:04d}a9c3c2fc696c4a4b"

    @staticmethod
    def token(n: int) -> str:
        return f"{n:08d}-7819-41dc-ad93-a38aab2c9409"

    def expire_all(self) -> None:
        self.live.clear()

    async def login(self, request: httpx.Request) -> httpx.Response:
        self.logins += 1
        body = orjson.loads(request.content)
        assert "ticket" not in body
        assert "cookie" not in request.headers
        if self.login_gate is not None:
            await self.login_gate.wait()
        if body != {"email": EMAIL, "password": self.password, "remember_me": True}:
            return httpx.Response(self.refuse_status, json={"error_id": "bad_login"})
        n = self.logins
        self.live.add((self.ticket(n), self.token(n)))
        return httpx.Response(
            200,
            json={
                "account_id": ACCOUNT,
                "ticket": self.ticket(n),
                "display_name": "Bot",
                "profiles": [
                    {"account_id": "someone-else", "email": "other@example.com"},
                    {"account_id": ACCOUNT, "email": EMAIL, "mk_rec_type": "contact"},
                ],
            },
            headers={"Set-Cookie": f"token_id={self.token(n)}; Path=/; HttpOnly"},
        )

    def _auth_ok(self, request: httpx.Request) -> bool:
        ticket = request.url.params.get("ticket")
        if ticket is None and request.headers.get("content-type") == "application/json":
            ticket = orjson.loads(request.content).get("ticket")
        cookie = request.headers.get("cookie", "")
        token = cookie.removeprefix("token_id=")
        return (ticket, token) in self.live

    async def logout(self, request: httpx.Request) -> httpx.Response:
        if not self._auth_ok(request):
            return httpx.Response(401, json={"error_message": "Expired token, please relogin."})
        self.expire_all()
        return httpx.Response(200, content=b"")

    async def call(self, request: httpx.Request) -> httpx.Response:
        override = self.overrides.get(request.url.path)
        if override is not None:
            return await override(request)
        if not self._auth_ok(request):
            self.served_401 += 1
            return httpx.Response(401, json={"error_message": "Expired token, please relogin."})
        if request.url.path == "/api/account/sync":
            return httpx.Response(
                200, json={"account_id": ACCOUNT, "display_name": "Bot Renamed", "email": EMAIL}
            )
        return httpx.Response(200, json={"path": request.url.path})


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


@pytest.fixture
def fake(router: respx.MockRouter) -> FakeAuth:
    return FakeAuth(router)


@pytest.fixture
async def transport(router: respx.MockRouter) -> AsyncIterator[Transport]:
    async with Transport(
        base_url=BASE,
        transport=httpx.MockTransport(router.async_handler),
        sleep=RecordingSleep(),
        retry=RetryPolicy(random=lambda: 0.0),
    ) as t:
        yield t


def make_session(transport: Transport, **kwargs: Any) -> Session:
    return Session(transport, Credentials(email=EMAIL, password=PASSWORD), **kwargs)


# -- records ---------------------------------------------------------------------------------


def test_credentials_repr_hides_password() -> None:
    credentials = Credentials(email=EMAIL, password=PASSWORD)
    assert PASSWORD not in repr(credentials)
    assert EMAIL in repr(credentials)


def test_session_state_repr_and_round_trip() -> None:
    state = SessionState(
        account_id=ACCOUNT, ticket=FakeAuth.ticket(1), token_id=FakeAuth.token(1), email=EMAIL
    )
    assert FakeAuth.ticket(1) not in repr(state)
    assert FakeAuth.token(1) not in repr(state)
    assert ACCOUNT in repr(state)
    assert SessionState.from_dict(orjson.loads(orjson.dumps(state.to_dict()))) == state
    assert SessionState.from_dict({"account_id": "a", "ticket": "t", "extra": 1}).token_id is None


@pytest.mark.parametrize(
    "data", [{}, {"account_id": "a"}, {"ticket": "t"}, {"account_id": "a", "ticket": 5}]
)
def test_session_state_from_bad_dict(data: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        SessionState.from_dict(data)


# -- login / logout --------------------------------------------------------------------------


async def test_login_stores_the_session(fake: FakeAuth, transport: Transport) -> None:
    changes: list[SessionState | None] = []
    session = make_session(transport, on_state_change=changes.append)
    state = await session.login()
    assert state == SessionState(
        account_id=ACCOUNT,
        ticket=fake.ticket(1),
        token_id=fake.token(1),
        display_name="Bot",
        email=EMAIL,
    )
    assert session.state == state
    assert session.account_id == ACCOUNT
    assert session.generation == 1
    assert session.profile == {"account_id": ACCOUNT, "email": EMAIL, "mk_rec_type": "contact"}
    assert changes == [state]
    assert PASSWORD not in repr(session)
    assert fake.ticket(1) not in repr(session)


async def test_async_state_callback_awaited(fake: FakeAuth, transport: Transport) -> None:
    seen: list[SessionState | None] = []

    async def on_change(state: SessionState | None) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(state)

    session = make_session(transport, on_state_change=on_change)
    await session.login()
    await session.logout()
    assert [s is not None for s in seen] == [True, False]


@pytest.mark.parametrize("status", [400, 401, 431])
async def test_refused_login_is_authentication_error(
    fake: FakeAuth, transport: Transport, status: int
) -> None:
    fake.password = "changed-elsewhere"
    fake.refuse_status = status
    session = make_session(transport)
    with pytest.raises(AuthenticationError) as info:
        await session.login()
    assert info.value.status_code == status
    assert info.value.endpoint == "account/login"
    assert fake.logins == 1
    assert session.state is None
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)


async def test_other_login_failures_keep_their_type(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.post("/api/account/login").respond(403, json={"error_id": "account_closed"})
    with pytest.raises(PermissionDeniedError):
        await make_session(transport).login()


async def test_login_retried_on_5xx(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post("/api/account/login").mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(200, json={"account_id": ACCOUNT, "ticket": "tttt"}),
        ]
    )
    state = await make_session(transport).login()
    assert route.call_count == 2
    assert state.token_id is None
    assert state.email == EMAIL  # no profile: the credentials' email


async def test_login_answer_without_ticket(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/login").respond(200, json={"account_id": ACCOUNT})
    with pytest.raises(DecodeError):
        await make_session(transport).login()


async def test_login_without_credentials(fake: FakeAuth, transport: Transport) -> None:
    with pytest.raises(UsageError):
        await Session(transport).login()
    with pytest.raises(UsageError):
        await Session(transport).call("account/sync")
    assert fake.logins == 0


async def test_logout(fake: FakeAuth, router: respx.MockRouter, transport: Transport) -> None:
    changes: list[SessionState | None] = []
    session = make_session(transport, on_state_change=changes.append)
    await session.login()
    await session.logout()
    logout = fake.logout_route
    body = orjson.loads(logout.calls.last.request.content)
    assert body == {"ticket": fake.ticket(1), "api_version": 2}
    assert logout.calls.last.request.headers["cookie"] == f"token_id={fake.token(1)}"
    assert session.state is None
    assert changes[-1] is None
    await session.logout()  # not logged in: no request
    assert logout.call_count == 1


async def test_logout_of_a_dead_session_is_quiet(fake: FakeAuth, transport: Transport) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    await session.logout()
    assert session.state is None


async def test_ensure_login_logs_in_once_for_concurrent_callers(
    fake: FakeAuth, transport: Transport
) -> None:
    session = make_session(transport)
    states: list[SessionState] = []

    async def ensure() -> None:
        states.append(await session.ensure_login())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(ensure)
    assert fake.logins == 1
    assert len({s.ticket for s in states}) == 1


# -- calls -----------------------------------------------------------------------------------


async def test_call_adds_ticket_api_version_and_cookie(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    session = make_session(transport)
    data = await session.call("message/send/c1", {"message": "hi"})
    assert data == {"path": "/api/message/send/c1"}
    request = router.calls.last.request
    assert orjson.loads(request.content) == {
        "message": "hi",
        "ticket": fake.ticket(1),
        "api_version": 2,
    }
    assert request.headers["cookie"] == f"token_id={fake.token(1)}"


async def test_login_carries_no_api_version_and_an_explicit_one_wins(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    # As Fleep's own clients: api_version comes with the ticket, never on login; a caller that
    # names its own (event/store is documented with 4) keeps it.
    session = make_session(transport)
    await session.login()
    login = next(c.request for c in router.calls if c.request.url.path == "/api/account/login")
    assert "api_version" not in orjson.loads(login.content)
    await session.call("event/store", {"api_version": 4, "stream": []})
    assert orjson.loads(router.calls.last.request.content)["api_version"] == 4


async def test_unauthenticated_call(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post("/api/account/check_email").respond(200, json={"ok": True})
    session = Session(transport)
    assert await session.call("account/check_email", {"email": EMAIL}, auth=False) == {"ok": True}
    request = route.calls.last.request
    assert orjson.loads(request.content) == {"email": EMAIL}
    assert "cookie" not in request.headers


async def test_rotated_token_id_picked_up(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    changes: list[SessionState | None] = []
    session = make_session(transport, on_state_change=changes.append)
    await session.login()
    rotated = "99999999-7819-41dc-ad93-a38aab2c9409"

    async def rotate(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"Set-Cookie": f"token_id={rotated}; Path=/"})

    fake.overrides["/api/conversation/sync/c1"] = rotate
    await session.call("conversation/sync/c1")
    assert session.state is not None
    assert session.state.token_id == rotated
    assert session.generation == 1  # same session, new cookie
    assert changes[-1] == session.state
    fake.live.add((fake.ticket(1), rotated))
    await session.call("message/send/c1", {})
    assert router.calls.last.request.headers["cookie"] == f"token_id={rotated}"


async def test_answer_from_before_a_relogin_does_not_overwrite_the_new_cookie(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    session = make_session(transport)
    await session.login()
    started = anyio.Event()
    release = anyio.Event()

    async def slow_poll(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return httpx.Response(200, json={}, headers={"Set-Cookie": "token_id=stale-token-xx"})

    fake.overrides["/api/account/poll"] = slow_poll

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(session.call, "account/poll")
            await started.wait()
            await session.login()  # a new generation while the poll is parked
            release.set()
    assert session.state is not None
    assert session.state.token_id == fake.token(2)


async def test_401_relogin_and_repeat_once(fake: FakeAuth, transport: Transport) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    data = await session.call("message/send/c1", {"message": "hi"})
    assert data == {"path": "/api/message/send/c1"}
    assert fake.logins == 2
    assert session.generation == 2
    assert session.state is not None
    assert session.state.ticket == fake.ticket(2)


async def test_401_without_credentials(fake: FakeAuth, transport: Transport) -> None:
    state = SessionState(account_id=ACCOUNT, ticket="dead-ticket", token_id="dead-token")
    session = Session(transport, state=state)
    with pytest.raises(AuthenticationError):
        await session.call("message/send/c1", {})
    assert fake.logins == 0
    assert fake.served_401 == 1


async def test_second_401_after_relogin_is_not_a_loop(
    router: respx.MockRouter, transport: Transport
) -> None:
    logins = router.post("/api/account/login").respond(
        200, json={"account_id": ACCOUNT, "ticket": "tttt"}
    )
    calls = router.post("/api/message/send/c1").respond(401)
    session = make_session(transport)
    with anyio.fail_after(5), pytest.raises(AuthenticationError):
        await session.call("message/send/c1", {})
    assert logins.call_count == 2  # the first login, then exactly one re-login
    assert calls.call_count == 2  # the call and one repeat


async def test_single_flight_relogin_under_20_concurrent_401s(
    fake: FakeAuth, transport: Transport
) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    all_rejected = anyio.Event()
    results: list[dict[str, Any]] = []

    # Hold the re-login until every one of the 20 calls has seen its 401.
    fake.login_gate = all_rejected

    async def one(i: int) -> None:
        results.append(await session.call(f"message/send/c{i}", {"message": str(i)}))

    async def watch() -> None:
        while fake.served_401 < 20:
            await anyio.sleep(0)
        all_rejected.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            for i in range(20):
                tg.start_soon(one, i)
    assert fake.logins == 2  # the first login plus exactly one re-login
    assert fake.served_401 == 20
    assert sorted(r["path"] for r in results) == sorted(
        f"/api/message/send/c{i}" for i in range(20)
    )
    assert session.generation == 2


async def test_failed_relogin_shared_by_all_callers(
    fake: FakeAuth, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    fake.password = "changed-by-an-admin"
    all_rejected = anyio.Event()
    fake.login_gate = all_rejected
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        try:
            await session.call(f"message/send/c{i}", {})
        except AuthenticationError as exc:
            errors.append(exc)

    async def watch() -> None:
        while fake.served_401 < 20:
            await anyio.sleep(0)
        all_rejected.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            for i in range(20):
                tg.start_soon(one, i)
    assert len(errors) == 20
    assert fake.logins == 2  # one failed re-login, not twenty
    assert fake.served_401 == 20  # nobody repeated its call
    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in errors]
    texts += [repr(e) for e in errors]
    for secret in [*fake.secrets(), "changed-by-an-admin"]:
        assert all(secret not in text for text in texts), secret


async def test_relogin_transport_failure_propagates_as_is(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    fake.login_route.mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(TransportError):
        await session.call("message/send/c1", {})


# -- resume ----------------------------------------------------------------------------------


async def test_resume_checks_with_account_sync(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    fake.live.add(("saved-ticket", "saved-token"))
    saved = SessionState(account_id=ACCOUNT, ticket="saved-ticket", token_id="saved-token")
    session = Session(transport, state=None)
    state = await session.resume(saved)
    assert fake.logins == 0
    request = router.calls.last.request
    assert request.url.path == "/api/account/sync"
    assert orjson.loads(request.content) == {"ticket": "saved-ticket", "api_version": 2}
    assert request.headers["cookie"] == "token_id=saved-token"
    assert state.display_name == "Bot Renamed"
    assert state.email == EMAIL
    assert state.ticket == "saved-ticket"


async def test_resume_dead_session_logs_in_with_credentials(
    fake: FakeAuth, transport: Transport
) -> None:
    saved = SessionState(account_id=ACCOUNT, ticket="dead-ticket", token_id="dead-token")
    session = make_session(transport)
    state = await session.resume(saved)
    assert fake.logins == 1
    assert state.ticket == fake.ticket(1)


async def test_resume_dead_session_without_credentials(
    fake: FakeAuth, transport: Transport
) -> None:
    saved = SessionState(account_id=ACCOUNT, ticket="dead-ticket", token_id="dead-token")
    session = Session(transport)
    with pytest.raises(AuthenticationError):
        await session.resume(saved)
    assert session.state is None


# -- uploads ---------------------------------------------------------------------------------


async def test_upload_relogin_and_repeat_for_bytes(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()
    data = await session.upload("file/upload", [UploadFile(name="a.txt", content=b"abc")])
    assert data == {"path": "/api/file/upload"}
    assert fake.logins == 2
    assert fake.served_401 == 1
    request = router.calls.last.request
    assert request.url.params["ticket"] == fake.ticket(2)
    assert request.headers["cookie"] == f"token_id={fake.token(2)}"


async def test_upload_from_iterator_not_repeated_after_401(
    fake: FakeAuth, router: respx.MockRouter, transport: Transport
) -> None:
    session = make_session(transport)
    await session.login()
    fake.expire_all()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"abc"

    with pytest.raises(AuthenticationError):
        await session.upload("file/upload", [UploadFile(name="a.txt", content=chunks())])
    assert fake.logins == 1
    assert fake.served_401 == 1


async def test_server_error_is_not_a_relogin(fake: FakeAuth, transport: Transport) -> None:
    session = make_session(transport)
    await session.login()

    async def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    fake.overrides["/api/message/send/c1"] = broken
    with pytest.raises(ServerError):
        await session.call("message/send/c1", {})
    assert fake.logins == 1
