"""What the real server does that the client must handle, through the real client.

The answers come from an ``httpx.MockTransport`` speaking as Fleep's server does (shapes from
its own server tests): bodies that are not JSON objects, the bare contact of
``account/configure``, headers that reset or null out fields. The client under test is the
real one: transport, session, services, engine and cache.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import orjson
import pytest

from fleep_async import FleepClient
from fleep_async._retry import RetryPolicy
from fleep_async.events import EventCache
from fleep_async.models import ContactRecord, ConversationRecord, explicit_nulls
from fleep_async.models.results import EmptyResult, SuggestResult

pytestmark = pytest.mark.anyio

AID = "3c2c8dee-02c6-4280-9306-d76a932cd79e"
CID = "6f1c6a58-5f43-4c4e-9d0a-2f0d9a1b7c01"
WAIT = 5

Answer = Callable[[str, dict[str, Any]], httpx.Response | Awaitable[httpx.Response]]


def client_for(answer: Answer, seen: list[tuple[str, dict[str, Any]]]) -> FleepClient:
    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/")
        body = orjson.loads(request.content) if request.content else {}
        if path == "account/login":
            return httpx.Response(
                200,
                json={"account_id": AID, "display_name": "Bot", "ticket": "t" * 20},
                headers={"Set-Cookie": "token_id=dd737a29-7819-41dc-ad93-a38aab2c9409; Path=/"},
            )
        seen.append((path, body))
        response = answer(path, body)
        if inspect.isawaitable(response):
            response = await response
        return response

    async def no_sleep(_seconds: float) -> None:
        return None

    return FleepClient(
        "bot@example.com",
        "pw",
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=2, random=lambda: 0.5),
        sleep=no_sleep,
    )


@pytest.mark.parametrize(
    "content", [b"null", b"", b"{}"], ids=["json-null", "empty-body", "empty-object"]
)
async def test_endpoints_documented_without_output_accept_null_and_empty_answers(
    content: bytes,
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    async with client_for(lambda p, b: httpx.Response(200, content=content), seen) as client:
        results = [
            await client.avatar.delete(),
            await client.conversation.unsubscribe(CID, email="a@example.com"),
            await client.conversation.convert_api(CID),
            await client.account.unsubscribe(notification_id="n1"),
        ]
    assert all(isinstance(r, EmptyResult) for r in results)
    assert [path for path, _ in seen] == [
        "avatar/delete",
        f"conversation/unsubscribe/{CID}",
        f"conversation/convert_api/{CID}",
        "account/unsubscribe",
    ]


async def test_search_suggest_answers_a_bare_list_of_strings() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    answer: Answer = lambda p, b: httpx.Response(200, json=["hello", "helsinki"])  # noqa: E731
    async with client_for(answer, seen) as client:
        result = await client.search.suggest(keywords="hel")
    assert isinstance(result, SuggestResult)
    assert result.suggestions == ["hello", "helsinki"]
    assert result.raw == ["hello", "helsinki"]


async def test_every_authenticated_body_carries_api_version_2() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    async with client_for(lambda p, b: httpx.Response(200, json={}), seen) as client:
        await client.label.store(label="x")
        await client.request("account/sync", {})
    assert [body.get("api_version") for _, body in seen] == [2, 2]


async def test_a_send_whose_header_has_a_pin_sync_state_object_succeeds() -> None:
    # The real server answered a send with "pin_sync_state": {...}; it used to raise DecodeError
    # after the message had been posted.
    header = {
        "mk_rec_type": "conv",
        "conversation_id": CID,
        "last_message_nr": 3,
        "pin_sync_state": {"cursor": "{}", "is_full": True},
    }
    seen: list[tuple[str, dict[str, Any]]] = []
    answer: Answer = lambda p, b: httpx.Response(  # noqa: E731
        200, json={"header": header, "stream": [], "result_message_nr": 3}
    )
    async with client_for(answer, seen) as client:
        result = await client.send_text(CID, "hi")
    assert result.result_message_nr == 3
    assert result.header is not None
    assert result.header.pin_sync_state == {"cursor": "{}", "is_full": True}


async def test_account_configure_answers_the_own_contact_and_it_updates_the_cache() -> None:
    contact = {
        "mk_rec_type": "contact",
        "account_id": AID,
        "display_name": "Batman",
        "email": "bot@example.com",
        "is_in_org": False,
    }
    release = anyio.Event()

    async def answer(path: str, body: dict[str, Any]) -> httpx.Response:
        if path == "account/sync":
            return httpx.Response(200, json={"event_horizon": 5})
        if path == "conversation/list":  # the engine's starting positions: no conversation
            return httpx.Response(200, json={"conversations": []})
        if path == "account/poll":
            await release.wait()  # the poll brings nothing: only the answer can update the cache
            return httpx.Response(200, json={"event_horizon": 5, "stream": []})
        assert path == "account/configure"
        return httpx.Response(200, json=contact)

    seen: list[tuple[str, dict[str, Any]]] = []
    client = client_for(answer, seen)
    with anyio.fail_after(WAIT):
        async with client, anyio.create_task_group() as tg:
            await tg.start(client.run)
            cache = client.cache
            assert isinstance(cache, EventCache)
            assert cache.contact(AID) is None
            result = await client.account.configure(display_name="Batman")
            assert isinstance(result, ContactRecord)
            assert result.display_name == "Batman"
            cached = cache.contact(AID)
            assert cached is not None
            assert cached.display_name == "Batman"
            client.stop()
            release.set()


async def test_the_initial_sync_sends_skip_hidden_like_fleeps_own_clients() -> None:
    polls: list[dict[str, Any]] = []
    done = anyio.Event()

    async def answer(path: str, body: dict[str, Any]) -> httpx.Response:
        if path == "account/poll":
            polls.append(body)
            if body["event_horizon"] > 0:
                done.set()
                await anyio.sleep_forever()
            return httpx.Response(200, json={"event_horizon": 7, "stream": []})
        return httpx.Response(200, json={"event_horizon": 7})

    seen: list[tuple[str, dict[str, Any]]] = []
    client = client_for(answer, seen)
    with anyio.fail_after(WAIT):
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.run(backlog="full"))
            await done.wait()
            client.stop(0)
    assert polls[0]["event_horizon"] == 0
    assert polls[0]["poll_flags"] == ["skip_hidden"]
    assert "poll_flags" not in polls[-1]  # only the initial sync


# --- the cache: reset headers and explicit nulls ----------------------------------------------


def _conv(**fields: Any) -> ConversationRecord:
    return ConversationRecord(conversation_id=CID, **fields)


def test_a_reset_header_replaces_the_cached_conversation() -> None:
    cache = EventCache()
    cache.update_conversation(_conv(topic="t", members=("a", "b"), pin_cursor="p", is_init=True))
    merged = cache.update_conversation(_conv(members=("a",), leavers=("b",), is_reset=True))
    # nothing of the old state survives a reset: a merge would have kept topic and pin_cursor
    assert merged.topic is None
    assert merged.pin_cursor is None
    assert merged.is_init is None
    assert merged.members == ("a",)
    assert merged.leavers == ("b",)
    assert cache.conversation(CID) == merged


def test_an_explicit_null_in_a_partial_header_clears_the_cached_field() -> None:
    cache = EventCache()
    cache.update_conversation(_conv(topic="t", organisation_id="org", autojoin_url="u"))
    wire = {"mk_rec_type": "conv", "conversation_id": CID, "organisation_id": None, "topic": "t2"}
    merged = cache.update_conversation(_conv(topic="t2"), nulls=explicit_nulls(wire))
    assert merged.organisation_id is None  # the organisation let the conversation go
    assert merged.topic == "t2"
    assert merged.autojoin_url == "u"  # absent from the partial header: kept
    # an identity field named null is never cleared
    again = cache.update_conversation(_conv(), nulls={"conversation_id", "no_such_field"})
    assert again.conversation_id == CID


async def test_the_engine_clears_a_field_its_poll_sets_to_null() -> None:
    from fleep_async.events import EventEngine, Router
    from tests.unit.test_events_fakes import FakeTime, RecordingStore, ScriptedRequester, poll

    first = {"mk_rec_type": "conv", "conversation_id": "a", "organisation_id": "org", "topic": "t"}
    second = {"mk_rec_type": "conv", "conversation_id": "a", "organisation_id": None}
    req = ScriptedRequester([poll(101, first), poll(102, second)])
    time = FakeTime()
    engine = EventEngine(req, Router(), store=RecordingStore(), sleep=time.sleep, clock=time.clock)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await engine.store.wait_horizon(102)  # type: ignore[attr-defined]
            await engine.shutdown()
    cached = engine.cache.conversation("a")
    assert cached is not None
    assert cached.topic == "t"
    assert cached.organisation_id is None
