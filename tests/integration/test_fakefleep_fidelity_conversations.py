"""FakeFleep answers conversation, team and membership calls as the real server does (issue 12).

The facts come from the expectations of Fleep's public black-box server tests, restated here in
our own words and calls; each test is named after the real behaviour.
"""

from __future__ import annotations

import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, of_type

pytestmark = pytest.mark.asyncio


async def _messages(user: RawUser, conv: str) -> list[dict[str, object]]:
    synced = await user.call(f"conversation/sync/{conv}", {"from_message_nr": 0})
    return [m for m in of_type(synced["stream"], "message") if m["conversation_id"] == conv]


async def test_becoming_passive_posts_passive_v1_and_lists_the_member_as_passive(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    before = (await alice.call(f"conversation/sync/{conv}"))["header"]["last_message_nr"]
    answer = await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "passive"})
    header = answer["header"]
    assert header["mk_alert_level"] == "passive"
    assert header["passive"] == [alice.account_id]
    assert header["inactives"] == []
    assert header["snooze_interval"] == -3
    assert header["last_message_nr"] == header["read_message_nr"] == before + 1
    (msg,) = of_type(answer["stream"], "message")
    assert msg["mk_message_type"] == "passiveV1"
    assert msg["account_id"] == alice.account_id
    assert msg["message"] == (
        '{"sysmsg_text": "{author} left and became a passive member in this conversation and '
        'will not receive notifications unless @mentioned."}'
    )
    # A passive member is still a member: Bob sees the message and Alice in the members.
    seen = await _messages(bob, conv)
    assert seen[-1]["mk_message_type"] == "passiveV1"
    assert alice.account_id in (await bob.call(f"conversation/sync/{conv}"))["header"]["members"]


async def test_leaving_passive_posts_join_v1_and_moves_send_message_nr(
    alice: RawUser, conv: str
) -> None:
    await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "passive"})
    answer = await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "default"})
    header = answer["header"]
    (msg,) = of_type(answer["stream"], "message")
    assert msg["mk_message_type"] == "joinV1"
    assert msg["message"] == '{"sysmsg_text": "{author} joined the conversation."}'
    assert header["passive"] == []
    assert (header["mk_alert_level"], header["snooze_interval"]) == ("default", 0)
    assert header["send_message_nr"] == msg["message_nr"] == header["last_message_nr"]


async def test_setting_the_same_alert_level_again_posts_nothing(alice: RawUser, conv: str) -> None:
    await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "passive"})
    again = await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "passive"})
    assert of_type(again["stream"], "message") == []


