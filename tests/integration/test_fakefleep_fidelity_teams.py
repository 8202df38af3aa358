"""FakeFleep links teams to conversations and discloses to them as the real server does.

Facts from Fleep's public server tests, restated in our own words: disclosing a conversation's
history to a team posts one ``discloseV2`` system message (the people named directly under
``members``, the teams by ``team_ids`` and ``team_names``, the sentence template in
``sysmsg_text``, the first disclosed message in ``ref_message_nr``); disclosing to people alone
keeps the ``disclose`` message; adding a team is one message; a ``conversation/store`` with
people, teams and disclosures adds the people, then the teams, then discloses once. Its answer
leaves the team-link message out (the poll brings it) and carries an ``activity`` record with
the new join position of each person named in a disclosure. Every member of a team has a
``team_label`` system label on the team's conversations.
"""

from __future__ import annotations

import json

import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, Record, of_type

pytestmark = pytest.mark.asyncio


async def user(fake: FakeFleep, login: LoginFn, name: str) -> RawUser:
    """Another account, logged in."""
    email = f"{name.lower()}@example.com"
    fake.create_account(email, "pw", name)
    return await login(email, "pw")


TEMPLATE = (
    "{author} disclosed previous messages to {teamsAndMembers} starting from {disclose_time}."
)


def system(records: list[Record]) -> list[tuple[str, dict[str, object], Record]]:
    """(type, decoded body, record) of each system message, in message order."""
    msgs = sorted(of_type(records, "message"), key=lambda r: r["message_nr"])
    return [
        (m["mk_message_type"], json.loads(m["message"]), m)
        for m in msgs
        if m["mk_message_state"].endswith(":system")
    ]


async def test_disclosing_to_a_team_posts_one_disclose_v2_message(
    fake: FakeFleep, alice: RawUser, login: LoginFn
) -> None:
    carol = await user(fake, login, "Carol")
    dave = await user(fake, login, "Dave")
    conv = (await alice.call("conversation/create", {"topic": "history"}))["header"]
    cid = conv["conversation_id"]
    await alice.call(f"message/store/{cid}", {"message": "before the team"})
    team = (
        await alice.call(
            "team/create", {"team_name": "reviewers", "account_ids": [carol.account_id]}
        )
    )["stream"][0]
    answer = await alice.call(
        f"conversation/disclose/{cid}",
        {"team_ids": [team["team_id"]], "account_ids": [dave.account_id], "message_nr": 2},
    )
    (kind, body, msg), *rest = system(answer["stream"])
    assert rest == []
    assert kind == "discloseV2"
    assert body == {
        "members": [dave.account_id],
        "team_ids": [team["team_id"]],
        "team_names": ["reviewers"],
        "sysmsg_text": TEMPLATE,
    }
    assert msg["ref_message_nr"] == 1
    # The team's members (and the person named) now read the history from the start.
    synced = await carol.call(f"conversation/sync/{cid}")
    texts = [m["message"] for m in of_type(synced["stream"], "message")]
    assert "<msg><p>before the team</p></msg>" in texts


async def test_disclosing_to_people_only_keeps_the_disclose_message(
    alice: RawUser, bob: RawUser
) -> None:
    cid = (await alice.call("conversation/create", {"topic": "plain"}))["header"]["conversation_id"]
    await alice.call(f"message/store/{cid}", {"message": "hi"})
    answer = await alice.call(f"conversation/disclose_all/{cid}", {"account_ids": [bob.account_id]})
    [(kind, body, msg)] = system(answer["stream"])
    assert (kind, body) == ("disclose", {"members": [bob.account_id]})
    assert msg.get("ref_message_nr") is None


