"""``client.event.store`` against FakeFleep served on loopback: the real client, a real socket.

What the real server does (Fleep's public message-event specs, in our words): each event answers
a ``request`` record with its outcome; an event on a message that does not exist answers 430
``not_found`` in its record while the call succeeds; a repeated ``client_req_id`` answers the
first outcome again, however the repeat's parameters differ, and stores nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import attrs
import pytest

from fleep_async import ClientEvent, FleepClient, RetryPolicy
from fleep_async.errors import NotFoundError
from fleep_async.models import MessageRecord
from fleep_async.models.results import EventStoreResult, decode_result
from fleep_async.testing import FakeFleep

pytestmark = pytest.mark.anyio

TIMEOUT = 20


@attrs.define
class Served:
    fake: FakeFleep
    client: FleepClient
    cid: str


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    fake = FakeFleep(hold_seconds=0.5, seed=12)
    alice = fake.create_account("alice@example.com", "pw-alice", "Alice")
    bob = fake.create_account("bob@example.com", "pw-bob", "Bob")
    cid = fake.create_conversation(alice, "Events", [bob])
    with anyio.fail_after(TIMEOUT):
        async with FakeFleep.serve(port=0, fake=fake) as server:
            client = FleepClient(
                "alice@example.com",
                "pw-alice",
                base_url=server.base_url,
                allow_insecure_http=True,
                retry=RetryPolicy(max_attempts=3, random=lambda: 0.5),
                sleep=_no_sleep,
            )
            async with client:
                yield Served(fake, client, cid)


def _texts(s: Served) -> list[str]:
    return [m.get("message") or "" for m in s.fake.messages(s.cid)]


def _message(result: EventStoreResult, message_nr: int) -> MessageRecord:
    (found,) = [
        r for r in result.stream if isinstance(r, MessageRecord) and r.message_nr == message_nr
    ]
    return found


async def test_add_plain_and_add_todo_answer_their_outcomes_and_messages(served: Served) -> None:
    plain = ClientEvent("message:add_plain", {"conversation_id": served.cid, "message": "plain"})
    todo = ClientEvent("message:add_todo", {"conversation_id": served.cid, "message": "a task"})
    with anyio.fail_after(TIMEOUT):
        result = await served.client.event.store(stream=[plain, todo])
    assert not result.failed
    first, second = result.outcomes
    assert (first.client_req_id, first.mk_event_type) == (
        plain.client_req_id,
        "urn:fleep:client:message:add_plain",
    )
    assert first.status_code == second.status_code == 200
    assert first.identifier is not None
    assert second.identifier is not None
    assert first.identifier["conversation_id"] == served.cid
    plain_nr, todo_nr = first.identifier["message_nr"], second.identifier["message_nr"]
    assert todo_nr > plain_nr
    assert _message(result, plain_nr).message == "<msg><p>plain</p></msg>"
    assert _message(result, todo_nr).mk_message_state == "urn:fleep:message:mk_message_state:todo"
    assert result.outcome(todo) is second
    result.raise_for_failures()  # nothing failed
    assert served.fake.messages(served.cid)[-1]["message_nr"] == todo_nr


async def test_an_event_on_a_missing_message_fails_in_its_record_not_the_call(
    served: Served,
) -> None:
    ok = ClientEvent("message:add_plain", {"conversation_id": served.cid, "message": "kept"})
    bad = ClientEvent(
        "message:edit", {"conversation_id": served.cid, "message_nr": 999, "message": "x"}
    )
    with anyio.fail_after(TIMEOUT):
        result = await served.client.event.store(stream=[ok, bad])
    (failed,) = result.failed
    assert failed.client_req_id == bad.client_req_id
    assert (failed.status_code, failed.error_id) == (430, "not_found")
    assert failed.error_message == "Message not found."
    good = result.outcome(ok)
    assert good is not None
    assert good.status_code == 200
    assert sum("kept" in t for t in _texts(served)) == 1
    # Every field and record of the answer is modelled (the strict decoder rejects the rest).
    decode_result(EventStoreResult, result.raw, strict=True)
    with pytest.raises(NotFoundError) as caught:
        result.raise_for_failures()
    assert caught.value.status_code == 430
    assert caught.value.endpoint == "event/store"


async def test_a_repeated_client_req_id_answers_the_original_and_stores_once(
    served: Served,
) -> None:
    first = ClientEvent(
        "message:add_plain", {"conversation_id": served.cid, "message": "PlainMessage1"}
    )
    again = ClientEvent(
        "message:add_plain",
        {"conversation_id": served.cid, "message": "PlainMessage2"},
        client_req_id=first.client_req_id,
    )
    with anyio.fail_after(TIMEOUT):
        one = await served.client.event.store(stream=first)
        two = await served.client.event.store(stream=again)
    (a,), (b,) = one.outcomes, two.outcomes
    assert a.identifier == b.identifier
    assert a.identifier is not None
    assert _message(two, a.identifier["message_nr"]).message == "<msg><p>PlainMessage1</p></msg>"
    texts = _texts(served)
    assert sum("PlainMessage1" in t for t in texts) == 1
    assert not any("PlainMessage2" in t for t in texts)


async def test_a_call_whose_connection_dropped_is_retried_and_applies_once(
    served: Served,
) -> None:
    # The server applies the events, then the connection drops before the answer arrives: the
    # client cannot know the outcome, retries with the same client_req_ids, and gets it.
    before = served.fake.message_counts(served.cid)
    event = ClientEvent(
        "message:add_plain", {"conversation_id": served.cid, "message": "through a drop"}
    )
    served.fake.faults.drop("event/store", commit=True)
    with anyio.fail_after(TIMEOUT):
        result = await served.client.event.store(stream=event)
    assert served.fake.faults.counts["drop"] == 1
    (outcome,) = result.outcomes
    assert outcome.status_code == 200
    assert outcome.identifier is not None
    after = served.fake.message_counts(served.cid)
    assert sum(after.values()) - sum(before.values()) == 1
    assert sum("through a drop" in t for t in _texts(served)) == 1
    assert served.fake.messages(served.cid)[-1]["message_nr"] == outcome.identifier["message_nr"]
