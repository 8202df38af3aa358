"""Multi-step flows: registration and resets through the fake outbox, aliases, membership,
teams, labels, search, listen, and the test helpers bot authors use."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from fleep_async.testing._http.errors import ApiError
from fleep_async.testing.helpers import RawCallError
from tests.integration.conftest import LoginFn, of_type

pytestmark = pytest.mark.asyncio


async def test_register_then_confirm_from_the_outbox_logs_in(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    body = {"email": "new@example.com", "display_name": "Newbie", "password": "pw1"}
    assert (await http.post("/api/account/register", json=body)).status_code == 200
    mail = fake.outbox[-1]
    assert (mail.to, mail.kind) == ("new@example.com", "register")
    with pytest.raises(RawCallError):
        await RawUser.login(http, "new@example.com", "pw1")  # not confirmed yet
    confirmed = await http.post(
        "/api/account/confirm", json={"notification_id": mail.notification_id}
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["display_name"] == "Newbie"
    assert "token_id" in confirmed.cookies
    again = await http.post("/api/account/confirm", json={"notification_id": mail.notification_id})
    assert again.status_code == 431  # one use only
    user = await RawUser.login(http, "new@example.com", "pw1")
    assert user.display_name == "Newbie"
    duplicate = await http.post("/api/account/register", json=body)
    assert duplicate.status_code == 431


async def test_invited_stranger_registers_with_a_code_and_keeps_the_conversation(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser
) -> None:
    created = await alice.call(
        "conversation/create",
        {"topic": "welcome", "emails": "Dana <dana@example.com>", "is_invite": True},
    )
    conv = created["header"]["conversation_id"]
    invite = fake.outbox[-1]
    assert (invite.to, invite.kind) == ("dana@example.com", "invite")
    await alice.call(f"message/send/{conv}", {"message": "before you joined"})
    prepared = await http.post(
        "/api/account/prepare/v2",
        json={
            "registration_code": invite.registration_code,
            "registration_mail": "dana@example.com",
        },
    )
    assert prepared.json()["notification_id"] == invite.notification_id
    confirmed = await http.post(
        "/api/account/confirm/v2",
        json={
            "notification_id": invite.notification_id,
            "display_name": "Dana",
            "password": "pw",
            "fleep_address": "dana.d",
            "phone_nr": "+3725550000",
        },
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["phone_nr"] == "+3725550000"
    dana = await RawUser.login(http, "dana.d", "pw")
    _, records, _ = await dana.initial_sync()
    texts = [m["message"] for m in of_type(records, "message") if m["conversation_id"] == conv]
    assert "<msg><p>before you joined</p></msg>" in texts
    # A new user's own contact: hourly notification mails; no newsletter flag it did not set.
    (own,) = [c for c in of_type(records, "contact") if c["account_id"] == dana.account_id]
    assert own["mk_email_interval"] == "hourly"
    assert "is_newsletter_disabled" not in own


async def test_a_newsletter_flag_given_at_confirm_is_on_the_new_users_contact(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    body = {"email": "erik@example.com", "display_name": "Erik", "password": "pw", "use_code": True}
    assert (await http.post("/api/account/register", json=body)).status_code == 200
    mail = fake.outbox[-1]
    prepared = await http.post(
        "/api/account/prepare/v2",
        json={"registration_code": mail.registration_code, "registration_mail": mail.to},
    )
    confirmed = await http.post(
        "/api/account/confirm/v2",
        json={
            "notification_id": prepared.json()["notification_id"],
            "display_name": "Erik",
            "password": "pw",
            "is_newsletter_disabled": True,
        },
    )
    assert confirmed.status_code == 200
    erik = await RawUser.login(http, "erik@example.com", "pw")
    _, records, _ = await erik.initial_sync()
    (own,) = [c for c in of_type(records, "contact") if c["account_id"] == erik.account_id]
    assert own["is_newsletter_disabled"] is True


async def test_password_reset_mail_velocity_and_completion_closes_sessions(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser
) -> None:
    unknown = await http.post("/api/account/reset_password", json={"email": "who@example.com"})
    assert unknown.status_code == 431
    # Fleep's password spec: five resets of one address within the hour are too many.
    for _ in range(4):
        ok = await http.post("/api/account/reset_password", json={"email": "alice@example.com"})
        assert ok.status_code == 200
    too_many = await http.post("/api/account/reset_password", json={"email": "alice@example.com"})
    assert (too_many.status_code, too_many.json()["error_id"]) == (431, "velocity")
    mail = fake.outbox[-1]
    assert mail.kind == "reset_password"
    # The reset mail's link is confirmed with account/confirm_password (no session needed).
    confirmed = await http.post(
        "/api/account/confirm_password",
        json={"notification_id": mail.notification_id, "password": "new-pw"},
    )
    assert confirmed.status_code == 200
    assert (await alice.raw("account/sync")).status_code == 401
    used = await http.post(
        "/api/account/confirm_password",
        json={"notification_id": mail.notification_id, "password": "other"},
    )
    assert used.status_code == 431
    with pytest.raises(RawCallError):
        await RawUser.login(http, "alice@example.com", "pw")
    await RawUser.login(http, "alice@example.com", "new-pw")


async def test_alias_confirmation_then_primary_email_and_login_by_alias(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser
) -> None:
    added = await alice.call("alias/add", {"emails": "alice@work.example"})
    # The answer is the own contact; an unconfirmed alias is not one of its aliases yet.
    (own,) = added["stream"]
    assert (own["account_id"], own["email"]) == (alice.account_id, "alice@example.com")
    assert "alias_account_ids" not in own
    too_early = await alice.raw(
        "account/configure_primary_email", {"primary_email": "alice@work.example"}
    )
    assert too_early.status_code == 431
    mail = fake.outbox[-1]
    assert mail.kind == "alias_confirm"
    assert (
        await http.post("/api/alias/confirm", json={"notification_id": mail.notification_id})
    ).status_code == 200
    await RawUser.login(http, "alice@work.example", "pw")
    await alice.call("account/configure_primary_email", {"primary_email": "alice@work.example"})
    assert (await alice.call("account/sync"))["email"] == "alice@work.example"


async def test_membership_changes_post_system_messages_and_update_headers(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    # Past the create message, adding members posts an ``add`` message (right after creating,
    # the create message itself is edited instead: see test_fakefleep_fidelity.py).
    await alice.call(f"message/send/{conv}", {"message": "before carol"})
    added = await alice.call(f"conversation/add_members/{conv}", {"emails": "carol@example.com"})
    add = next(m for m in added["stream"] if m["mk_message_type"] == "add")
    assert json.loads(add["message"]) == {"members": [carol.account_id]}
    assert carol.account_id in fake.header(conv, alice.account_id)["members"]
    _, carol_records, _ = await carol.initial_sync()
    carol_header = next(h for h in of_type(carol_records, "conv") if h["conversation_id"] == conv)
    assert carol_header["join_message_nr"] == add["message_nr"]
    topic = await carol.call(f"conversation/set_topic/{conv}", {"topic": "renamed"})
    assert topic["header"]["topic"] == "renamed"
    kicked = await alice.call(
        f"conversation/remove_members/{conv}", {"emails": "carol@example.com"}
    )
    assert kicked["header"]["last_message_nr"] == kicked["result_message_nr"]
    assert carol.account_id in fake.header(conv, alice.account_id)["leavers"]
    assert (await carol.raw(f"message/send/{conv}", {"message": "x"})).status_code == 431

    hidden = await bob.call(f"conversation/hide/{conv}")
    assert hidden["header"]["hide_message_nr"] == hidden["header"]["last_message_nr"]
    horizon, _ = await bob.drain(1)
    await alice.call(f"message/send/{conv}", {"message": "comes back"})
    revived = list(of_type((await bob.poll(horizon))["stream"], "conv"))[-1]
    assert "hide_message_nr" not in revived
    assert revived["is_init"] is True

    autojoin = await alice.call("conversation/create", {"topic": "open", "is_autojoin": True})
    header = autojoin["header"]
    joined = await carol.call("conversation/autojoin", {"conv_url_key": header["autojoin_url"]})
    assert carol.account_id in joined["header"]["members"]
    closed = await alice.call("conversation/create", {"topic": "closed"})
    refused = await carol.raw(
        "conversation/autojoin", {"conv_url_key": closed["header"]["conversation_id"]}
    )
    assert refused.status_code == 431


async def test_teams_bring_their_members_into_linked_conversations(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    team = (await alice.call("team/create", {"team_name": "Core", "emails": "bob@example.com"}))[
        "stream"
    ][0]
    assert set(team["members"]) == {alice.account_id, bob.account_id}
    conv = (await alice.call("conversation/create", {"topic": "t", "team_ids": [team["team_id"]]}))[
        "header"
    ]
    assert bob.account_id in conv["members"]
    assert conv["teams"] == [team["team_id"]]
    configured = await alice.call(
        f"team/configure/{team['team_id']}", {"add_account_ids": [carol.account_id]}
    )
    # Linking the team to the conversation was version 2 (as on the real server).
    assert configured["stream"][0]["team_version_nr"] == 3
    header = await carol.call(
        f"conversation/sync/{conv['conversation_id']}", {"mk_direction": "ic_header"}
    )
    assert carol.account_id in header["header"]["members"]
    synced = await carol.call(f"team/sync/{team['team_id']}")
    assert synced["team_name"] == "Core"
    removed = await alice.call(f"team/remove/{team['team_id']}")
    assert removed["stream"][0]["is_deleted"] is True


async def test_labels_search_listen_and_legacy_list(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    await alice.call(f"message/send/{conv}", {"message": "the quick brown fox"})
    await alice.call(f"message/send/{conv}", {"message": "lazy dog"})
    stored = await bob.call(f"conversation/store/{conv}", {"labels": ["Important"]})
    label_id = stored["header"]["label_ids"][0]
    assert stored["header"]["labels"] == ["Important"]
    by_label = await bob.call("label/sync_conversations", {"label_id": label_id})
    # As the real server: the other members' contacts, then the label, headers, messages.
    assert [r["mk_rec_type"] for r in by_label["stream"]] == ["contact", "label", "conv", "message"]
    assert [h["conversation_id"] for h in of_type(by_label["stream"], "conv")] == [conv]

    found = await bob.call("search", {"keywords": "QUICK fox"})
    assert [m["message_nr"] for m in found["matches"]] == [2]
    assert found["matches"][0]["marked_text"] == "the <mark>quick</mark> brown <mark>fox</mark>"
    assert found["headers"][0]["conversation_id"] == conv
    assert (await bob.call("search/suggest", {"keywords": "la"}))["suggestions"] == ["lazy"]

    horizon = (await bob.call("account/listen", {"event_horizon": 0}))["event_horizon"]
    await alice.call(f"message/send/{conv}", {"message": "ping"})
    heard = await bob.call("account/listen", {"event_horizon": horizon, "wait": True})
    assert [m["message"] for m in heard["messages"]] == ["<msg><p>ping</p></msg>"]
    assert heard["messages"][0]["author_name"] == "Alice Adamson"

    page = await bob.call("conversation/list", {"sync_horizon": 0})
    listed = [c["conversation_id"] for c in page["conversations"]]
    assert conv in listed
    assert len(listed) == 2  # and Bob's Fleep Support dialog
    assert (await bob.call("conversation/list", {"sync_horizon": page["sync_horizon"]}))[
        "conversations"
    ] == []


async def test_helpers_post_as_wait_for_and_parked_count(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    conv = fake.create_conversation(human, "support", [bot])
    user = await RawUser.login(http, "bot@example.com", "pw")
    horizon, _ = await user.drain(1)
    got: list[dict[str, object]] = []

    async def bot_poll() -> None:
        got.append(await user.poll(horizon, wait=True))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bot_poll)
            await fake.wait_for(lambda: fake.parked_polls == 1)
            nr = await fake.post_as(human, conv, "help *please*")
    messages = of_type(got[0]["stream"], "message")  # type: ignore[arg-type]
    assert (messages[0]["message_nr"], messages[0]["account_id"]) == (nr, human.account_id)
    assert (
        fake.messages(conv)[-1]["message"] == '<msg><p>help <b flp="*" fls="*">please</b></p></msg>'
    )
    with pytest.raises(TimeoutError):
        await fake.wait_for(lambda: False, timeout=0.05)
    stranger = fake.create_account("x@example.com", "pw", "X")
    with pytest.raises(ApiError) as refused:
        await fake.post_as(stranger, conv, "not a member")
    assert refused.value.status == 430
    url = fake.create_hook(human, conv, "Alerts")
    assert (
        await http.post(url.removeprefix(fake.base_url), json={"message": "alert"})
    ).status_code == 200
    assert fake.messages(conv)[-1]["hook_key"]


async def test_release_polls_answers_parked_polls_even_when_reopened_at_once() -> None:
    slow = FakeFleep(hold_seconds=60.0)  # only the release can answer within the test's bound
    slow.create_account("a@example.com", "pw", "A")
    async with slow.http_client() as http:
        user = await RawUser.login(http, "a@example.com", "pw")
        horizon = slow.horizon("a@example.com")
        answers: list[dict[str, object]] = []

        async def parked() -> None:
            answers.append(await user.poll(horizon, wait=True))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(parked)
                await slow.wait_for(lambda: slow.parked_polls == 1)
                slow.release_polls()
                slow.reopen()
    assert answers == [
        {"event_horizon": horizon, "stream": [], "limit_time": 0, "static_version": "fakefleep-1"}
    ]


async def test_a_stranger_looking_up_a_fleep_address_sees_the_public_profile_only(
    fake: FakeFleep, alice: RawUser
) -> None:
    erik = fake.create_account("erik@example.com", "pw", "Erik", fleep_address="erik.e")
    by_address = await alice.call("account/lookup", {"lookup_list": ["erik.e@fleep.io"]})
    # As Fleep's account_configure spec shows: no email, activity or dialog for a stranger.
    assert by_address["stream"] == [
        {
            "mk_rec_type": "contact",
            "account_id": erik.account_id,
            "display_name": "Erik",
            "fleep_address": "erik.e",
            "avatar_urls": None,
            "is_in_org": False,
            "mk_account_status": "active",
        }
    ]
    # Whoever types the email already knows it: the contact comes whole.
    (by_email,) = (await alice.call("account/lookup", {"lookup_list": ["erik@example.com"]}))[
        "stream"
    ]
    assert by_email["email"] == "erik@example.com"