async def test_adding_a_team_is_one_message(
    fake: FakeFleep, alice: RawUser, login: LoginFn
) -> None:
    carol = await user(fake, login, "Carol")
    cid = (await alice.call("conversation/create", {"topic": "t"}))["header"]["conversation_id"]
    await alice.call(f"message/store/{cid}", {"message": "one"})
    team = (
        await alice.call("team/create", {"team_name": "crew", "account_ids": [carol.account_id]})
    )["stream"][0]
    before = (await alice.call(f"conversation/sync/{cid}"))["header"]["last_message_nr"]
    stored = await alice.call(f"conversation/store/{cid}", {"add_team_ids": [team["team_id"]]})
    assert stored["header"]["last_message_nr"] == before + 1
    assert carol.account_id in stored["header"]["members"]


async def test_store_adds_people_then_teams_then_discloses_once(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    carol = await user(fake, login, "Carol")
    cid = (await alice.call("conversation/create", {"topic": "t"}))["header"]["conversation_id"]
    for text in ("m1", "m2", "m3"):
        await alice.call(f"message/store/{cid}", {"message": text})
    team = (
        await alice.call("team/create", {"team_name": "crew", "account_ids": [carol.account_id]})
    )["stream"][0]
    stored = await alice.call(
        f"conversation/store/{cid}",
        {
            "add_account_ids": [bob.account_id],
            "add_team_ids": [team["team_id"]],
            "disclose_account_ids": [bob.account_id],
            "disclose_team_ids": [team["team_id"]],
        },
    )
    synced = await alice.call(f"conversation/sync/{cid}", {"mk_direction": "ic_backward"})
    kinds = [(m["message_nr"], kind) for kind, _, m in system(synced["stream"])]
    assert kinds[-3:] == [(5, "add"), (6, "add_team"), (7, "discloseV2")]
    assert stored["header"]["last_message_nr"] == 7
    disclosure = system(synced["stream"])[-1][1]
    assert disclosure["members"] == [bob.account_id]
    assert disclosure["team_ids"] == [team["team_id"]]
    # The answer leaves the team-link message to the poll and tells where the person named now
    # joins the history.
    assert [m["message_nr"] for m in of_type(stored["stream"], "message")] == [5, 7]
    [shown] = of_type(stored["stream"], "activity")
    assert (shown["account_id"], shown["join_message_nr"]) == (bob.account_id, 1)


async def test_adding_a_team_answers_no_message_the_poll_brings_it(
    fake: FakeFleep, alice: RawUser, login: LoginFn
) -> None:
    carol = await user(fake, login, "Carol")
    cid = (await alice.call("conversation/create", {"topic": "t"}))["header"]["conversation_id"]
    horizon, _, _ = await alice.initial_sync()
    team = (
        await alice.call("team/create", {"team_name": "crew", "account_ids": [carol.account_id]})
    )["stream"][0]
    stored = await alice.call(f"conversation/store/{cid}", {"add_team_ids": [team["team_id"]]})
    assert of_type(stored["stream"], "message") == []
    _, polled = await alice.drain(horizon)
    kinds = [m["mk_message_type"] for m in of_type(polled, "message")]
    assert "add_team" in kinds


async def test_team_members_get_a_team_label_on_the_teams_conversations(
    fake: FakeFleep, alice: RawUser, login: LoginFn
) -> None:
    carol = await user(fake, login, "Carol")
    created = await alice.call("team/create", {"team_name": "crew"})
    team = created["stream"][0]
    assert of_type(created["stream"], "label") == []  # the label travels through the poll
    cid = (await alice.call("conversation/create", {"topic": "t"}))["header"]["conversation_id"]
    stored = await alice.call(f"conversation/store/{cid}", {"add_team_ids": [team["team_id"]]})
    await alice.call(f"team/configure/{team['team_id']}", {"add_account_ids": [carol.account_id]})
    for member, header in (
        (alice, stored["header"]),
        (carol, (await carol.call(f"conversation/sync/{cid}"))["header"]),
    ):
        labels = of_type((await member.initial_sync())[1], "label")
        [team_label] = [x for x in labels if x.get("team_id") == team["team_id"]]
        assert team_label["label"] == "crew"
        assert (team_label["mk_label_type"], team_label["mk_label_subtype"]) == (
            "system_label",
            "team_label",
        )
        assert team_label["is_on_left_pane"] is False
        assert team_label["label_id"] in header["label_ids"]
