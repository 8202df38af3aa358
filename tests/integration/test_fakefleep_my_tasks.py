"""FakeFleep serves the personal "my tasks" board as the real server does (issue 12).

Facts from Fleep's public server tests (its "my taskboard" specs and their helpers), restated in
our own words and calls: every account's initial poll carries its two personal sections, "To Do"
(``default``) and "Archived" (``archived``); ``section:my_task:sync`` of a section answers the
messages on the caller's board there, each with an ``assigned_to_me_state`` naming the board,
the section and the task's weight (the first one ``2**32``), which an assignee's messages carry
in the poll as well; a todo message assigned to the caller is on the board;
``section:my_task:add`` answers the new section by its id. What the specs leave open (rename,
delete, set_position, the order of tasks) follows the conversation task board.
"""

from __future__ import annotations

import anyio
import pytest

from fleep_async._client import FleepClient
from fleep_async._converter import parse_record
from fleep_async.models import MessageRecord, SectionRecord, UnknownRecord
from fleep_async.services import ServiceHub
from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import Record, client_event, of_type, store_events

pytestmark = pytest.mark.asyncio

MY_TASK = "urn:fleep:section:mk_section_type:my_task"
SUBTYPE = "urn:fleep:section:mk_section_subtype:"
TODO = "urn:fleep:message:mk_message_state:todo"
NOWHERE = "00000000-0000-4000-8000-000000000000"


async def my_sections(user: RawUser) -> dict[str, Record]:
    """The personal sections of the user's initial poll, by subtype (``default``, ...)."""
    _, records, _ = await user.initial_sync()
    mine = [r for r in of_type(records, "section") if r["mk_section_type"] == MY_TASK]
    return {r["mk_section_subtype"].removeprefix(SUBTYPE): r for r in mine}


async def add_todo(user: RawUser, req: int, conv: str, text: str, *assignees: str) -> int:
    """Post a todo message with ``event/store``; its message number."""
    answer = await store_events(
        user,
        client_event(
            "message:add_todo",
            req,
            conversation_id=conv,
            message=text,
            assignee_ids=list(assignees),
        ),
    )
    (request,) = of_type(answer, "request")
    assert request["status_code"] == 200, request
    nr = request["identifier"]["message_nr"]
    assert isinstance(nr, int)
    return nr


async def sync(user: RawUser, req: int, section_id: str) -> tuple[Record, list[Record]]:
    """``section:my_task:sync`` of one section: its request record and its messages."""
    answer = await store_events(
        user, client_event("section:my_task:sync", req, section_id=section_id)
    )
    (request,) = of_type(answer, "request")
    return request, of_type(answer, "message")


async def test_every_initial_poll_carries_my_to_do_and_archived_sections(
    alice: RawUser, bob: RawUser
) -> None:
    sections = await my_sections(alice)
    assert sorted(sections) == ["archived", "default"]
    todo, archived = sections["default"], sections["archived"]
    assert todo["name"] == "To Do"
    assert archived["name"] == "Archived"
    # On the same scale as a conversation board's system sections: To Do on top.
    assert todo["weight"] == 2**32
    assert archived["weight"] == 0
    assert todo["is_deleted"] is False
    # Not null (Fleep's own test client fails on a null section key): one id per board, which
    # names no conversation.
    assert isinstance(todo["conversation_id"], str)
    assert todo["conversation_id"] == archived["conversation_id"]
    _, records, _ = await alice.initial_sync()
    assert todo["conversation_id"] not in {c["conversation_id"] for c in of_type(records, "conv")}
    assert todo["section_id"] != archived["section_id"]
    # Each account has its own board.
    bobs = await my_sections(bob)
    assert bobs["default"]["section_id"] != todo["section_id"]
    # The next initial poll names the same sections.
    assert (await my_sections(alice))["default"] == todo


async def test_a_todo_assigned_to_me_is_synced_from_my_to_do_section_with_its_place(
    alice: RawUser, conv: str
) -> None:
    todo = (await my_sections(alice))["default"]["section_id"]
    first = await add_todo(alice, 1, conv, "TodoMessage1", alice.account_id)
    second = await add_todo(alice, 2, conv, "TodoMessage2", alice.account_id)
    request, messages = await sync(alice, 3, todo)
    assert request["status_code"] == 200
    assert request["identifier"] == {"section_id": todo}
    by_nr = {m["message_nr"]: m for m in messages}
    assert sorted(by_nr) == sorted([first, second])
    task = by_nr[first]
    assert task["conversation_id"] == conv
    assert task["mk_message_state"] == TODO
    assert task["message"] == "<msg><p>TodoMessage1</p></msg>"
    assert task["assigned_to_me_state"] == {
        "mk_section_type": MY_TASK,
        "section_id": todo,
        "task_weight": 2**32,
    }
    # A later task comes on top of the earlier one, as on a conversation's board.
    assert by_nr[second]["assigned_to_me_state"]["task_weight"] == 2**32 + 65536
    # The newest spec's name for it: the older ``task_state`` is not sent as well.
    assert "task_state" not in task
    assert [m["message_nr"] for m in messages] == [second, first]


