"""Fixtures for the FakeFleep integration tests: a fake, a raw httpx client, two users."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from fleep_async.testing import FakeFleep, RawUser

Record = dict[str, Any]


@pytest.fixture
def fake() -> FakeFleep:
    """An in-process FakeFleep with a short long-poll hold, a fixed clock and a fixed seed."""
    clock = iter(range(1_500_000_000, 2_000_000_000))
    return FakeFleep(hold_seconds=0.5, seed=1, clock=lambda: float(next(clock)))


@pytest_asyncio.fixture
async def http(fake: FakeFleep) -> AsyncIterator[httpx.AsyncClient]:
    """A raw httpx client talking to ``fake.app`` in-process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url=fake.base_url
    ) as client:
        yield client


LoginFn = Callable[[str, str], Awaitable[RawUser]]


@pytest.fixture
def login(http: httpx.AsyncClient) -> LoginFn:
    """Log in a user over the raw protocol."""

    async def do_login(email: str, password: str = "pw") -> RawUser:  # noqa: S107
        return await RawUser.login(http, email, password)

    return do_login


@pytest_asyncio.fixture
async def alice(fake: FakeFleep, login: LoginFn) -> RawUser:
    """Alice, logged in."""
    fake.create_account("alice@example.com", "pw", "Alice Adamson")
    return await login("alice@example.com", "pw")


@pytest_asyncio.fixture
async def bob(fake: FakeFleep, login: LoginFn) -> RawUser:
    """Bob, logged in."""
    fake.create_account("bob@example.com", "pw", "Bob Marley")
    return await login("bob@example.com", "pw")


@pytest_asyncio.fixture
async def conv(alice: RawUser, bob: RawUser) -> str:
    """A conversation of Alice (creator) and Bob."""
    answer = await alice.call("conversation/create", {"topic": "test", "emails": "bob@example.com"})
    conversation_id = answer["header"]["conversation_id"]
    assert isinstance(conversation_id, str)
    return conversation_id


def of_type(records: list[Record], rec_type: str) -> list[Record]:
    """Records of one ``mk_rec_type``."""
    return [r for r in records if r.get("mk_rec_type") == rec_type]


def client_event(kind: str, req: int, **params: object) -> Record:
    """One client event (``urn:fleep:client:<kind>``) for ``event/store``; its client_req_id is
    made from ``req`` (a test's own numbering: the same number is the same request)."""
    return {
        "mk_event_type": f"urn:fleep:client:{kind}",
        "client_req_id": f"{req:08d}-0000-4000-8000-000000000000",
        "params": params,
    }


async def store_events(user: RawUser, *events: Record) -> list[Record]:
    """Send ``events`` through ``event/store``; the answer's request records (one per event,
    in order), then its changed records. Checks the answer's shape on the way: the request
    records come in ``requests`` (the newest test client reads them there) and in ``stream``
    (where the older event specs read them)."""
    answer = await user.call("event/store", {"stream": list(events)})
    requests: list[Record] = answer["requests"]
    stream: list[Record] = answer["stream"]
    assert [r["mk_rec_type"] for r in requests] == ["request"] * len(events)
    assert [r["client_req_id"] for r in requests] == [e["client_req_id"] for e in events]
    assert of_type(stream, "request") == requests
    return [*requests, *(r for r in stream if r["mk_rec_type"] != "request")]
