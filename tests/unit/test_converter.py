"""The wire rules: raw stream records <-> typed records, lenient and strict."""

from __future__ import annotations

import collections
import types
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks._data import MIX, make_page, make_stream
from benchmarks._harness import Stats, compare
from fleep_async import _converter
from fleep_async._converter import (
    converter,
    parse_record,
    parse_stream,
    strict_converter,
    structure,
    unstructure,
)
from fleep_async.errors import DecodeError
from fleep_async.models import (
    RECORD_TYPES,
    ActivityRecord,
    BaseRecord,
    ContactRecord,
    ConversationRecord,
    HookRecord,
    MessageRecord,
    OrgHeaderRecord,
    PokeRecord,
    Record,
    TeamRecord,
    UnknownRecord,
)
from tests.unit import record_examples as ex

SECRET = "SECRET-VALUE-do-not-print"


def _wire(raw: dict[str, Any]) -> dict[str, Any]:
    """What unstructure gives back: the same object without its nulls."""
    return {
        key: [_wire(item) for item in value] if key == "attachments" else value
        for key, value in raw.items()
        if value is not None
    }


# --- every real example --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ex.EXAMPLES))
def test_real_example_decodes_strictly(name: str) -> None:
    raw = ex.EXAMPLES[name]
    record = parse_record(raw, strict=True)
    assert type(record) is RECORD_TYPES[raw["mk_rec_type"]]
    # the lenient decoder agrees with the strict one
    assert parse_record(raw) == record
    assert structure(raw, type(record)) == record
    # no field is lost: every non-null wire value is on the record
    for key, value in raw.items():
        if key == "mk_rec_type" or value is None:
            continue
        got = getattr(record, key)
        if isinstance(value, list):
            assert len(got) == len(value)
            if key != "attachments":
                assert list(got) == value
        else:
            assert got == value, key


@pytest.mark.parametrize("name", sorted(ex.EXAMPLES))
def test_real_example_round_trips_to_wire_shape(name: str) -> None:
    raw = ex.EXAMPLES[name]
    record = parse_record(raw)
    assert unstructure(record) == _wire(raw)
    assert parse_record(unstructure(record), strict=True) == record


def test_login_profile_is_a_contact() -> None:
    profile = structure(ex.LOGIN_RESPONSE["profiles"][0], ContactRecord, strict=True)
    assert profile.account_id == ex.LOGIN_RESPONSE["account_id"]
    assert profile.fleep_address == "bob.marley"


def test_poll_example_stream() -> None:
    records = parse_stream(ex.POLL_RESPONSE["stream"], strict=True)
    assert [type(r) for r in records] == [
        OrgHeaderRecord,
        ContactRecord,
        TeamRecord,
        ConversationRecord,
        MessageRecord,
        ActivityRecord,
        PokeRecord,
    ]
    assert parse_stream(ex.POLL_RESPONSE["stream"]) == records


def test_webhook_payload_decodes_strictly() -> None:
    payload = ex.WEBHOOK_PAYLOAD
    messages = structure(payload["messages"], list[MessageRecord], strict=True)
    assert messages[0].attachments is not None
    assert [f.file_size for f in messages[0].attachments] == [1131939, 599415, 72113]
    assert structure(payload["conversations"], list[ConversationRecord], strict=True)
    assert structure(payload["contacts"], list[ContactRecord], strict=True)
    hooks = structure(payload["hooks"], list[HookRecord], strict=True)
    assert hooks[0].hook_url is None


# --- tolerance -----------------------------------------------------------------------------


def test_unknown_record_type_keeps_the_raw_object() -> None:
    raw = {"mk_rec_type": "hangout_activity", "conversation_id": ex.CONV, "hangout_id": "h1"}
    for strict in (False, True):
        record = parse_record(raw, strict=strict)
        assert isinstance(record, UnknownRecord)
        assert record.mk_rec_type == "hangout_activity"
        assert record.raw == raw
        assert record.identity == (ex.CONV, "h1")
    assert unstructure(parse_record(raw)) == raw
    assert structure(raw, UnknownRecord).raw is raw


