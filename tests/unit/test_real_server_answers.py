"""The client against the answers of Fleep's real server.

``tests/fixtures/real_server_answers.json`` holds our own samples of every answer and record
shape that Fleep's black-box server tests (``fleep-api-tests``) assert: their field names and
value types, our values. Each must decode with the client's result types under the *strict*
converter: no field the client does not model, no value of a type it does not accept, no
record left as unknown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from fleep_async._converter import parse_record
from fleep_async.endpoints import REGISTRY
from fleep_async.errors import DecodeError
from fleep_async.models import (
    ContactRecord,
    ConversationRecord,
    MessageRecord,
    OrgConvRecord,
    TeamRecord,
    UnknownRecord,
)
from fleep_async.models.results import (
    ConversationSyncResult,
    SearchResult,
    StreamResult,
    decode_result,
    result_records,
)

CORPUS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "real_server_answers.json").read_text()
)
ANSWERS: list[dict[str, Any]] = CORPUS["answers"]
RECORDS: list[dict[str, Any]] = CORPUS["records"]


def _records_of(value: Any) -> list[dict[str, Any]]:
    """Every stream record inside an answer (anything with an ``mk_rec_type``)."""
    if isinstance(value, dict):
        found = [value] if isinstance(value.get("mk_rec_type"), str) else []
        return found + [r for v in value.values() for r in _records_of(v)]
    if isinstance(value, list):
        return [r for v in value for r in _records_of(v)]
    return []


def test_the_corpus_covers_the_shapes_the_issue_names() -> None:
    endpoints = {a["endpoint"] for a in ANSWERS}
    kinds = {r["mk_rec_type"] for a in ANSWERS for r in _records_of(a["answer"])}
    kinds |= {r["record"]["mk_rec_type"] for r in RECORDS}
    assert {"org_conv", "org_header", "org_member", "org_changelog", "reminder"} <= kinds
    assert {"account/configure", "avatar/upload", "search/suggest", "alias/sync"} <= endpoints
    # the organisation endpoints whose answers the server tests show (12 of the 16 they call)
    assert sum(e.startswith("business/") for e in endpoints) >= 12
    assert len(ANSWERS) >= 30
    assert len(RECORDS) + sum(len(_records_of(a["answer"])) for a in ANSWERS) >= 60


@pytest.mark.parametrize("sample", ANSWERS, ids=[f"{a['endpoint']}: {a['what']}" for a in ANSWERS])
def test_every_real_answer_decodes_strictly(sample: dict[str, Any]) -> None:
    cls = REGISTRY[sample["endpoint"]].RESULT
    result = decode_result(cls, sample["answer"], strict=True)
    assert isinstance(result, cls)
    records = result_records(result)
    assert not [r for r in records if isinstance(r, UnknownRecord)]
    # every record of the answer reaches the result (and so the cache), none is dropped
    assert len(records) >= len(_records_of(sample["answer"])) - _not_fed(result)


def _not_fed(result: Any) -> int:
    # A search's matches are a view of messages, not cache updates.
    return len(result.matches) if isinstance(result, SearchResult) else 0


@pytest.mark.parametrize("sample", RECORDS, ids=[r["what"] for r in RECORDS])
def test_every_real_record_decodes_strictly(sample: dict[str, Any]) -> None:
    record = parse_record(sample["record"], strict=True)
    assert not isinstance(record, UnknownRecord)


# --- the shapes one by one -------------------------------------------------------------------


def _answer(endpoint: str, what: str) -> Any:
    (found,) = [a["answer"] for a in ANSWERS if a["endpoint"] == endpoint and a["what"] == what]
    return found


def test_org_conv_records_carry_all_their_fields() -> None:
    answer = _answer("business/sync_conversations/{organisation_id}", "the managed conversations")
    result = decode_result(StreamResult, answer, strict=True)
    first = result.stream[0]
    assert isinstance(first, OrgConvRecord)
    assert first.identity == (answer["stream"][0]["conversation_id"],)
    assert first.is_deletable is True
    assert first.managed_time is not None
    assert result.sync_cursor == "{}"


def test_every_time_field_takes_integer_and_float_epochs() -> None:
    for stamp in (1733130000, 1733130000.25):
        team = parse_record(
            {"mk_rec_type": "team", "team_id": "t", "managed_time": stamp}, strict=True
        )
        assert isinstance(team, TeamRecord)
        assert team.managed_time == stamp
        message = parse_record(
            {"mk_rec_type": "message", "conversation_id": "c", "message_nr": 1,
             "posted_time": stamp, "edited_time": stamp},
            strict=True,
        )  # fmt: skip
        assert isinstance(message, MessageRecord)
        assert message.posted_time == stamp


def test_account_configure_answers_the_bare_own_contact() -> None:
    contact = decode_result(
        REGISTRY["account/configure"].RESULT,
        _answer("account/configure", "the bare own contact"),
        strict=True,
    )
    assert isinstance(contact, ContactRecord)
    assert contact.is_in_org is False
    assert contact.phone_nr == "12345"
    assert result_records(contact) == [contact]  # it reaches the cache


def test_a_search_answer_feeds_its_stream_and_headers_to_the_cache() -> None:
    answer = _answer("search", "a search with a match and its conversation")
    result = decode_result(SearchResult, answer, strict=True)
    kinds = [type(r) for r in result.records()]
    assert kinds == [ContactRecord, ConversationRecord]


def test_system_message_bodies_are_json_objects_with_api_version_2() -> None:
    answer = _answer(
        "conversation/create", "a conversation created in an organisation (system body as object)"
    )
    result = decode_result(ConversationSyncResult, answer, strict=True)
    (created,) = [r for r in result.stream if isinstance(r, MessageRecord)]
    assert created.system is not None
    assert created.system["topic"] == "t"
    assert created.text == "created the conversation 't'"
    assert created.xml == ""


# --- one odd record does not fail the call ----------------------------------------------------


def test_a_record_that_does_not_fit_becomes_unknown_and_the_answer_still_decodes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = {
        "header": {"conversation_id": "c1", "mk_rec_type": "conv", "last_message_nr": 3},
        "stream": [
            {"mk_rec_type": "message", "conversation_id": "c1", "message_nr": "three"},
            {"mk_rec_type": "message", "conversation_id": "c1", "message_nr": 3},
            "not a record",
        ],
        "result_message_nr": 3,
    }
    with caplog.at_level(logging.WARNING, logger="fleep_async"):
        result = decode_result(ConversationSyncResult, answer)
    odd, fine = result.stream
    assert isinstance(odd, UnknownRecord)
    assert odd.mk_rec_type == "message"
    assert odd.raw["message_nr"] == "three"
    assert isinstance(fine, MessageRecord)
    assert fine.message_nr == 3
    assert result.result_message_nr == 3
    assert "kept a record as UnknownRecord" in caplog.text
    assert "dropped a stream item" in caplog.text
    with pytest.raises(DecodeError):  # the test mode still refuses it
        decode_result(ConversationSyncResult, answer, strict=True)


def test_a_header_that_does_not_fit_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = {"header": {"mk_rec_type": "conv", "conversation_id": 7}, "result_message_nr": 2}
    with caplog.at_level(logging.WARNING, logger="fleep_async"):
        result = decode_result(ConversationSyncResult, answer)
    assert result.header is None
    assert result.result_message_nr == 2
    assert result.raw["header"]["conversation_id"] == 7  # still reachable
    assert "header" in caplog.text
