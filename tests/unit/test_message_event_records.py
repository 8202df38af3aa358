"""Message records as the real client-event API answers them (issue 12).

Facts from Fleep's public server tests (its message-event specs), restated in our own words:
the first version of the event API spells message states ``urn:fleep:msgstate:*``, the current
one ``urn:fleep:message:mk_message_state:*``; a task synced from the personal task board
carries its ``task_state``; task notifications arrive as system messages.
"""

from __future__ import annotations

from fleep_async._converter import parse_record
from fleep_async.models import MessageRecord, MessageType, SectionRecord

CONV = "5eed0000-0000-4000-8000-000000000001"


def message(**fields: object) -> MessageRecord:
    """A message record decoded strictly."""
    record = parse_record(
        {"mk_rec_type": "message", "conversation_id": CONV, "message_nr": 3, **fields},
        strict=True,
    )
    assert isinstance(record, MessageRecord)
    return record


def test_both_state_spellings_of_a_system_message_are_system() -> None:
    for state in ("urn:fleep:message:mk_message_state:system", "urn:fleep:msgstate:system"):
        assert message(mk_message_type="create", mk_message_state=state).is_system
    assert not message(mk_message_type="text", mk_message_state="urn:fleep:msgstate:text").is_system


def test_both_state_spellings_of_a_deleted_message_are_deleted() -> None:
    for state in ("urn:fleep:message:mk_message_state:deleted", "urn:fleep:msgstate:deleted"):
        assert message(mk_message_state=state, message="").is_deleted
    assert not message(mk_message_state="urn:fleep:msgstate:pinned").is_deleted


def test_a_task_from_the_personal_board_carries_its_place_by_either_name() -> None:
    place = {
        "mk_section_type": "urn:fleep:section:mk_section_type:my_task",
        "section_id": "5eed0000-0000-4000-8000-000000000002",
        "task_weight": 4294967296,
    }
    state = "urn:fleep:message:mk_message_state:todo"
    newest = message(mk_message_type="text", mk_message_state=state, assigned_to_me_state=place)
    older = message(mk_message_type="text", mk_message_state=state, task_state=place)
    assert newest.assigned_to_me_state is not None
    assert newest.assigned_to_me_state["task_weight"] == 2**32
    assert older.task_state is not None
    assert older.task_state["task_weight"] == 2**32


def test_task_notifications_are_system_messages() -> None:
    body = '{"task_message_nr":3,"sysmsg_text":"{author} completed a task."}'
    done = message(mk_message_type="task_completed", message=body)
    assert done.is_system
    assert done.system == {"task_message_nr": 3, "sysmsg_text": "{author} completed a task."}
    assert MessageType.ENABLE_DONE_NOTIFS == "enable_done_notifs"
    assert message(mk_message_type=MessageType.DISABLE_DONE_NOTIFS.value).is_system


def test_a_taskboard_section_decodes_strictly() -> None:
    section = parse_record(
        {
            "mk_rec_type": "section",
            "conversation_id": CONV,
            "section_id": "5eed0000-0000-4000-8000-000000000003",
            "name": "My section",
            "mk_section_type": "urn:fleep:section:mk_section_type:task",
            "mk_section_subtype": "urn:fleep:section:mk_section_subtype:user",
            "weight": 4294901760,
            "is_deleted": False,
        },
        strict=True,
    )
    assert isinstance(section, SectionRecord)
    assert section.weight == 2**32 - 65536


def test_a_personal_board_section_without_a_conversation_decodes_strictly() -> None:
    for conversation in ({"conversation_id": None}, {}):
        section = parse_record(
            {
                "mk_rec_type": "section",
                **conversation,
                "section_id": "5eed0000-0000-4000-8000-000000000004",
                "name": "To Do",
                "mk_section_type": "urn:fleep:section:mk_section_type:my_task",
                "mk_section_subtype": "urn:fleep:section:mk_section_subtype:default",
                "weight": 4294967296,
                "is_deleted": False,
            },
            strict=True,
        )
        assert isinstance(section, SectionRecord)
        assert section.conversation_id is None
        assert section.name == "To Do"
