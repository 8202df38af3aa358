"""FakeFleep changes teams and their conversations as the real server does (issue 12).

Facts from Fleep's public server tests (``team_basic``), restated in our own words: each kind
of team change, and each conversation linked, moves ``team_version_nr`` by one; people taken out
of a team leave its conversations; deleting a team takes its label off the conversations and
removes, in one message, those who were there through it alone; a removed member's header is a
reset (``is_reset``) without the conversation's teams; ``account/sync_teams`` lists the teams.
"""

from __future__ import annotations

import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, of_type

pytestmark = pytest.mark.asyncio


async def _user(fake: FakeFleep, login: LoginFn, name: str) -> RawUser:
    email = f"{name.lower()}@example.com"
    fake.create_account(email, "pw", name)
    return await login(email, "pw")


async def _team(owner: RawUser, name: str, *members: RawUser) -> str:
    answer = await owner.call(
        "team/create", {"team_name": name, "account_ids": [m.account_id for m in members]}
    )
    return str(answer["stream"][0]["team_id"])


async def _header(user: RawUser, conv: str) -> dict[str, object]:
    """The last header of ``conv`` in the user's whole event log."""
    _, records = await user.drain(0)
    headers = [r for r in of_type(records, "conv") if r["conversation_id"] == conv]
    return headers[-1]


async def test_account_sync_teams_lists_the_live_teams_one_is_in(
    alice: RawUser, bob: RawUser
) -> None:
    mine = await _team(alice, "mine")
    theirs = await _team(bob, "theirs")
    gone = await _team(alice, "gone")
    await alice.call(f"team/remove/{gone}")
    listed = await alice.call("account/sync_teams")
    assert [t["team_id"] for t in listed["stream"]] == [mine]
    assert theirs not in [t["team_id"] for t in listed["stream"]]