def test_unknown_enum_values_are_kept() -> None:
    raw = {**ex.MESSAGE_TEXT, "mk_message_type": "hologram", "mk_message_state": "urn:x:new"}
    for strict in (False, True):
        record = parse_record(raw, strict=strict)
        assert isinstance(record, MessageRecord)
        assert record.mk_message_type == "hologram"
        assert record.mk_message_state == "urn:x:new"


def test_extra_keys_are_ignored_by_lenient_and_rejected_by_strict() -> None:
    raw = {**ex.MESSAGE_TEXT, "brand_new_field": {"x": 1}}
    assert parse_record(raw) == parse_record(ex.MESSAGE_TEXT)
    with pytest.raises(DecodeError, match="brand_new_field"):
        parse_record(raw, strict=True)


def test_lenient_accepts_any_mapping() -> None:
    proxy = types.MappingProxyType(dict(ex.MESSAGE_TEXT))
    assert parse_record(proxy) == parse_record(ex.MESSAGE_TEXT)
    assert parse_stream((proxy,)) == [parse_record(ex.MESSAGE_TEXT)]


def test_float_fields_accept_integers() -> None:
    record = parse_record({**ex.SECTION, "weight": 3}, strict=True)
    assert record == parse_record({**ex.SECTION, "weight": 3})
    assert record.weight == 3  # type: ignore[union-attr]


# --- failures ------------------------------------------------------------------------------

WRONG_TYPES = [
    ({**ex.MESSAGE_TEXT, "message_nr": SECRET}, "message", "message_nr"),
    ({**ex.MESSAGE_TEXT, "message_nr": True}, "message", "message_nr"),
    ({**ex.MESSAGE_TEXT, "message_nr": 2.0}, "message", "message_nr"),
    ({**ex.MESSAGE_TEXT, "conversation_id": 5}, "message", "conversation_id"),
    ({**ex.MESSAGE_TEXT, "message": ["x"]}, "message", "message"),
    ({**ex.MESSAGE_TEXT, "tags": SECRET}, "message", "tags"),
    ({**ex.MESSAGE_TEXT, "tags": {"a": 1}}, "message", "tags"),
    ({**ex.MESSAGE_TEXT, "is_new_sheet": "false"}, "message", "is_new_sheet"),
    ({**ex.MESSAGE_TEXT, "pin_weight": SECRET}, "message", "pin_weight"),
    (
        {**ex.MESSAGE_TEXT, "posted_time": None, "conversation_id": None},
        "message",
        "conversation_id",
    ),
    ({**ex.CONV_FULL, "export_progress": [SECRET]}, "conv", "export_progress"),
    ({**ex.CONV_FULL, "members": 7}, "conv", "members"),
    ({**ex.REQUEST_EVENT_OK, "identifier": [SECRET]}, "request", "identifier"),
    ({**ex.HOOK, "hook_key": None}, "hook", "hook_key"),
    ({**ex.CONTACT_OTHER, "is_hidden_for_add": 1}, "contact", "is_hidden_for_add"),
    (
        {
            **ex.WEBHOOK_MESSAGE_FILES,
            "attachments": [{"conversation_id": "c", "message_nr": SECRET}],
        },
        "file",
        "message_nr",
    ),
    ({**ex.WEBHOOK_MESSAGE_FILES, "attachments": [SECRET]}, "file", ""),
]


@pytest.mark.parametrize(("raw", "rec_type", "field"), WRONG_TYPES)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_wrong_types_raise_decode_error(
    raw: dict[str, Any], rec_type: str, field: str, strict: bool
) -> None:
    with pytest.raises(DecodeError) as info:
        parse_record(raw, strict=strict)
    message = str(info.value)
    assert SECRET not in message
    assert SECRET not in repr(info.value)
    assert field in message
    if not strict:  # the lenient message names the record type precisely
        assert f"'{rec_type}' record" in message


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize(
    "raw",
    [
        {k: v for k, v in ex.MESSAGE_TEXT.items() if k != "message_nr"},
        {k: v for k, v in ex.CONTACT_OTHER.items() if k != "account_id"},
        {k: v for k, v in ex.ACTIVITY.items() if k != "conversation_id"},
        {"mk_rec_type": "conv"},
    ],
)
def test_missing_required_fields_raise_decode_error(raw: dict[str, Any], strict: bool) -> None:
    with pytest.raises(DecodeError, match="missing"):
        parse_record(raw, strict=strict)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("raw", [None, [], "message", 5, [ex.MESSAGE_TEXT]])
