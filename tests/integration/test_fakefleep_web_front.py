"""FakeFleep's web front end routes answer as the real one does after a logout (issue 12)."""

from __future__ import annotations

import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser

pytestmark = pytest.mark.asyncio


async def _logged_out_cookie(fake: FakeFleep, http: httpx.AsyncClient) -> str:
    fake.create_account("alice@example.com", "pw", "Alice")
    user = await RawUser.login(http, "alice@example.com", "pw")
    await user.call("account/logout")
    return user.token_id


async def test_globals_auth_is_401_for_a_logged_out_session_and_200_for_a_live_one(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    fake.create_account("bob@example.com", "pw", "Bob")
    bob = await RawUser.login(http, "bob@example.com", "pw")
    assert (await http.get("/globals/auth", headers=bob.cookie_header)).status_code == 200
    token = await _logged_out_cookie(fake, http)
    http.cookies.set("token_id", token)
    refused = await http.get("/globals/auth")
    assert refused.status_code == 401
    assert refused.json()["error_id"] == "expired_token"


async def test_chat_sends_a_logged_out_browser_to_login(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    token = await _logged_out_cookie(fake, http)
    http.cookies.set("token_id", token)
    moved = await http.get("/chat")
    assert moved.status_code == 302
    assert moved.headers["location"] == "/login"


async def test_login_page_hands_out_a_fresh_cookie_and_ticket_that_open_no_session(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    token = await _logged_out_cookie(fake, http)
    http.cookies.set("token_id", token)
    page = await http.get("/login")
    assert page.status_code == 200
    fresh, ticket = page.cookies["token_id"], page.cookies["xs_ticket"]
    assert fresh != token
    http.cookies.set("token_id", fresh)
    polled = await http.post("/api/account/poll", json={"ticket": ticket, "event_horizon": 0})
    assert polled.status_code == 401


async def test_chat_without_a_session_cookie_still_leads_to_the_chat_page(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    moved = await http.get("/chat")
    assert moved.status_code == 308
    assert moved.headers["location"].endswith("/chat/")
