"""A conversation's task board has its own "To Do" and "Archived" sections (issue 12).

Facts from Fleep's public server tests, restated in our own words and calls: the answer to
``conversation/create`` (an organisation's conversation there) ends with two ``section`` records
of the new conversation, "Archived" (subtype ``archived``, weight 0) and then "To Do" (subtype
``default``, weight ``2**32``), each with ``is_deleted`` false and ``sync_cursor`` and
``sync_state`` null; a user section added with ``section:task:add`` answers without those two
fields and sits at ``2**32 - 65536``; a task's message names its ``section_id``, which the task
repositioning event sends back. What the specs leave open (the same sections for every
conversation, other members' streams, moving a task between sections, syncing and archiving a
section, the system sections being fixed) follows the personal "my tasks" board and is marked
*inferred* in docs/fakefleep.md.
"""

from __future__ import annotations

import pytest

from fleep_async._converter import parse_record
from fleep_async.models import SectionRecord, UnknownRecord
from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, Record, client_event, of_type, store_events

pytestmark = pytest.mark.asyncio

TASK = "urn:fleep:section:mk_section_type:task"
SUBTYPE = "urn:fleep:section:mk_section_subtype:"
NOWHERE = "00000000-0000-4000-8000-000000000000"


def by_subtype(records: list[Record], conv: str) -> dict[str, Record]:
    """The conversation's sections among ``records``, by subtype (the last record wins)."""
    mine = [r for r in of_type(records, "section") if r["conversation_id"] == conv]
    return {r["mk_section_subtype"].removeprefix(SUBTYPE): r for r in mine}


async def sections_of(alice: RawUser, conv: str) -> dict[str, Record]:
    """The conversation's sections as Alice's poll stream tells them."""
    _, records = await alice.drain(0)
    return by_subtype(records, conv)


async def add_todo(user: RawUser, req: int, conv: str, text: str) -> Record:
    """Post a todo message with ``event/store``; its message record."""
    answer = await store_events(
        user, client_event("message:add_todo", req, conversation_id=conv, message=text)
    )
    (request,) = of_type(answer, "request")
    assert request["status_code"] == 200, request
    (message,) = of_type(answer, "message")
    return message


async def test_conversation_create_answers_its_archived_and_to_do_sections_last(
    alice: RawUser, bob: RawUser
) -> None:
    answer = await alice.call(
        "conversation/create", {"topic": "board", "account_ids": [bob.account_id]}
    )
    conv = answer["header"]["conversation_id"]
    stream = answer["stream"]
    archived, todo = stream[-2:]
    assert archived == {
        "mk_rec_type": "section",
        "conversation_id": conv,
        "section_id": archived["section_id"],
        "name": "Archived",
        "mk_section_type": TASK,
        "mk_section_subtype": SUBTYPE + "archived",
        "weight": 0,
        "is_deleted": False,
        "sync_cursor": None,
        "sync_state": None,
    }
    assert todo == {
        **archived,
        "section_id": todo["section_id"],
        "name": "To Do",
        "mk_section_subtype": SUBTYPE + "default",
        "weight": 2**32,
    }
    assert todo["section_id"] != archived["section_id"]
    assert of_type(stream, "section") == [archived, todo]
    # Every member's stream gets the same two sections.
    for user in (alice, bob):
        assert await sections_of(user, conv) == {"archived": archived, "default": todo}
    # Another conversation has sections of its own.
    other = await alice.call("conversation/create", {"topic": "other"})
    others = by_subtype(other["stream"], other["header"]["conversation_id"])
    assert sorted(others) == ["archived", "default"]
    assert others["default"]["section_id"] != todo["section_id"]


async def test_a_new_task_names_the_to_do_section_and_keeps_the_real_weights(
    alice: RawUser, conv: str
) -> None:
    todo = (await sections_of(alice, conv))["default"]
    first = await add_todo(alice, 1, conv, "todo1")
    second = await add_todo(alice, 2, conv, "todo2")
    assert first["section_id"] == second["section_id"] == todo["section_id"]
    assert (first["task_weight"], second["task_weight"]) == (2**32, 2**32 + 65536)
    # A task made through message/store is on the same board section.
    stored = await alice.call(f"message/store/{conv}", {"message": "todo3", "tags": ["is_todo"]})
    (third,) = [
        m for m in of_type(stored["stream"], "message") if m["message"].endswith("3</p></msg>")
    ]
    assert third["section_id"] == todo["section_id"]
    # A plain message names no section.
    plain = await store_events(
        alice, client_event("message:add_plain", 3, conversation_id=conv, message="hi")
    )
    assert "section_id" not in of_type(plain, "message")[0]


async def test_a_task_repositioned_with_its_section_id_lands_between_its_neighbours(
    alice: RawUser, conv: str
) -> None:
    todos = [await add_todo(alice, n, conv, f"todo{n}") for n in range(1, 5)]
    moved = await store_events(
        alice,
        client_event(
            "message:task:set_position",
            5,
            conversation_id=conv,
            message_nr=todos[0]["message_nr"],
            prev_message_nr=todos[3]["message_nr"],
            section_id=todos[0]["section_id"],
        ),
    )
    assert of_type(moved, "request")[0]["status_code"] == 200
    (message,) = of_type(moved, "message")
    # Halfway between todo4 and todo3, as Fleep's server tests show.
    assert message["task_weight"] == 4295131136
    assert message["section_id"] == todos[0]["section_id"]


