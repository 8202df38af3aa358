"""Behaviour of the typed records: conveniences, identity, merge, redaction."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from fleep_async._converter import parse_record
from fleep_async.errors import UsageError
from fleep_async.models import (
    RECORD_TYPES,
    SYSTEM_MESSAGE_TYPES,
    AccountStatus,
    ActivityRecord,
    BaseRecord,
    ContactRecord,
    ConversationRecord,
    FileRecord,
    HookRecord,
    MessageRecord,
    MessageState,
    MessageType,
    Record,
    RequestRecord,
    UnknownRecord,
    as_enum,
)
from tests.unit import record_examples as ex


def _message(raw: dict[str, Any]) -> MessageRecord:
    record = parse_record(raw, strict=True)
    assert isinstance(record, MessageRecord)
    return record


def _conv(raw: dict[str, Any]) -> ConversationRecord:
    record = parse_record(raw, strict=True)
    assert isinstance(record, ConversationRecord)
    return record


# --- classes -----------------------------------------------------------------------------------


def test_every_record_class_names_its_wire_type() -> None:
    expected = {
        "conv", "message", "contact", "activity", "hook", "file", "preview", "label", "lock",
        "team", "request", "poke", "lastseen", "reminder", "section", "upload", "org_header",
        "org_member", "org_changelog", "org_conv", "smtp", "mail", "billing", "transaction",
        "external_account",
    }  # fmt: skip
    assert set(RECORD_TYPES) == expected
    for rec_type, cls in RECORD_TYPES.items():
        assert rec_type == cls.REC_TYPE
        assert issubclass(cls, BaseRecord)
        assert attrs.has(cls)
        assert "__slots__" in cls.__dict__


def test_record_union_covers_every_class() -> None:
    members = set(Record.__args__)
    assert members == {*RECORD_TYPES.values(), UnknownRecord}


def test_records_are_frozen_slotted_and_hashable() -> None:
    record = _message(ex.MESSAGE_TEXT)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.message_nr = 3  # type: ignore[misc]
    assert not hasattr(record, "__dict__")
    assert hash(record) == hash(_message(ex.MESSAGE_TEXT))
    assert record == _message(dict(ex.MESSAGE_TEXT))
    assert record.mk_rec_type == "message"
    assert record.tags == ()


def test_absent_fields_are_none_and_lists_are_tuples() -> None:
    conv = _conv(ex.CONV_SMALLEST)
    assert conv.topic is None
    assert conv.members is None  # absent, not empty
    full = _conv(ex.CONV_FULL)
    assert full.members == (ex.ME,)
    assert full.leavers == ()


def test_records_can_be_built_directly() -> None:
    record = MessageRecord(conversation_id=ex.CONV, message_nr=1, message="<msg><p>hi</p></msg>")
    assert record.text == "hi"
    assert record.account_id is None


# --- enums -------------------------------------------------------------------------------------


def test_enum_members_compare_equal_to_wire_strings() -> None:
    record = _message(ex.MESSAGE_TEXT)
    assert record.mk_message_type == MessageType.TEXT
    assert record.mk_message_state == MessageState.PLAIN
    wire: str = MessageType.TEXT
    assert wire == "text"
    assert "text" in {MessageType.TEXT}
    assert as_enum(AccountStatus, "active") is AccountStatus.ACTIVE


def test_unknown_enum_values_stay_strings() -> None:
    assert as_enum(MessageType, "brand_new_type") == "brand_new_type"
    record = _message({**ex.MESSAGE_TEXT, "mk_message_type": "brand_new_type"})
    assert record.mk_message_type == "brand_new_type"
    assert not record.is_system  # the state says plain


def test_system_message_types_exclude_user_content() -> None:
    assert "create" in SYSTEM_MESSAGE_TYPES
    assert not {"text", "email", "textV2", "emailV2", "separator"} & SYSTEM_MESSAGE_TYPES


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("conv_full", (ex.CONV,)),
        ("message_text", (ex.CONV, 2)),
        ("contact_other", (ex.BOB,)),
        ("activity", (ex.CONV, ex.BOB)),
        ("hook", (ex.CONV, ex.HOOK_KEY)),
        ("file_image", (ex.CONV, 2, "I4dpFlmQSXq1stnB1kvi3w")),
        ("preview", (ex.CONV, 75, "https://www.hiig.de/en/")),
        ("label_user", (ex.LABEL,)),
        ("lock", (ex.CONV, 2)),
        ("team", (ex.TEAM,)),
        ("request_poll", ("8faf3a5a-2c1b-4a6f-9c0e-3d7b1f2a4e6c",)),
        ("poke", (ex.CONV, 123456)),
        ("lastseen", (ex.BOB,)),
        ("reminder", ("5f4e3d2c-1b0a-4998-8776-655443322110",)),
        ("section", (ex.CONV, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")),
        ("upload", (ex.CONV, None)),
        ("org_header", (ex.ORG,)),
        ("org_member", (ex.ORG, ex.BOB)),
        ("org_changelog", (ex.ORG, 5)),
        ("smtp", ("b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",)),
        ("mail", ("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",)),
        ("billing", (ex.ORG,)),
        ("transaction", ("d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a",)),
        ("external_account", ("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",)),
    ],
)
def test_identity_is_the_cache_key(name: str, identity: tuple[object, ...]) -> None:
    assert parse_record(ex.EXAMPLES[name], strict=True).identity == identity


def test_unknown_record_identity() -> None:
    hangout = parse_record(
        {"mk_rec_type": "hangout_activity", "conversation_id": ex.CONV, "hangout_id": "h"}
    )
    assert isinstance(hangout, UnknownRecord)
    assert hangout.identity == (ex.CONV, "h")
    other = parse_record({"mk_rec_type": "replace", "x": 1})
    assert other.identity is None


# --- message conveniences ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("message_text", "msgSend1"),
        ("message_edited_unpinned", "unpinMsg"),
        ("message_deleted", ""),
        ("message_hook", "Testing hook with\nPython"),
        ("message_system_create", "created the conversation 'customLabels'"),
        ("message_system_add", "added 2 members"),
        ("message_system_topic", "changed the topic to 'Release planning'"),
        ("message_system_hook", "added the webhook 'plainHook'"),
        ("message_system_share", "enabled the join link"),
        ("message_text_v2", "wrapped *text*"),
        ("webhook_message", "simple message"),
        ("webhook_message_email", "message via email\n\n-- \nHelmo"),
        ("webhook_message_link", "message with url https://google.com<<google.com>>"),
        ("webhook_message_files", "message with files"),
    ],
)
def test_message_text(name: str, text: str) -> None:
    assert _message(ex.EXAMPLES[name]).text == text


def test_system_message_body_is_decoded() -> None:
    create = _message(ex.MESSAGE_SYSTEM_CREATE)
    assert create.is_system
    assert create.system == {
        "members": [],
        "org_name": None,
        "organisation_id": None,
        "topic": "customLabels",
    }
    assert create.xml == ""
    assert _message(ex.MESSAGE_SYSTEM_ADD).system == {"members": [ex.BOB, ex.MEG]}


def test_text_messages_have_no_system_body() -> None:
    for name in ("message_text", "message_text_v2", "webhook_message_email", "message_deleted"):
        record = _message(ex.EXAMPLES[name])
        assert not record.is_system
        assert record.system is None


def test_system_detection_without_a_state_uses_the_type() -> None:
    raw = {k: v for k, v in ex.MESSAGE_SYSTEM_TOPIC.items() if k != "mk_message_state"}
    record = _message(raw)
    assert record.is_system
    assert record.text == "changed the topic to 'Release planning'"


def test_broken_system_body_gives_no_dict_and_no_error() -> None:
    record = _message({**ex.MESSAGE_SYSTEM_TOPIC, "message": "{not json"})
    assert record.system is None
    assert record.text == "changed the topic to ''"
    unknown = _message({**ex.MESSAGE_SYSTEM_TOPIC, "mk_message_type": "future_event"})
    assert unknown.text == ""


def test_json_wrapped_body_is_unwrapped() -> None:
    record = _message(ex.MESSAGE_TEXT_V2)
    assert record.xml.startswith("<msg><p>wrapped")
    assert record.attachment_keys == ("I4dpFlmQSXq1stnB1kvi3w",)
    broken = _message({**ex.MESSAGE_TEXT_V2, "message": '{"attachments": []}'})
    assert broken.text == ""


def test_deleted_and_revision_flags() -> None:
    text = _message(ex.MESSAGE_TEXT)
    assert not text.is_deleted
    assert not text.is_revision
    assert text.revision == (ex.CONV, 2, 2)

    edited = _message(ex.MESSAGE_EDITED_UNPINNED)
    assert edited.is_revision
    assert not edited.is_deleted
    assert edited.revision == (ex.CONV, 2, 4)
    assert edited.identity == text.identity
    assert edited.revision != text.revision

    deleted = _message(ex.MESSAGE_DELETED)
    assert deleted.is_deleted
    assert deleted.is_revision
    assert deleted.text == ""

    tagged = _message({**ex.MESSAGE_TEXT, "tags": ["is_deleted"]})
    assert tagged.is_deleted

    assert not _message(ex.WEBHOOK_MESSAGE).is_revision  # is_edit: false on the wire
    assert _message({**ex.WEBHOOK_MESSAGE, "is_edit": True}).is_revision
    assert _message({**ex.MESSAGE_TEXT, "revision_message_nr": 7}).is_revision


def test_attachment_keys_from_records_and_from_xml() -> None:
    files = _message(ex.WEBHOOK_MESSAGE_FILES)
    assert files.attachments is not None
    assert all(isinstance(f, FileRecord) for f in files.attachments)
    assert files.attachment_keys == ("0000000000000000000000",) * 3
    xml_only = _message(
        {**ex.MESSAGE_TEXT, "message": '<msg><p>x</p><file key="a">a.txt</file></msg>'}
    )
    assert xml_only.attachment_keys == ("a",)
    assert _message(ex.MESSAGE_TEXT).attachment_keys == ()


def test_request_error_flag() -> None:
    for name, is_error in [
        ("request_poll", False),
        ("request_event_ok", False),
        ("request_event_error", True),
    ]:
        record = parse_record(ex.EXAMPLES[name], strict=True)
        assert isinstance(record, RequestRecord)
        assert record.is_error is is_error


# --- merge -------------------------------------------------------------------------------------


def test_partial_header_merges_into_the_full_one() -> None:
    full = _conv(ex.CONV_FULL)
    partial = _conv(ex.CONV_PARTIAL)
    merged = full.merge(partial)
    assert isinstance(merged, ConversationRecord)
    # kept from the full header: the partial does not carry them
    assert merged.topic == "test"
    assert merged.members == (ex.ME,)
    assert merged.cmail == ex.CONV_FULL["cmail"]
    assert merged.can_post is True
    # taken from the partial header
    assert merged.last_message_nr == 2
    assert merged.read_message_nr == 2
    assert merged.inbox_time == ex.T + 60
    assert merged.read_inbox_nr == 1
    # field by field: the partial wins wherever it carries a value
    for field in attrs.fields(ConversationRecord):
        new, old = getattr(partial, field.name), getattr(full, field.name)
        assert getattr(merged, field.name) == (old if new is None else new)
    # the inputs are untouched and the result is a proper frozen record
    assert full.last_message_nr == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        merged.topic = "x"  # type: ignore[misc]
    assert merged == full.merge(partial)


def test_merging_an_empty_partial_changes_nothing() -> None:
    full = _conv(ex.CONV_FULL)
    assert full.merge(ConversationRecord(conversation_id=ex.CONV)) == full


def test_merge_refuses_other_identities_and_classes() -> None:
    full = _conv(ex.CONV_FULL)
    with pytest.raises(UsageError):
        full.merge(_conv(ex.CONV_TINY))
    with pytest.raises(UsageError):
        full.merge(_message(ex.MESSAGE_TEXT))  # type: ignore[arg-type]


def test_other_records_merge_too() -> None:
    full = parse_record(ex.ACTIVITY)
    minimal = parse_record(ex.ACTIVITY_MINIMAL)
    assert isinstance(full, ActivityRecord)
    assert isinstance(minimal, ActivityRecord)
    assert full.merge(minimal) == full
    assert minimal.merge(full) == full


def test_unknown_records_merge_their_raw_objects() -> None:
    key = {"mk_rec_type": "hangout_activity", "conversation_id": ex.CONV, "hangout_id": "h"}
    a = parse_record({**key, "x": 1})
    b = parse_record({**key, "y": 2})
    assert isinstance(a, UnknownRecord)
    assert isinstance(b, UnknownRecord)
    merged = a.merge(b)
    assert merged.raw == {**key, "x": 1, "y": 2}
    with pytest.raises(UsageError):
        a.merge(UnknownRecord(mk_rec_type="replace", raw={}))


# --- repr ----------------------------------------------------------------------------------


def test_repr_shows_only_carried_fields() -> None:
    text = repr(_conv(ex.CONV_SMALLEST))
    assert text.startswith("ConversationRecord(conversation_id=")
    assert "topic" not in text
    assert "last_message_nr=4" in text


def test_repr_hides_hook_secrets() -> None:
    hook = parse_record(ex.HOOK)
    assert isinstance(hook, HookRecord)
    for record in (
        hook,
        parse_record(ex.MESSAGE_HOOK),
        parse_record(ex.MESSAGE_SYSTEM_HOOK),
        parse_record({"mk_rec_type": "future", "hook_url": ex.HOOK_URL}),
    ):
        assert ex.HOOK_KEY not in repr(record)
        assert ex.HOOK_KEY not in str(record)
    assert "hook_key='***'" in repr(hook)
    assert hook.hook_key == ex.HOOK_KEY  # the value itself is intact


def test_contact_record_keeps_owner_fields() -> None:
    own = parse_record(ex.CONTACT_OWN, strict=True)
    assert isinstance(own, ContactRecord)
    assert own.storage_quota_bytes == 10737418240
    assert own.client_flags == ("emoticons_old", "send_email_on_enter", "show_onboarding")
    assert own.export_progress == "1"


def test_disclose_v2_text_names_the_teams_and_counts_the_people() -> None:
    template = "{author} disclosed previous messages to {teamsAndMembers} starting from {x}."
    body = {"members": [ex.BOB], "team_ids": ["t1"], "team_names": ["crew"]}
    raw = {
        **ex.MESSAGE_SYSTEM_ADD,
        "mk_message_type": "discloseV2",
        "ref_message_nr": 1,
        "message": json.dumps({**body, "sysmsg_text": template}),
    }
    record = _message(raw)
    assert record.is_system
    assert record.text == "disclosed the conversation history to team 'crew' and 1 member"
    teams_only = _message({**raw, "message": json.dumps({"team_names": ["a", "b"]})})
    assert teams_only.text == "disclosed the conversation history to teams 'a', 'b'"