def test_non_objects_raise_decode_error(raw: Any, strict: bool) -> None:
    with pytest.raises(DecodeError, match="JSON object"):
        parse_record(raw, strict=strict)
    with pytest.raises(DecodeError):
        parse_stream([ex.MESSAGE_TEXT, raw], strict=strict)


@pytest.mark.parametrize(
    "raw",
    [{"conversation_id": ex.CONV}, {"mk_rec_type": None}, {"mk_rec_type": 5}, {"mk_rec_type": []}],
)
def test_missing_or_bad_record_type_raises_decode_error(raw: dict[str, Any]) -> None:
    with pytest.raises(DecodeError, match="mk_rec_type"):
        parse_record(raw)
    with pytest.raises(DecodeError, match="mk_rec_type"):
        parse_stream([raw])


@pytest.mark.parametrize("raw", [None, {"stream": []}, "[]", 5])
def test_stream_must_be_a_list(raw: Any) -> None:
    with pytest.raises(DecodeError, match="JSON array"):
        parse_stream(raw)


def test_strict_rejects_a_record_of_another_type() -> None:
    with pytest.raises(DecodeError, match="mk_rec_type"):
        structure(ex.MESSAGE_TEXT, ConversationRecord, strict=True)


def test_structure_wraps_every_failure() -> None:
    with pytest.raises(DecodeError) as info:
        structure(SECRET, int)
    assert SECRET not in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(DecodeError):
        structure({"a": SECRET}, list[MessageRecord])
    with pytest.raises(DecodeError):
        structure([ex.MESSAGE_TEXT, {"mk_rec_type": "message"}], list[MessageRecord], strict=True)


# --- dispatch ------------------------------------------------------------------------------


def test_structure_to_the_record_union_dispatches_on_the_tag() -> None:
    assert isinstance(structure(ex.CONV_FULL, Record), ConversationRecord)  # type: ignore[arg-type]
    assert isinstance(structure(ex.POKE, BaseRecord), PokeRecord)
    mixed = structure(ex.POLL_RESPONSE["stream"], list[Record])
    assert mixed == parse_stream(ex.POLL_RESPONSE["stream"])
    strict = structure(ex.POLL_RESPONSE["stream"], list[Record], strict=True)
    assert strict == mixed


def test_converters_are_cattrs_converters_with_the_record_hooks() -> None:
    assert converter.structure(ex.MESSAGE_TEXT, MessageRecord) == parse_record(ex.MESSAGE_TEXT)
    assert strict_converter.structure(ex.MESSAGE_TEXT, MessageRecord) == parse_record(
        ex.MESSAGE_TEXT
    )
    assert converter.unstructure([parse_record(ex.POKE)]) == [ex.POKE]


def test_unstructure_omits_nulls_and_gives_lists() -> None:
    conv = parse_record(ex.WEBHOOK_CONV)
    wire = unstructure(conv)
    assert "members" not in wire
    assert wire["admins"] == []
    assert wire["mk_rec_type"] == "conv"
    assert unstructure(ConversationRecord(conversation_id="c")) == {
        "mk_rec_type": "conv",
        "conversation_id": "c",
    }


# --- the specialised fast path -------------------------------------------------------------


def test_specialised_decoders_agree_with_the_generic_and_strict_ones() -> None:
    stream = make_stream(300, seed=7)
    first = parse_stream(stream)
    assert first == parse_stream(stream, strict=True)
    for _ in range(_converter._SPECIALIZE_AFTER + 1):
        assert parse_stream(stream) == first
    assert _converter._SHAPES[MessageRecord]  # the common layouts got their own function
    assert _converter._SHAPES[ConversationRecord]


def test_specialised_decoder_still_checks_types_and_nulls() -> None:
    raw = {"mk_rec_type": "poke", "conversation_id": ex.CONV, "message_nr": 1, "zz_layout": 0}
    for _ in range(_converter._SPECIALIZE_AFTER + 1):
        parse_record(raw)
    assert tuple(raw) in _converter._SHAPES[PokeRecord]
    with pytest.raises(DecodeError, match="message_nr"):
        parse_record({**raw, "message_nr": "1"})
    with pytest.raises(DecodeError, match="conversation_id"):
        parse_record({**raw, "conversation_id": None})
    with pytest.raises(DecodeError, match="account_id"):
        parse_record({**raw, "account_id": 5})