async def test_a_task_moves_to_a_user_section_and_back_to_to_do_when_that_section_goes(
    alice: RawUser, conv: str
) -> None:
    todo = (await sections_of(alice, conv))["default"]
    added = await store_events(
        alice, client_event("section:task:add", 1, conversation_id=conv, section_name="Later")
    )
    (user_section,) = of_type(added, "section")
    assert user_section["weight"] == 2**32 - 65536
    assert "sync_cursor" not in user_section
    task = await add_todo(alice, 2, conv, "move me")
    moved = await store_events(
        alice,
        client_event(
            "message:task:set_position",
            3,
            conversation_id=conv,
            message_nr=task["message_nr"],
            section_id=user_section["section_id"],
        ),
    )
    assert of_type(moved, "request")[0]["status_code"] == 200
    assert of_type(moved, "message")[0]["section_id"] == user_section["section_id"]
    synced = await store_events(
        alice,
        client_event(
            "section:task:sync", 4, conversation_id=conv, section_id=user_section["section_id"]
        ),
    )
    (request,) = of_type(synced, "request")
    assert request["identifier"] == {
        "conversation_id": conv,
        "section_id": user_section["section_id"],
    }
    assert [m["message_nr"] for m in of_type(synced, "message")] == [task["message_nr"]]
    empty = await store_events(
        alice,
        client_event("section:task:sync", 5, conversation_id=conv, section_id=todo["section_id"]),
    )
    assert of_type(empty, "message") == []
    board = await alice.call(
        "account/sync_taskboard",
        {"conversation_id": conv, "section_id": user_section["section_id"]},
    )
    assert [m["message_nr"] for m in of_type(board["stream"], "message")] == [task["message_nr"]]
    deleted = await store_events(
        alice,
        client_event(
            "section:task:delete",
            6,
            conversation_id=conv,
            section_id=user_section["section_id"],
        ),
    )
    assert of_type(deleted, "section")[0]["is_deleted"] is True
    back = await store_events(
        alice,
        client_event("section:task:sync", 7, conversation_id=conv, section_id=todo["section_id"]),
    )
    (message,) = of_type(back, "message")
    assert message["message_nr"] == task["message_nr"]
    assert message["section_id"] == todo["section_id"]
    # A section of no conversation board is not a place for a task.
    nowhere = await store_events(
        alice,
        client_event(
            "message:task:set_position",
            8,
            conversation_id=conv,
            message_nr=task["message_nr"],
            section_id=NOWHERE,
        ),
    )
    assert of_type(nowhere, "request")[0]["status_code"] == 430


async def test_archive_done_moves_the_done_tasks_to_archived_and_leaves_the_open_ones(
    alice: RawUser, conv: str
) -> None:
    sections = await sections_of(alice, conv)
    open_task = await add_todo(alice, 1, conv, "still open")
    done_task = await add_todo(alice, 2, conv, "finished")
    done = await store_events(
        alice,
        client_event(
            "message:set_done", 3, conversation_id=conv, message_nr=done_task["message_nr"]
        ),
    )
    assert of_type(done, "request")[0]["status_code"] == 200
    archived = await store_events(
        alice,
        client_event(
            "section:task:archive_done",
            4,
            conversation_id=conv,
            section_id=sections["default"]["section_id"],
        ),
    )
    assert of_type(archived, "request")[0]["status_code"] == 200
    (moved,) = of_type(archived, "message")
    assert moved["message_nr"] == done_task["message_nr"]
    assert moved["section_id"] == sections["archived"]["section_id"]
    todo_board = await store_events(
        alice,
        client_event(
            "section:task:sync",
            5,
            conversation_id=conv,
            section_id=sections["default"]["section_id"],
        ),
    )
    assert [m["message_nr"] for m in of_type(todo_board, "message")] == [open_task["message_nr"]]


async def test_the_to_do_and_archived_sections_cannot_be_renamed_or_deleted(
    alice: RawUser, conv: str
) -> None:
    sections = await sections_of(alice, conv)
    for req, subtype in enumerate(("default", "archived"), start=1):
        section_id = sections[subtype]["section_id"]
        renamed = await store_events(
            alice,
            client_event(
                "section:task:rename",
                req,
                conversation_id=conv,
                section_id=section_id,
                section_name="x",
            ),
        )
        assert of_type(renamed, "request")[0]["status_code"] == 400
        deleted = await store_events(
            alice,
            client_event(
                "section:task:delete", req + 10, conversation_id=conv, section_id=section_id
            ),
        )
        assert of_type(deleted, "request")[0]["status_code"] == 400
    assert await sections_of(alice, conv) == sections


async def test_a_member_added_later_gets_the_board_sections(
    alice: RawUser, conv: str, fake: FakeFleep, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    sections = await sections_of(alice, conv)
    assert sorted(sections) == ["archived", "default"]
    await alice.call(f"conversation/add_members/{conv}", {"emails": "carol@example.com"})
    assert await sections_of(carol, conv) == sections


async def test_board_sections_decode_strictly_with_the_client_types(
    alice: RawUser, bob: RawUser
) -> None:
    answer = await alice.call("conversation/create", {"topic": "decode"})
    conv = answer["header"]["conversation_id"]
    stream = list(answer["stream"])
    stream += await store_events(
        alice, client_event("section:task:add", 1, conversation_id=conv, section_name="S")
    )
    task = await add_todo(alice, 2, conv, "decode me")
    stream.append(task)
    sections = of_type(stream, "section")
    assert len(sections) == 3
    for record in stream:
        parsed = parse_record(record, strict=True)
        assert not isinstance(parsed, UnknownRecord), record
    parsed_sections = [parse_record(r, strict=True) for r in sections]
    assert all(isinstance(s, SectionRecord) for s in parsed_sections)