async def test_each_kind_of_team_change_and_each_linked_conversation_is_a_version(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    carol = await _user(fake, login, "Carol")
    team = await _team(alice, "actors", carol)
    conv = await alice.call("conversation/create", {"topic": "t", "team_ids": [team]})
    header = conv["header"]
    assert header["mk_conv_type"] == "cct_no_mail"  # a conversation made for teams sends no mail
    two = await alice.call(f"team/configure/{team}", {"is_autojoin": True})
    assert two["stream"][0]["team_version_nr"] == 3  # 1 create, 2 linked, 3 autojoin
    both = await alice.call(
        f"team/configure/{team}",
        {"remove_account_ids": [carol.account_id], "is_autojoin": False},
    )
    assert both["stream"][0]["team_version_nr"] == 5
    same = await alice.call(f"team/configure/{team}", {"is_autojoin": False})
    assert same["stream"][0]["team_version_nr"] == 5  # nothing changed


async def test_people_taken_out_of_a_team_leave_its_conversations(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    carol = await _user(fake, login, "Carol")
    actors = await _team(alice, "actors", bob, carol)
    singers = await _team(alice, "singers", carol)
    conv = (await alice.call("conversation/create", {"topic": "t", "team_ids": [actors, singers]}))[
        "header"
    ]["conversation_id"]
    await alice.call(
        f"team/configure/{actors}",
        {"remove_account_ids": [bob.account_id, carol.account_id]},
    )
    header = (await alice.call(f"conversation/sync/{conv}"))["header"]
    # Bob was there through actors alone; singers keeps Carol in.
    assert header["leavers"] == [bob.account_id]
    assert carol.account_id in header["members"]
    (kick,) = [
        m
        for m in (await alice.call(f"conversation/sync/{conv}", {"from_message_nr": 0}))["stream"]
        if m.get("mk_message_type") == "kick"
    ]
    assert kick["account_id"] == alice.account_id


async def test_a_removed_member_gets_a_reset_header_without_the_teams(
    alice: RawUser, bob: RawUser
) -> None:
    team = await _team(alice, "actors", bob)
    conv = (await alice.call("conversation/create", {"topic": "t", "team_ids": [team]}))["header"][
        "conversation_id"
    ]
    joined = await _header(bob, conv)
    assert joined["teams"] == [team]
    assert joined["label_ids"]
    await alice.call(f"team/configure/{team}", {"remove_account_ids": [bob.account_id]})
    header = await _header(bob, conv)
    assert header["is_reset"] is True
    assert header["can_post"] is False
    assert (header["teams"], header["label_ids"]) == ([], [])
    assert header["inbox_message_nr"] >= header["join_message_nr"]


async def test_leaving_is_not_a_reset(alice: RawUser, bob: RawUser, conv: str) -> None:
    await bob.call(f"conversation/leave/{conv}")
    assert "is_reset" not in await _header(bob, conv)


async def test_deleting_a_team_removes_its_label_and_the_people_there_through_it_alone(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    carol = await _user(fake, login, "Carol")
    actors = await _team(alice, "actors", bob, carol)
    singers = await _team(alice, "singers", carol)
    conv = (await alice.call("conversation/create", {"topic": "t", "team_ids": [actors, singers]}))[
        "header"
    ]["conversation_id"]
    before = (await alice.call(f"conversation/sync/{conv}"))["header"]
    assert len(before["label_ids"]) == 2
    await alice.call(f"team/remove/{actors}")
    header = (await alice.call(f"conversation/sync/{conv}"))["header"]
    assert header["last_message_nr"] == before["last_message_nr"] + 1  # one message
    assert header["leavers"] == [bob.account_id]
    assert header["teams"] == [singers]
    assert len(header["label_ids"]) == 1
    assert "labels" not in header  # team labels are not named in ``labels``
    last = (await alice.call(f"conversation/sync/{conv}", {"from_message_nr": 0}))["stream"][-1]
    assert last["mk_message_type"] == "kick_team"


# What the poll brings the actor of a team change or a ``conversation/store`` (Fleep's
# ``team_basic`` and ``members`` specs): the counters, the identity, the member lists, ``guests``.
ACTOR_HEADER_KEYS = {
    "mk_rec_type", "conversation_id", "profile_id", "admins", "can_post", "creator_id",
    "default_members", "export_files", "export_progress", "guests", "has_email_subject",
    "has_pinboard", "has_task_archive", "has_taskboard", "inbox_message_nr", "inbox_time",
    "is_automute", "is_list", "is_managed", "is_mark_unread", "is_premium", "join_message_nr",
    "label_ids", "last_inbox_nr", "last_message_nr", "last_message_time", "leavers", "members",
    "mk_alert_level", "mk_conv_type", "organisation_id", "read_message_nr", "send_message_nr",
    "show_message_nr", "snooze_interval", "snooze_time", "teams", "topic", "topic_message_nr",
    "unread_count", "inactives",
}  # fmt: skip


async def _horizons(*users: RawUser) -> list[int]:
    """Each user's event horizon now (the initial sync drained)."""
    return [(await user.drain(0))[0] for user in users]


async def _new_header(user: RawUser, conv: str, horizon: int) -> dict[str, object]:
    """The last header of ``conv`` the poll brought the user after ``horizon``."""
    _, records = await user.drain(horizon)
    headers = [r for r in of_type(records, "conv") if r["conversation_id"] == conv]
    assert headers, "the poll brought no header"
    return headers[-1]


async def test_linking_a_team_brings_its_actor_a_partial_header_and_the_others_a_full_one(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    team = await _team(alice, "actors", bob)
    horizons = await _horizons(alice, bob)
    await alice.call(f"team/configure/{team}", {"add_conversations": [conv]})
    mine = await _new_header(alice, conv, horizons[0])
    assert set(mine) == ACTOR_HEADER_KEYS
    assert mine["teams"] == [team]
    assert mine["label_ids"]  # the team label, on the conversation
    assert (mine["members"], mine["guests"]) == ([alice.account_id, bob.account_id], [])
    theirs = await _new_header(bob, conv, horizons[1])
    assert theirs["mk_init_mode"] == "ic_full"
    assert theirs["teams"] == [team]


async def test_deleting_a_team_brings_its_actor_a_partial_header(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    team = await _team(alice, "actors", bob)
    await alice.call(f"team/configure/{team}", {"add_conversations": [conv]})
    (horizon,) = await _horizons(alice)
    await alice.call(f"team/remove/{team}")
    mine = await _new_header(alice, conv, horizon)
    assert set(mine) == ACTOR_HEADER_KEYS
    assert (mine["teams"], mine["label_ids"]) == ([], [])


async def test_conversation_store_brings_its_actor_a_partial_header(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizons = await _horizons(alice, bob)
    await alice.call(f"conversation/store/{conv}", {"topic": "renamed"})
    mine = await _new_header(alice, conv, horizons[0])
    assert set(mine) - {"is_mark_unread"} == ACTOR_HEADER_KEYS - {"is_mark_unread"}
    assert mine["topic"] == "renamed"
    theirs = await _new_header(bob, conv, horizons[1])
    assert theirs["mk_init_mode"] == "ic_full"
    assert theirs["topic"] == "renamed"