def test_layout_without_a_required_field_is_never_specialised() -> None:
    raw = {"mk_rec_type": "lock", "message_nr": 1, "zz_layout": 1}
    for _ in range(_converter._SPECIALIZE_AFTER + 2):
        with pytest.raises(DecodeError, match="conversation_id"):
            parse_record(raw)


# --- properties ----------------------------------------------------------------------------

_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_FIELD_NAMES = sorted({a.name for cls in RECORD_TYPES.values() for a in attrs.fields(cls)})


@st.composite
def _raw_records(draw: st.DrawFn) -> dict[str, Any]:
    rec_type = draw(st.sampled_from([*RECORD_TYPES, "future_type"]))
    fields = draw(st.dictionaries(st.sampled_from(_FIELD_NAMES), _JSON, max_size=12))
    return {"mk_rec_type": rec_type, **fields}


@settings(max_examples=400, deadline=None)
@given(_raw_records())
def test_arbitrary_records_decode_or_raise_decode_error(raw: dict[str, Any]) -> None:
    for strict in (False, True):
        try:
            record = parse_record(raw, strict=strict)
        except DecodeError:
            continue
        assert record.mk_rec_type == raw["mk_rec_type"]
        if isinstance(record, UnknownRecord):
            continue
        for key, value in raw.items():
            if key != "mk_rec_type" and value is not None and hasattr(record, key):
                got = getattr(record, key)
                assert (
                    list(got) if isinstance(got, tuple) else got
                ) == value or key == "attachments"


# --- the benchmark page and harness (reused by later benchmarks) ----------------------------


def test_benchmark_page_is_deterministic_realistic_and_decodable() -> None:
    page = make_page(1000, seed=3)
    assert page == make_page(1000, seed=3)
    assert page != make_page(1000, seed=4)
    stream = orjson.loads(page)["stream"]
    assert len(stream) == 1000
    kinds = collections.Counter(r["mk_rec_type"] for r in stream)
    for kind, share in MIX.items():
        if kind != "unknown":
            assert kinds[kind] == share
    records = parse_stream(stream, strict=True)
    assert sum(isinstance(r, UnknownRecord) for r in records) == MIX["unknown"]
    assert parse_stream(stream) == records


def test_harness_statistics() -> None:
    stats = Stats.of([4.0, 1.0, 3.0, 2.0, 5.0])
    assert stats.median == 3.0
    assert stats.minimum == 1.0
    assert stats.maximum == 5.0
    assert stats.p10 == pytest.approx(1.4)
    assert stats.p90 == pytest.approx(4.6)
    assert stats.spread == pytest.approx(3.2 / 3.0)
    calls: list[str] = []
    result = compare(
        lambda: calls.append("a"), lambda: calls.append("b"), rounds=4, warmup=1, inner=2
    )
    assert calls[:2] == ["a", "b"]  # warm-up
    # interleaved, alternating who goes first: AB BA AB BA
    assert "".join(calls[2:]) == "aabb" + "bbaa" + "aabb" + "bbaa"
    assert len(result.ratios.samples) == 4
    with pytest.raises(ValueError, match="at least 1"):
        compare(lambda: None, lambda: None, rounds=0)


def test_specialised_decoders_read_each_layout_by_its_own_key_order() -> None:
    # A specialised decoder takes the values by position: the same keys in another order are
    # another layout with its own function, and an unknown key between known ones moves none.
    forward = {
        "mk_rec_type": "poke",
        "conversation_id": ex.CONV,
        "zz_unknown": "x",
        "message_nr": 7,
        "account_id": "a1",
    }
    backward = dict(reversed(list(forward.items())))
    for _ in range(_converter._SPECIALIZE_AFTER + 1):
        first = parse_record(forward)
        second = parse_record(backward)
    shapes = _converter._SHAPES[PokeRecord]
    assert tuple(forward) in shapes
    assert tuple(backward) in shapes
    assert shapes[tuple(forward)] is not shapes[tuple(backward)]
    assert first == second == parse_record(forward, strict=False)
    assert (first.conversation_id, first.message_nr, first.account_id) == (ex.CONV, 7, "a1")
