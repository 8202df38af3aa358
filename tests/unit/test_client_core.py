"""FleepClient core: lifecycle, raw request, passthroughs; on asyncio and trio."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
import orjson
import pytest
import respx
import sniffio

from fleep_async._client import FleepClient
from fleep_async._http import UploadFile
from fleep_async._retry import RetryPolicy
from fleep_async._session import SessionState
from fleep_async.errors import AuthenticationError, ServerError, UsageError

pytestmark = pytest.mark.anyio

BASE = "https://fleep.test"
EMAIL = "bot@example.com"
PASSWORD = "correct-horse-battery"
ACCOUNT = "3c2c8dee-02c6-4280-9306-d76a932cd79e"
TICKET = "d5a9c3c2fc696c4a4b55"
TOKEN = "dd737a29-7819-41dc-ad93-a38aab2c9409"
HOOK_KEY = "Z0Ph_W2LTVa8sgicQ5Gruw"
SECRETS = (PASSWORD, TICKET, TOKEN, HOOK_KEY)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Server:
    """respx routes for one account: login, sync, logout and a generic endpoint."""

    def __init__(self) -> None:
        self.router = respx.MockRouter(base_url=BASE, assert_all_called=False)
        self.login = self.router.post("/api/account/login").respond(
            200,
            json={"account_id": ACCOUNT, "ticket": TICKET, "display_name": "Bot"},
            headers={"Set-Cookie": f"token_id={TOKEN}; Path=/"},
        )
        self.sync = self.router.post("/api/account/sync").respond(
            200, json={"account_id": ACCOUNT, "display_name": "Bot", "email": EMAIL}
        )
        self.logout = self.router.post("/api/account/logout").respond(200, content=b"")
        self.send = self.router.post("/api/message/send/c1").respond(200, json={"sent": 1})

    def client(
        self, email: str | None = EMAIL, password: str | None = PASSWORD, **kw: Any
    ) -> FleepClient:
        return FleepClient(
            email,
            password,
            base_url=BASE,
            transport=httpx.MockTransport(self.router.async_handler),
            retry=RetryPolicy(random=lambda: 0.0),
            **kw,
        )


@pytest.fixture
def server() -> Server:
    return Server()


async def test_async_with_logs_in_and_does_not_log_out(server: Server) -> None:
    assert sniffio.current_async_library() in {"asyncio", "trio"}
    async with server.client() as client:
        assert client.account_id == ACCOUNT
        assert client.session_state is not None
        assert client.session_state.ticket == TICKET
        assert client.session_state.token_id == TOKEN
        data = await client.request("message/send/c1", {"message": "hi"})
        assert data == {"sent": 1}
    assert client.closed
    assert server.login.call_count == 1
    assert server.logout.call_count == 0  # a restarting bot keeps its session
    request = server.send.calls.last.request
    assert orjson.loads(request.content) == {"message": "hi", "ticket": TICKET, "api_version": 2}
    assert request.headers["cookie"] == f"token_id={TOKEN}"
    with pytest.raises(UsageError):
        await client.request("message/send/c1", {})


async def test_explicit_logout(server: Server) -> None:
    async with server.client() as client:
        await client.logout()
        assert client.session_state is None
        assert client.account_id is None
    assert server.logout.call_count == 1


async def test_resume_saved_session(server: Server) -> None:
    saved = SessionState(account_id=ACCOUNT, ticket=TICKET, token_id=TOKEN)
    async with server.client(None, None, session=saved) as client:
        assert client.account_id == ACCOUNT
        assert client.session_state is not None
        assert client.session_state.email == EMAIL
    assert server.login.call_count == 0
    assert server.sync.call_count == 1


async def test_no_credentials_hooks_only(server: Server) -> None:
    hook = server.router.post(f"/hook/{HOOK_KEY}").respond(200)
    async with server.client(None, None) as client:
        assert client.account_id is None
        await client.post_hook(f"{BASE}/hook/{HOOK_KEY}", {"message": "hi"})
        with pytest.raises(UsageError):
            await client.request("message/send/c1", {})
    assert hook.call_count == 1
    assert server.login.call_count == 0


async def test_unauthenticated_request(server: Server) -> None:
    route = server.router.post("/api/account/check").respond(200, json={"ok": 1})
    async with server.client(None, None) as client:
        assert await client.request("account/check", {"x": 1}, auth=False) == {"ok": 1}
    assert orjson.loads(route.calls.last.request.content) == {"x": 1}


def test_email_without_password_is_usage_error() -> None:
    with pytest.raises(UsageError):
        FleepClient(EMAIL, None)
    with pytest.raises(UsageError):
        FleepClient(None, PASSWORD)


def test_insecure_base_url_refused() -> None:
    with pytest.raises(UsageError):
        FleepClient(base_url="http://fleep.example.com")
    FleepClient(base_url="http://fleep.example.com", allow_insecure_http=True)
    FleepClient(base_url="http://127.0.0.1:8000")


async def test_failed_login_on_enter_closes_the_client(server: Server) -> None:
    server.login.respond(401, json={"error_id": "bad_login"})
    client = server.client()
    with pytest.raises(AuthenticationError):
        async with client:
            pytest.fail("must not enter")
    assert client.closed


async def test_repr_shows_base_url_and_account_only(server: Server) -> None:
    client = server.client()
    assert repr(client) == f"FleepClient(base_url='{BASE}', account_id=None)"
    async with client:
        assert repr(client) == f"FleepClient(base_url='{BASE}', account_id='{ACCOUNT}')"
        for secret in SECRETS:
            assert secret not in repr(client)
            assert secret not in repr(client.session_state)


async def test_session_change_callback(server: Server) -> None:
    seen: list[SessionState | None] = []
    async with server.client(on_session_change=seen.append) as client:
        await client.logout()
    assert [s.ticket if s else None for s in seen] == [TICKET, None]


async def test_upload_and_download_passthroughs(server: Server) -> None:
    upload = server.router.post("/api/file/upload").respond(200, json={"files": [{"file_id": "f"}]})
    download = server.router.get("/file/c1/f/a.txt").respond(200, content=b"bytes")
    async with server.client() as client:
        data = await client.upload("file/upload", UploadFile(name="a.txt", content=b"bytes"))
        async with client.download("/file/c1/f/a.txt") as response:
            body = await response.aread()
    assert data == {"files": [{"file_id": "f"}]}
    assert upload.calls.last.request.url.params["ticket"] == TICKET
    assert body == b"bytes"
    assert download.calls.last.request.headers["cookie"] == f"token_id={TOKEN}"


async def test_logs_of_a_whole_session_hold_no_secrets(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.send.mock(side_effect=[httpx.Response(401), httpx.Response(200, json={})])
    hook = server.router.post(f"/hook/{HOOK_KEY}").respond(500)
    server.router.post("/api/file/upload").respond(200, json={})
    async with server.client() as client:
        await client.request("message/send/c1", {"message": "hi"})
        await client.upload("file/upload", [UploadFile(name="a", content=b"b")])
        with pytest.raises(ServerError, match="HTTP 500") as info:
            await client.post_hook(f"{BASE}/hook/{HOOK_KEY}", {"message": "x"})
    assert server.login.call_count == 2  # login + one re-login after the 401
    assert hook.call_count == 1
    texts = [r.getMessage() for r in caplog.records] + [str(info.value), repr(info.value)]
    assert len(caplog.records) > 5
    for secret in SECRETS:
        assert all(secret not in text for text in texts), secret


async def test_aclose_is_idempotent(server: Server) -> None:
    client = server.client()
    await client.aclose()
    await client.aclose()
    assert client.closed
    with pytest.raises(UsageError):
        await client.start()


async def test_calls_on_trio_and_asyncio_alike(server: Server, anyio_backend: str) -> None:
    assert sniffio.current_async_library() == anyio_backend
    async with server.client() as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(client.request, "message/send/c1", {"m": 1})
    assert server.send.call_count == 5


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: object, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"real network used: {request.url}")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)
