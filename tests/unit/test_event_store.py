"""``event/store`` (Fleep's message-event API) as a typed call: the event builder, the request
class and the decoding of its answer.

Facts from Fleep's public server tests (its message-event specs), restated in our own words: the
body is ``{"stream": [{"mk_event_type", "client_req_id", "params"}]}``; the answer has one
``request`` record per event (``status_code`` 200 and the ``identifier`` of what it changed, or
an error status with ``error_id``/``error_message``: editing message 10 of a conversation that
has no such message gives 430 ``not_found``), followed by the changed records; a repeated
``client_req_id`` answers the first outcome without a second change.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import httpx
import orjson
import pytest

from fleep_async import ClientEvent, FleepClient, RetryPolicy
from fleep_async._converter import parse_record
from fleep_async.endpoints import REGISTRY, EventStore
from fleep_async.errors import NotFoundError, UsageError
from fleep_async.models import MessageRecord, RequestRecord, UnknownRecord
from fleep_async.models.results import EventStoreResult, decode_result

CONV = "5eed0000-0000-4000-8000-000000000001"
REQ_OK = "0e000001-0000-4000-8000-000000000000"
REQ_BAD = "0e000002-0000-4000-8000-000000000000"
ADD_PLAIN = "urn:fleep:client:message:add_plain"
EDIT = "urn:fleep:client:message:edit"
TICKET = "d5a9c3c2fc696c4a4b55"
ACCOUNT = "acc00000-0000-4000-8000-000000000001"

# The shape of a real answer: an event that posted message 2, one that failed, and the message.
ANSWER: dict[str, Any] = {
    "stream": [
        {
            "mk_rec_type": "request",
            "client_req_id": REQ_OK,
            "mk_event_type": ADD_PLAIN,
            "status_code": 200,
            "identifier": {"conversation_id": CONV, "message_nr": 2},
        },
        {
            "mk_rec_type": "request",
            "client_req_id": REQ_BAD,
            "mk_event_type": EDIT,
            "status_code": 430,
            "error_id": "not_found",
            "error_message": "Message not found.",
        },
        {
            "mk_rec_type": "message",
            "conversation_id": CONV,
            "message_nr": 2,
            "message": "<msg><p>PlainMessage1</p></msg>",
            "mk_message_state": "urn:fleep:message:mk_message_state:plain",
            "account_id": "acc00000-0000-4000-8000-000000000001",
            "posted_time": 1540891516,
        },
    ]
}


# ------------------------------------------------------------------------- the event builder


def test_a_short_kind_is_spelled_as_the_full_event_urn() -> None:
    event = ClientEvent("message:add_plain", {"conversation_id": CONV, "message": "hi"})
    assert event.mk_event_type == ADD_PLAIN
    assert ClientEvent(ADD_PLAIN, {}).mk_event_type == ADD_PLAIN
    # Three-part kinds exist: the task-board sections.
    assert ClientEvent("section:task:add", {}).mk_event_type == "urn:fleep:client:section:task:add"


@pytest.mark.parametrize(
    "kind",
    [
        "",
        "add_plain",  # no area
        "message:",
        "Message:Add_Plain",
        "urn:fleep:client:",
        "urn:fleep:server:message:add_plain",  # another urn family
        "message:add plain",
        "message/add_plain",
        "message:add_plain\n",
    ],
)
def test_an_unknown_looking_kind_is_a_usage_error(kind: str) -> None:
    with pytest.raises(UsageError, match="event type"):
        ClientEvent(kind, {})


def test_a_kind_that_is_not_text_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="event type"):
        ClientEvent(7, {})  # type: ignore[arg-type]


def test_the_client_req_id_is_a_fresh_uuid4_fixed_when_the_event_is_built() -> None:
    event = ClientEvent("message:add_plain", {"message": "hi"})
    assert uuid.UUID(event.client_req_id).version == 4
    assert event.to_wire()["client_req_id"] == event.client_req_id
    assert ClientEvent("message:add_plain", {}).client_req_id != event.client_req_id


def test_a_given_client_req_id_is_kept_canonical() -> None:
    key = uuid.uuid4()
    assert ClientEvent("message:edit", {}, client_req_id=key).client_req_id == str(key)
    upper = ClientEvent("message:edit", {}, client_req_id=str(key).upper())
    assert upper.client_req_id == str(key)


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "+" + "0" * 31, 42])
def test_a_client_req_id_that_is_not_a_uuid_is_a_usage_error(bad: Any) -> None:
    with pytest.raises(UsageError, match="client_req_id"):
        ClientEvent("message:edit", {}, client_req_id=bad)


def test_params_must_be_a_mapping_of_names() -> None:
    with pytest.raises(UsageError, match="params"):
        ClientEvent("message:edit", [("message", "x")])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="params"):
        ClientEvent("message:edit", {1: "x"})  # type: ignore[dict-item]


def test_params_that_cannot_go_into_json_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="JSON"):
        ClientEvent("message:set_assignees", {"assignee_ids": {ACCOUNT}})


def test_params_are_copied_and_uuids_rendered_canonically() -> None:
    params: dict[str, Any] = {"conversation_id": uuid.UUID(CONV), "message_nr": 3}
    event = ClientEvent("message:edit", params)
    params["message_nr"] = 99  # the caller's dict changing later changes nothing
    assert event.to_wire() == {
        "mk_event_type": EDIT,
        "client_req_id": event.client_req_id,
        "params": {"conversation_id": CONV, "message_nr": 3},
    }


def test_the_repr_shows_the_parameter_names_not_their_values() -> None:
    hook = "https://fleep.io/hook/Yk8CZ3TTQ9WwhMqEjnEeZw"
    event = ClientEvent("message:add_plain", {"conversation_id": CONV, "message": hook})
    text = repr(event)
    assert ADD_PLAIN in text
    assert "message" in text
    assert event.client_req_id in text
    assert "Yk8CZ3TTQ9WwhMqEjnEeZw" not in text
    assert CONV not in text


# ----------------------------------------------------------------------- the request class


def test_event_store_is_registered_and_keyed_by_its_events() -> None:
    assert REGISTRY["event/store"] is EventStore
    assert EventStore.RESULT is EventStoreResult
    assert EventStore.IDEMPOTENCY_KEY
    # As Fleep's server tests call it.
    request = EventStore(stream=[ClientEvent("message:add_plain", {"message": "a"})])
    assert request.path() == "event/store/"
    # Every event's id was fixed when the event was built: every attempt repeats it.
    assert request.is_retry_safe()


def test_the_body_is_the_stream_of_events_in_order() -> None:
    one = ClientEvent("message:add_plain", {"conversation_id": CONV, "message": "a"})
    two = ClientEvent("message:add_todo", {"conversation_id": CONV, "message": "b"})
    request = EventStore(stream=[one, two])
    assert request.body() == {"stream": [one.to_wire(), two.to_wire()]}
    assert EventStore(stream=one).body() == {"stream": [one.to_wire()]}


def test_an_empty_stream_or_a_non_event_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="at least one event"):
        EventStore(stream=[])
    with pytest.raises(UsageError, match="ClientEvent"):
        EventStore(stream=[{"mk_event_type": ADD_PLAIN}])  # type: ignore[list-item]


def test_one_client_req_id_twice_in_one_call_is_a_usage_error() -> None:
    key = uuid.uuid4()
    one = ClientEvent("message:add_plain", {"message": "a"}, client_req_id=key)
    two = ClientEvent("message:add_plain", {"message": "b"}, client_req_id=key)
    with pytest.raises(UsageError, match="twice"):
        EventStore(stream=[one, two])


# ------------------------------------------------------------------------------ the answer


def test_a_real_shaped_answer_decodes_strictly_with_every_outcome() -> None:
    result = decode_result(EventStoreResult, ANSWER, strict=True)
    ok, bad = result.outcomes
    assert (ok.client_req_id, ok.status_code, ok.is_error) == (REQ_OK, 200, False)
    assert ok.identifier == {"conversation_id": CONV, "message_nr": 2}
    assert (bad.status_code, bad.error_id, bad.is_error) == (430, "not_found", True)
    assert result.failed == [bad]
    assert [r.message_nr for r in result.stream if isinstance(r, MessageRecord)] == [2]
    assert result.outcome(REQ_BAD) is bad
    assert result.outcome(uuid.UUID(REQ_OK)) is ok
    assert result.outcome(uuid.uuid4()) is None  # no outcome: unknown, not success


def test_the_outcome_of_an_event_is_found_by_the_event() -> None:
    event = ClientEvent(EDIT, {"conversation_id": CONV, "message_nr": 10}, client_req_id=REQ_BAD)
    result = decode_result(EventStoreResult, ANSWER)
    outcome = result.outcome(event)
    assert outcome is not None
    assert outcome.status_code == 430


def test_a_failed_event_raises_on_request_as_the_classified_api_error() -> None:
    result = decode_result(EventStoreResult, ANSWER)
    with pytest.raises(NotFoundError) as caught:
        result.raise_for_failures()
    error = caught.value
    assert (error.status_code, error.error_id) == (430, "not_found")
    assert error.error_message == "Message not found."
    assert error.endpoint == "event/store"
    ok_only = decode_result(EventStoreResult, {"stream": [ANSWER["stream"][0]]})
    ok_only.raise_for_failures()  # nothing failed: nothing raised


def test_request_records_in_a_top_level_requests_list_are_outcomes_too() -> None:
    # Some versions of the API answer the request records apart from the stream.
    answer = {"requests": ANSWER["stream"][:2], "stream": ANSWER["stream"][2:]}
    result = decode_result(EventStoreResult, answer, strict=True)
    assert [r.client_req_id for r in result.outcomes] == [REQ_OK, REQ_BAD]
    assert [r.client_req_id for r in result.failed] == [REQ_BAD]
    # The cache gets both.
    kinds = [type(r) for r in result.records()]
    assert kinds.count(RequestRecord) == 2
    assert MessageRecord in kinds
    # The same request in both places is one outcome.
    both = decode_result(EventStoreResult, {"requests": ANSWER["stream"][:1], **ANSWER})
    assert [r.client_req_id for r in both.outcomes] == [REQ_OK, REQ_BAD]


def test_a_record_that_does_not_fit_does_not_fail_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    odd = {**ANSWER["stream"][2], "message_nr": "two"}
    result = decode_result(EventStoreResult, {"stream": [*ANSWER["stream"][:2], odd]})
    assert len(result.outcomes) == 2
    assert isinstance(result.stream[-1], UnknownRecord)


def test_an_outcome_record_decodes_as_a_request_record() -> None:
    record = parse_record(ANSWER["stream"][1], strict=True)
    assert isinstance(record, RequestRecord)
    assert record.is_error


# ------------------------------------------------------------- through the client (respx)


@pytest.mark.asyncio
async def test_client_event_store_is_retried_with_the_same_events_after_a_503() -> None:
    event = ClientEvent("message:add_plain", {"conversation_id": CONV, "message": "hi"})
    attempts: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/account/login":
            return httpx.Response(200, json={"account_id": ACCOUNT, "ticket": TICKET})
        assert request.url.path == "/api/event/store/"
        attempts.append(orjson.loads(request.content))
        if len(attempts) == 1:
            return httpx.Response(503, json={})
        return httpx.Response(200, json=ANSWER)

    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    with anyio.fail_after(10):
        async with FleepClient(
            "bot@example.com",
            "pw",
            base_url="http://127.0.0.1:9",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(max_attempts=3, random=lambda: 0.5),
            sleep=no_sleep,
        ) as client:
            result = await client.event.store(stream=[event])
    assert len(attempts) == 2
    assert len(slept) == 1
    assert attempts[0]["stream"] == attempts[1]["stream"] == [event.to_wire()]
    assert attempts[0]["ticket"] == TICKET
    assert isinstance(result, EventStoreResult)
    assert [r.client_req_id for r in result.failed] == [REQ_BAD]