async def test_creating_with_teams_links_each_team_by_a_message_of_its_own(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    one = await alice.call("team/create", {"team_name": "one", "account_ids": [bob.account_id]})
    two = await alice.call("team/create", {"team_name": "two", "account_ids": [carol.account_id]})
    team_ids = [one["stream"][0]["team_id"], two["stream"][0]["team_id"]]
    created = await alice.call("conversation/create", {"topic": "teams", "team_ids": team_ids})
    conv = created["header"]["conversation_id"]
    header = (await alice.call(f"conversation/sync/{conv}"))["header"]
    assert header["last_message_nr"] == header["read_message_nr"] == 3
    assert header["teams"] == team_ids
    assert header["members"] == [alice.account_id, bob.account_id, carol.account_id]
    kinds = [m["mk_message_type"] for m in await _messages(alice, conv)]
    assert kinds == ["create", "add_team", "add_team"]


async def test_adding_people_with_conversation_store_answers_their_activity(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    created = await alice.call("conversation/create", {"topic": "adds"})
    conv = created["header"]["conversation_id"]
    await alice.call(f"message/store/{conv}", {"message": "hello"})
    answer = await alice.call(
        f"conversation/store/{conv}",
        {"add_account_ids": [bob.account_id, carol.account_id]},
    )
    (added,) = of_type(answer["stream"], "message")
    activity = of_type(answer["stream"], "activity")
    assert [(a["account_id"], a["join_message_nr"]) for a in activity] == [
        (bob.account_id, added["message_nr"]),
        (carol.account_id, added["message_nr"]),
    ]


async def test_adding_and_disclosing_in_one_store_answers_one_activity_per_person(
    alice: RawUser, bob: RawUser
) -> None:
    created = await alice.call("conversation/create", {"topic": "both"})
    conv = created["header"]["conversation_id"]
    await alice.call(f"message/store/{conv}", {"message": "history"})
    answer = await alice.call(
        f"conversation/store/{conv}",
        {"add_account_ids": [bob.account_id], "disclose_account_ids": [bob.account_id]},
    )
    (activity,) = of_type(answer["stream"], "activity")
    assert (activity["account_id"], activity["join_message_nr"]) == (bob.account_id, 1)


async def test_linking_a_team_to_a_conversation_one_is_not_in_is_431(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    team = (await carol.call("team/create", {"team_name": "carols"}))["stream"][0]
    refused = await carol.raw(f"conversation/store/{conv}", {"add_team_ids": [team["team_id"]]})
    assert refused.status_code == 431
    assert team["team_id"] not in (await alice.call(f"conversation/sync/{conv}"))["header"]["teams"]


async def test_unlinking_a_team_the_conversation_does_not_have_is_431_and_changes_nothing(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    team = (await alice.call("team/create", {"team_name": "unlinked"}))["stream"][0]
    before = (await alice.call(f"conversation/sync/{conv}"))["header"]
    refused = await alice.raw(
        f"conversation/store/{conv}",
        {"topic": "renamed", "remove_team_ids": [team["team_id"]]},
    )
    assert refused.status_code == 431
    after = (await alice.call(f"conversation/sync/{conv}"))["header"]
    assert (after["topic"], after["last_message_nr"]) == (
        before["topic"],
        before["last_message_nr"],
    )


async def test_unlinking_a_team_from_a_conversation_one_never_joined_is_431(
    fake: FakeFleep, alice: RawUser, conv: str, login: LoginFn
) -> None:
    # Fleep's conv_team spec: a team member who was never in the conversation gets 431 for
    # ``remove_team_ids`` as for ``add_team_ids``, not the lookup's usual 430.
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    team = (await carol.call("team/create", {"team_name": "carols"}))["stream"][0]
    refused = await carol.raw(f"conversation/store/{conv}", {"remove_team_ids": [team["team_id"]]})
    assert refused.status_code == 431


async def test_the_leave_answer_header_keeps_guests(bob: RawUser, conv: str) -> None:
    # Two spec versions disagree; the newer one (read.spec.js) keeps ``guests``.
    answer = await bob.call(f"conversation/leave/{conv}")
    header = answer["header"]
    assert header["guests"] == []
    assert header["can_post"] is False
    assert "autojoin_url" not in header
    assert bob.account_id in header["leavers"]


async def test_an_untitled_conversation_of_one_is_a_monologue(alice: RawUser, bob: RawUser) -> None:
    header = (await alice.call("conversation/create", {}))["header"]
    assert header["topic"] == ""
    assert header["default_topic"] == "Monologue with myself"
    conv = header["conversation_id"]
    await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    assert "default_topic" not in (await alice.call(f"conversation/sync/{conv}"))["header"]


async def test_topic_search_finds_an_untitled_group_by_a_member_name_or_address(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol Chaplin")
    await login("carol@example.com", "pw")
    conv = (await alice.call("conversation/create", {}))["header"]["conversation_id"]
    await alice.call(
        f"conversation/add_members/{conv}",
        {"emails": "bob@example.com, carol@example.com, stranger@elsewhere.example"},
    )
    for keywords in ("Carol Chaplin", "stranger@elsewhere.example"):
        found = await alice.call("search", {"keywords": keywords, "search_types": ["topic"]})
        (header,) = found["headers"]
        assert header == {
            "conversation_id": conv,
            "members": (await alice.call(f"conversation/sync/{conv}"))["header"]["members"],
            "mk_rec_type": "conv",
            "topic": "",
        }
        assert (found["matches"], found["suggestions"]) == ([], None)


async def test_topic_search_does_not_find_a_two_person_chat_by_the_other_name(
    alice: RawUser, bob: RawUser
) -> None:
    conv = (await alice.call("conversation/create", {}))["header"]["conversation_id"]
    await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    found = await alice.call("search", {"keywords": "Bob Marley", "search_types": ["topic"]})
    assert found["headers"] == []


async def test_set_topic_answers_the_send_shape_with_member_lists_and_keeps_read_and_show(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    before = (await alice.call(f"conversation/sync/{conv}"))["header"]
    answer = await alice.call(f"conversation/set_topic/{conv}", {"topic": "testing"})
    header = answer["header"]
    assert answer["result_message_nr"] == header["last_message_nr"] == before["last_message_nr"] + 1
    assert header["topic"] == "testing"
    assert header["topic_message_nr"] == header["last_message_nr"]
    assert header["members"] == [alice.account_id, bob.account_id]
    assert (header["leavers"], header["default_members"]) == ([], [])
    for absent in ("guests", "autojoin_url", "cmail", "is_full", "mk_init_mode"):
        assert absent not in header
    # A topic change is neither shown in the conversation list nor read for its author.
    assert header["read_message_nr"] == before["read_message_nr"]
    assert header["show_message_nr"] == before["show_message_nr"]
    sent = await alice.call(f"message/send/{conv}", {"message": "after"})
    assert sent["header"]["show_message_nr"] == sent["header"]["last_message_nr"]
    (text,) = [m for m in sent["stream"] if m.get("mk_message_type") == "text"]
    assert text["prev_message_nr"] == header["last_message_nr"]