async def test_a_todo_someone_assigns_me_reaches_my_poll_with_its_place_on_my_board(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    todo = (await my_sections(alice))["default"]["section_id"]
    await add_todo(alice, 1, conv, "my own", alice.account_id)
    horizon = (await alice.call("account/poll", {"event_horizon": 0}))["event_horizon"]
    assigned = await add_todo(bob, 2, conv, "Message assigned to alice", alice.account_id)
    polled = await alice.call("account/poll", {"event_horizon": horizon, "wait": False})
    (message,) = [m for m in of_type(polled["stream"], "message") if m["message_nr"] == assigned]
    assert message["account_id"] == bob.account_id
    # Alice's second task: one step above her first, in her "To Do".
    assert message["assigned_to_me_state"] == {
        "mk_section_type": MY_TASK,
        "section_id": todo,
        "task_weight": 2**32 + 65536,
    }
    # The author, not an assignee, sees no place of his own.
    seen_by_bob = await bob.call(f"conversation/sync/{conv}", {"from_message_nr": assigned - 1})
    (mine,) = [m for m in of_type(seen_by_bob["stream"], "message") if m["message_nr"] == assigned]
    assert "assigned_to_me_state" not in mine


async def test_only_tasks_assigned_to_me_and_in_that_section_are_on_my_board(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    alices = await my_sections(alice)
    bobs = await my_sections(bob)
    await add_todo(alice, 1, conv, "for nobody")
    mine = await add_todo(alice, 2, conv, "for alice", alice.account_id)
    _, messages = await sync(alice, 3, alices["default"]["section_id"])
    assert [m["message_nr"] for m in messages] == [mine]
    _, archived = await sync(alice, 4, alices["archived"]["section_id"])
    assert archived == []
    _, others = await sync(bob, 5, bobs["default"]["section_id"])
    assert others == []
    # Assigning the task to Bob puts it on his board too.
    answer = await store_events(
        alice,
        client_event(
            "message:set_assignees",
            6,
            conversation_id=conv,
            message_nr=mine,
            assignee_ids=[alice.account_id, bob.account_id],
        ),
    )
    assert of_type(answer, "request")[0]["status_code"] == 200
    _, bob_tasks = await sync(bob, 7, bobs["default"]["section_id"])
    assert [m["message_nr"] for m in bob_tasks] == [mine]
    assert bob_tasks[0]["assigned_to_me_state"]["section_id"] == bobs["default"]["section_id"]
    # Another account's section is not one of mine.
    request, _ = await sync(bob, 8, alices["default"]["section_id"])
    assert request["status_code"] == 430
    assert request["error_id"] == "not_found"


async def test_a_task_turned_plain_leaves_my_board(alice: RawUser, conv: str) -> None:
    todo = (await my_sections(alice))["default"]["section_id"]
    nr = await add_todo(alice, 1, conv, "short-lived", alice.account_id)
    answer = await store_events(
        alice, client_event("message:set_plain", 2, conversation_id=conv, message_nr=nr)
    )
    assert of_type(answer, "request")[0]["status_code"] == 200
    _, messages = await sync(alice, 3, todo)
    assert messages == []


async def test_a_personal_section_added_is_answered_by_its_id_and_reaches_the_poll(
    alice: RawUser,
) -> None:
    sections = await my_sections(alice)
    horizon, _, _ = await alice.initial_sync()
    answer = await store_events(
        alice, client_event("section:my_task:add", 1, section_name="MyTestSection")
    )
    (request,) = of_type(answer, "request")
    assert request["status_code"] == 200
    section_id = request["identifier"]["section_id"]
    assert request["identifier"] == {"section_id": section_id}
    (section,) = of_type(answer, "section")
    assert section == {
        "mk_rec_type": "section",
        "conversation_id": sections["default"]["conversation_id"],
        "section_id": section_id,
        "name": "MyTestSection",
        "mk_section_type": MY_TASK,
        "mk_section_subtype": SUBTYPE + "user",
        "weight": 2**32 - 65536,
        "is_deleted": False,
    }
    assert section_id not in {s["section_id"] for s in sections.values()}
    _, polled = await alice.drain(horizon)
    assert section in of_type(polled, "section")
    # A repeated client_req_id adds nothing and answers the same section.
    again = await store_events(alice, client_event("section:my_task:add", 1, section_name="Other"))
    assert of_type(again, "section") == [section]
    # The next one sits below it; the next initial poll carries all three.
    second = await store_events(alice, client_event("section:my_task:add", 2, section_name="Later"))
    assert of_type(second, "section")[0]["weight"] == 2**32 - 2 * 65536
    _, records, _ = await alice.initial_sync()
    names = {r["name"] for r in of_type(records, "section") if r["mk_section_type"] == MY_TASK}
    assert names == {"To Do", "Archived", "MyTestSection", "Later"}
    # An empty user section syncs to nothing.
    _, messages = await sync(alice, 3, section_id)
    assert messages == []


async def test_personal_sections_are_renamed_moved_and_deleted_but_not_the_system_ones(
    alice: RawUser,
) -> None:
    sections = await my_sections(alice)
    a = of_type(
        await store_events(alice, client_event("section:my_task:add", 1, section_name="A")),
        "section",
    )[0]
    b = of_type(
        await store_events(alice, client_event("section:my_task:add", 2, section_name="B")),
        "section",
    )[0]
    renamed = await store_events(
        alice,
        client_event("section:my_task:rename", 3, section_id=a["section_id"], section_name="A2"),
    )
    assert of_type(renamed, "request")[0]["status_code"] == 200
    assert of_type(renamed, "section")[0]["name"] == "A2"
    # B moves above A: between To Do (2**32) and A.
    moved = await store_events(
        alice,
        client_event(
            "section:my_task:set_position",
            4,
            section_id=b["section_id"],
            prev_section_id=sections["default"]["section_id"],
        ),
    )
    assert of_type(moved, "request")[0]["status_code"] == 200
    weight = of_type(moved, "section")[0]["weight"]
    assert a["weight"] < weight < 2**32
    deleted = await store_events(
        alice, client_event("section:my_task:delete", 5, section_id=a["section_id"])
    )
    assert of_type(deleted, "request")[0]["status_code"] == 200
    assert of_type(deleted, "section")[0]["is_deleted"] is True
    _, records, _ = await alice.initial_sync()
    names = {r["name"] for r in of_type(records, "section") if r["mk_section_type"] == MY_TASK}
    assert names == {"To Do", "Archived", "B"}
    gone, _ = await sync(alice, 6, a["section_id"])
    assert gone["status_code"] == 430
    for req, subtype in enumerate(("default", "archived"), start=7):
        refused = await store_events(
            alice,
            client_event("section:my_task:delete", req, section_id=sections[subtype]["section_id"]),
        )
        assert of_type(refused, "request")[0]["status_code"] == 400
    unknown = await store_events(
        alice, client_event("section:my_task:rename", 9, section_id=NOWHERE, section_name="x")
    )
    assert of_type(unknown, "request")[0]["status_code"] == 430
    nameless = await store_events(alice, client_event("section:my_task:add", 10, section_name="  "))
    assert of_type(nameless, "request")[0]["status_code"] == 400


async def test_my_board_records_decode_strictly_with_the_client_types(
    alice: RawUser, conv: str
) -> None:
    todo = (await my_sections(alice))["default"]["section_id"]
    await add_todo(alice, 1, conv, "decode me", alice.account_id)
    stream = await store_events(
        alice,
        client_event("section:my_task:add", 2, section_name="S"),
        client_event("section:my_task:sync", 3, section_id=todo),
    )
    kinds = {r["mk_rec_type"] for r in stream}
    assert {"request", "section", "message"} <= kinds
    for record in stream:
        assert not isinstance(parse_record(record, strict=True), UnknownRecord), record


async def test_the_client_decodes_my_sections_of_the_initial_poll() -> None:
    clock = iter(range(1_500_000_000, 2_000_000_000))
    fake = FakeFleep(hold_seconds=0.0, seed=3, clock=lambda: float(next(clock)))
    fake.create_account("alice@example.com", "pw-alice", "Alice")
    client = FleepClient(
        "alice@example.com",
        "pw-alice",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,
    )
    with anyio.fail_after(10):
        async with client:
            result = await ServiceHub(client).account.poll(event_horizon=0, wait=False)
    # The welcome dialog's task board has sections too: keep the personal ones.
    sections = [r for r in result.stream if isinstance(r, SectionRecord)]
    mine = [r for r in sections if r.mk_section_type == MY_TASK]
    assert sorted((r.name, r.mk_section_subtype) for r in mine) == [
        ("Archived", SUBTYPE + "archived"),
        ("To Do", SUBTYPE + "default"),
    ]
    assert mine[0].conversation_id is not None
    assert {r.conversation_id for r in mine} == {mine[0].conversation_id}
    assert not any(
        isinstance(r, MessageRecord) and (r.task_state or r.assigned_to_me_state)
        for r in result.stream
    )
