"""FakeFleep answers as the real server does in Fleep's own black-box server tests (issue 12).

Each test is named after the real behaviour it pins down; the facts come from the expectations
of Fleep's public server test suite, restated here in our own words and calls.
"""

from __future__ import annotations

import json

import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, Record, of_type

pytestmark = pytest.mark.asyncio


def by_nr(records: list[Record], conversation_id: str, message_nr: int) -> Record:
    """The message record with this number in this conversation."""
    return next(
        r
        for r in of_type(records, "message")
        if (r["conversation_id"], r["message_nr"]) == (conversation_id, message_nr)
    )


def label_id(records: list[Record], name: str) -> str:
    """The id of the label called ``name``."""
    return str(next(r for r in of_type(records, "label") if r["label"] == name)["label_id"])


# ------------------------------------------------------------------ identity and contacts


async def test_new_account_has_fleep_support_contact_and_conversation(alice: RawUser) -> None:
    _, records, _ = await alice.initial_sync()
    support = next(c for c in of_type(records, "contact") if c["display_name"] == "Fleep Support")
    dialog = next(h for h in of_type(records, "conv") if h.get("default_topic"))
    assert support["is_hidden_for_add"] is True
    assert support["dialog_id"] == dialog["conversation_id"]
    assert dialog["default_topic"] == "Fleep Support"
    assert dialog["topic"] == ""
    assert dialog["members"] == [support["account_id"], alice.account_id]
    assert dialog["default_members"] == [support["account_id"]]
    assert (dialog["unread_count"], dialog["read_message_nr"], dialog["last_inbox_nr"]) == (1, 0, 1)
    assert "send_message_nr" not in dialog
    assert "is_mark_unread" not in dialog
    welcome = by_nr(records, dialog["conversation_id"], 2)
    assert welcome["account_id"] == support["account_id"]
    assert welcome["message"].startswith("<msg><p>Hi there,</p>")
    assert welcome["inbox_nr"] == 1
    listed = await alice.call("contact/sync/all")
    assert [c["display_name"] for c in listed["contacts"]] == ["Fleep Support"]


async def test_fleep_address_at_the_fleep_domain_reaches_the_account(
    fake: FakeFleep, alice: RawUser
) -> None:
    carol = fake.create_account("carol@example.com", "pw", "Carol", fleep_address="carol.c")
    created = await alice.call("conversation/create", {"topic": "t", "emails": "carol.c@fleep.io"})
    assert created["header"]["members"] == [alice.account_id, carol.account_id]
    assert fake.world.find_account("carol@example.com") is not None
    # No placeholder account was made for the address.
    assert fake.world.find_account("carol.c@fleep.io") is fake.world.accounts[carol.account_id]


async def test_fleep_autogen_differs_from_a_chosen_fleep_address(
    fake: FakeFleep, login: LoginFn
) -> None:
    fake.create_account("dora@example.com", "pw", "Dora", fleep_address="dora.chosen")
    dora = await login("dora@example.com")
    _, records, _ = await dora.initial_sync()
    contact = next(c for c in of_type(records, "contact") if c["account_id"] == dora.account_id)
    assert contact["fleep_address"] == "dora.chosen"
    assert contact["fleep_autogen"] not in (None, "dora.chosen")


async def test_own_contact_carries_only_the_settings_the_account_changed(
    alice: RawUser,
) -> None:
    _, records, _ = await alice.initial_sync()
    own = next(c for c in of_type(records, "contact") if c["account_id"] == alice.account_id)
    assert own["client_flags"] == ["emoticons_old", "show_onboarding"]
    for absent in ("is_full_privacy", "is_newsletter_disabled"):
        assert absent not in own
    # The newest account_configure, alias and organisation specs count the storage in every
    # own record (older versions of them did not); the quota comes with contact/sync only.
    assert own["storage_used_bytes"] == 0
    assert "storage_quota_bytes" not in own
    await alice.call("account/configure", {"is_full_privacy": False})
    _, later = await alice.drain(0)
    latest = [c for c in of_type(later, "contact") if c["account_id"] == alice.account_id][-1]
    assert latest["is_full_privacy"] is False


async def test_others_see_a_contacts_phone_number(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon = (await bob.call("account/sync"))["event_horizon"]
    await alice.call("account/configure", {"phone_nr": "12345"})
    _, records = await bob.drain(horizon)
    seen = [c for c in of_type(records, "contact") if c["account_id"] == alice.account_id]
    assert seen[-1]["phone_nr"] == "12345"


# ------------------------------------------------------------------ answer shapes


async def test_create_with_account_ids_leaves_default_members_empty(
    alice: RawUser, bob: RawUser
) -> None:
    created = await alice.call(
        "conversation/create", {"topic": "ids", "account_ids": [bob.account_id]}
    )
    header = created["header"]
    assert header["default_members"] == []
    assert header["members"] == [alice.account_id, bob.account_id]
    assert "result_message_nr" not in created
    for gone in ("passive", "pending", "read_inbox_nr", "has_done_notifications", "is_muted"):
        assert gone not in header


async def test_message_send_and_store_answer_the_counters_alone(alice: RawUser, conv: str) -> None:
    # The newest main and read specs: both answer the lean header, ``inactives`` included.
    sent = (await alice.call(f"message/send/{conv}", {"message": "a"}))["header"]
    stored = (await alice.call(f"message/store/{conv}", {"message": "b"}))["header"]
    identity = {"topic", "creator_id", "can_post", "admins", "mk_conv_type", "topic_message_nr"}
    for header in (sent, stored):
        assert not identity & set(header)
        assert {"last_message_nr", "read_message_nr", "unread_count"} <= set(header)
        assert header["inactives"] == []
        assert "members" not in header


async def test_create_hook_answers_the_hook_in_its_stream(alice: RawUser, conv: str) -> None:
    created = await alice.call(f"conversation/create_hook/{conv}", {"hook_name": "h"})
    hooks = of_type(created["stream"], "hook")
    assert [h["hook_name"] for h in hooks] == ["h"]
    assert hooks[0]["hook_key"] == created["hook_info"]["hook_key"]
    renamed = await alice.call(
        f"conversation/configure_hook/{conv}", {"hook_key": hooks[0]["hook_key"], "hook_name": "h2"}
    )
    assert [h["hook_name"] for h in of_type(renamed["stream"], "hook")] == ["h2"]


async def test_leaving_answers_a_header_without_the_live_flow_and_an_empty_leave_message(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    left = await bob.call(f"conversation/leave/{conv}")
    header = left["header"]
    for gone in ("autojoin_url", "cmail", "fw_message_nr", "is_init", "mk_init_mode", "pin_cursor"):
        assert gone not in header
    assert header["can_post"] is False
    assert header["leavers"] == [bob.account_id]
    leave = next(m for m in left["stream"] if m["mk_message_type"] == "leave")
    assert leave["message"] == ""
    # The author of a system message has read it, and it is their last membership event.
    assert header["read_message_nr"] == header["send_message_nr"] == leave["message_nr"]


async def test_invalid_addresses_in_add_members_are_skipped(alice: RawUser, conv: str) -> None:
    before = (await alice.call(f"message/send/{conv}", {"message": "x"}))["header"]
    added = await alice.call(f"conversation/add_members/{conv}", {"emails": "not an address"})
    assert added["header"]["last_message_nr"] == before["last_message_nr"]
    assert "result_message_nr" not in added


async def test_search_answer_carries_a_stream_and_null_suggestions(
    alice: RawUser, conv: str
) -> None:
    await alice.call(f"message/send/{conv}", {"message": "needle in a haystack"})
    found = await alice.call("search", {"keywords": "needle"})
    assert found["suggestions"] is None
    assert [c["account_id"] for c in found["stream"]] == [alice.account_id]


async def _hello_conversation(user: RawUser) -> str:
    """A conversation titled and written as Fleep's search spec makes them (three in a row)."""
    conv = (await user.call("conversation/create", {"topic": "hello friend whats up"}))["header"]
    await user.call(
        f"message/send/{conv['conversation_id']}", {"message": "hello my dear friend how are you"}
    )
    return str(conv["conversation_id"])


async def _found(user: RawUser, keywords: str) -> tuple[list[str], list[str]]:
    """The conversations of a search's matches and of its headers."""
    found = await user.call("search", {"keywords": keywords, "search_types": ["topic", "chat"]})
    return (
        [m["conversation_id"] for m in found["matches"]],
        [h["conversation_id"] for h in found["headers"]],
    )


async def test_searches_read_the_index_the_first_search_loaded_until_search_reset(
    alice: RawUser, bob: RawUser
) -> None:
    first = await _hello_conversation(alice)
    assert await _found(alice, "hello friend") == ([first], [first])
    # The same topic and message again: the real server still answers one match and one
    # header, the first conversation's, as its user's index was loaded before.
    second = await _hello_conversation(alice)
    assert await _found(alice, "hell frie") == ([first], [first])
    # Another account's index is its own, loaded by its own first search.
    await alice.call(f"conversation/add_members/{second}", {"emails": "bob@example.com"})
    await alice.call(f"message/send/{second}", {"message": "hello again, friend"})
    assert await _found(bob, "hello friend") == ([second], [second])
    assert await _found(alice, "hello friend") == ([first], [first])

    assert await alice.call("search/reset") == {}
    matches, headers = await _found(alice, "hello friend")
    assert (sorted(set(matches)), sorted(headers)) == (sorted([first, second]),) * 2

    third = await _hello_conversation(alice)
    assert third not in (await _found(alice, "hello"))[1]
    assert await alice.call("search/prepare") == {}  # loads the index afresh
    assert third in (await _found(alice, "hello"))[1]


# ------------------------------------------------------------------ system labels


async def test_every_account_has_the_real_system_labels_and_flags(alice: RawUser) -> None:
    _, records, _ = await alice.initial_sync()
    labels = {
        r["label"]: (
            r["mk_label_subtype"],
            r["is_in_muted"],
            r["is_in_recent"],
            r["is_on_left_pane"],
        )
        for r in of_type(records, "label")
        if r["mk_label_type"] == "system_label"
    }
    assert labels == {
        "starred": ("starred", False, False, True),
        "Unread": ("unread", True, True, False),
        "Recent": ("recent", False, True, True),
        "Muted": ("muted", True, False, True),
        "1:1 Conversations": ("1:1 conversations", True, True, False),
        "Spam": ("spam", False, False, True),
        "Archived": ("archived", False, False, True),
        "Email": ("email", True, True, False),
    }


async def test_system_labels_collect_their_conversations(alice: RawUser, conv: str) -> None:
    _, records, _ = await alice.initial_sync()
    dialog = next(h for h in of_type(records, "conv") if h.get("default_topic"))["conversation_id"]
    spam = (await alice.call("conversation/create", {"topic": "spam"}))["header"]
    archived = (await alice.call("conversation/create", {"topic": "old"}))["header"]
    await alice.call(f"conversation/store/{spam['conversation_id']}", {"labels": ["Spam"]})
    await alice.call(f"conversation/store/{archived['conversation_id']}", {"hide_message_nr": 1})

    async def under(name: str) -> list[str]:
        answer = await alice.call("label/sync_conversations", {"label_id": label_id(records, name)})
        return sorted(h["conversation_id"] for h in of_type(answer["stream"], "conv"))

    assert await under("1:1 Conversations") == [dialog]
    assert await under("Unread") == [dialog]
    assert await under("Spam") == [spam["conversation_id"]]
    assert await under("Muted") == [spam["conversation_id"]]  # spam is muted for good
    assert await under("Archived") == [archived["conversation_id"]]
    assert await under("Recent") == sorted([conv, dialog])


async def test_label_sync_answers_contacts_label_tiny_full_headers_and_last_messages(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    stored = await alice.call(f"conversation/store/{conv}", {"labels": ["work"]})
    work = stored["header"]["label_ids"][0]
    answer = await alice.call("label/sync_conversations", {"label_id": work})
    kinds = [r["mk_rec_type"] for r in answer["stream"]]
    assert kinds == ["contact", "label", "conv", "message"]
    label, header = answer["stream"][1], answer["stream"][2]
    assert (label["sync_cursor"], label["sync_inbox_time"]) == ("{}", 0)
    assert (header["is_tiny"], header["mk_init_mode"], header["is_full"]) == (True, "ic_tiny", True)
    assert header["bw_message_nr"] == header["show_message_nr"]
    assert {"members", "autojoin_url", "admins", "labels"} <= set(header)
    assert answer["stream"][0]["account_id"] == bob.account_id


async def test_snoozing_forever_mutes_the_conversation(alice: RawUser, conv: str) -> None:
    header = (await alice.call(f"conversation/store/{conv}", {"snooze_interval": -1}))["header"]
    assert (header["mk_alert_level"], header["snooze_interval"], header["snooze_time"]) == (
        "never",
        -1,
        0,
    )


async def test_alert_level_passive_is_accepted(alice: RawUser, conv: str) -> None:
    stored = await alice.call(f"conversation/store/{conv}", {"mk_alert_level": "passive"})
    assert stored["header"]["mk_alert_level"] == "passive"


async def test_label_store_answers_without_sync_fields_and_a_removed_label_without_name(
    alice: RawUser,
) -> None:
    made = (await alice.call("label/store", {"label": "tmp"}))["stream"][0]
    assert "sync_cursor" not in made
    removed = (await alice.call("label/store", {"label_id": made["label_id"], "index": -1}))[
        "stream"
    ][0]
    assert removed["mk_label_status"] == "removed"
    assert "label" not in removed


# ------------------------------------------------------------------ numbering and read state


async def test_adding_members_right_after_create_edits_the_create_message_in_place(
    fake: FakeFleep, alice: RawUser, bob: RawUser
) -> None:
    conv = (await alice.call("conversation/create", {"topic": "fresh"}))["header"][
        "conversation_id"
    ]
    added = await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    messages = of_type(added["stream"], "message")
    create = next(m for m in messages if m["message_nr"] == 1)
    assert (create["mk_message_type"], create["flow_message_nr"]) == ("create", 2)
    assert create["edit_account_id"] == alice.account_id
    assert json.loads(create["message"])["members"] == [bob.account_id]
    assert added["header"]["last_message_nr"] == 2
    assert added["header"]["show_message_nr"] == 1
    assert not [m for m in messages if m["mk_message_type"] == "add"]
    sent = await alice.call(f"message/send/{conv}", {"message": "next"})
    assert sent["result_message_nr"] == 3
    assert fake.header(conv, bob.account_id)["join_message_nr"] == 1


async def test_archiving_a_pinned_message_unpins_it(alice: RawUser, conv: str) -> None:
    nr = (await alice.call(f"message/store/{conv}", {"message": "pin me"}))["result_message_nr"]
    await alice.call(f"message/store/{conv}", {"message_nr": nr, "tags": ["pin"]})
    before = (await alice.call(f"message/send/{conv}", {"message": "x"}))["header"]
    answer = await alice.call(
        f"message/store/{conv}",
        {"message_nr": nr, "message": "unpinned now", "tags": ["pin", "is_archived"]},
    )
    [record] = [m for m in answer["stream"] if m["message_nr"] == nr]
    assert record["mk_msg_sub_type"] == "mst_unpin"
    assert sorted(record["tags"]) == ["is_archived", "is_shared", "unpin"]
    assert record["mk_message_state"].endswith(":unpinned")
    # The edit and the unpin are one revision: one new flow number.
    assert record["flow_message_nr"] == before["last_message_nr"] + 1


async def test_tasks_carry_is_shared_and_is_task(alice: RawUser, conv: str) -> None:
    nr = (await alice.call(f"message/store/{conv}", {"message": "do it"}))["result_message_nr"]
    todo = await alice.call(f"message/store/{conv}", {"message_nr": nr, "tags": ["is_todo"]})
    [record] = [m for m in todo["stream"] if m["message_nr"] == nr]
    assert record["tags"] == ["is_shared", "is_task", "is_todo"]
    archived = await alice.call(
        f"message/store/{conv}", {"message_nr": nr, "tags": ["is_todo", "is_archived"]}
    )
    [record] = [m for m in archived["stream"] if m["message_nr"] == nr]
    assert record["tags"] == ["is_shared", "is_task", "is_todo", "is_archived"]


async def test_a_member_who_was_added_has_no_read_state_until_it_sets_one(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    _, records, _ = await bob.initial_sync()
    header = next(h for h in of_type(records, "conv") if h["conversation_id"] == conv)
    assert "is_mark_unread" not in header
    marked = await bob.call(f"conversation/mark_read/{conv}")
    assert marked["header"]["is_mark_unread"] is False
    # The newest read spec: the tiny header of mark_read is still flagged ``is_full``.
    assert (marked["header"]["is_tiny"], marked["header"]["is_full"]) == (True, True)


# ------------------------------------------------------------------ errors


async def test_mark_read_after_leaving_is_431(bob: RawUser, conv: str) -> None:
    await bob.call(f"conversation/leave/{conv}")
    assert (await bob.raw(f"conversation/mark_read/{conv}")).status_code == 431


async def test_adding_a_team_one_is_not_member_of_is_431(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    team = (await bob.call("team/create", {"team_name": "bobs"}))["stream"][0]
    refused = await alice.raw(f"conversation/store/{conv}", {"add_team_ids": [team["team_id"]]})
    assert refused.status_code == 431


async def test_a_free_team_record_has_no_pending_field(alice: RawUser) -> None:
    # The newest team_basic spec compares whole team records: no ``pending`` (an older
    # reading of the specs had ``pending: null``), ``is_org_wide: false``.
    team = (await alice.call("team/create", {"team_name": "t"}))["stream"][0]
    assert "pending" not in team
    assert team["is_org_wide"] is False


# ------------------------------------------------------------------ missing endpoints


async def test_event_store_applies_events_and_answers_request_records(
    alice: RawUser, conv: str
) -> None:
    def event(kind: str, req: str, **params: object) -> dict[str, object]:
        return {
            "mk_event_type": f"urn:fleep:client:message:{kind}",
            "client_req_id": req,
            "params": {"conversation_id": conv, **params},
        }

    added = await alice.call(
        "event/store",
        {"stream": [event("add_pinned", "11111111-1111-4111-8111-111111111111", message="Pinned")]},
    )
    # The request records come in ``requests``, as the newest of Fleep's test clients reads
    # them, and in the stream before the records their event changed, as the older ones do.
    (request,) = added["requests"]
    assert added["stream"][0] == request
    (message,) = of_type(added["stream"], "message")
    assert request["mk_rec_type"] == "request"
    assert request["status_code"] == 200
    nr = request["identifier"]["message_nr"]
    assert request["identifier"] == {"conversation_id": conv, "message_nr": nr}
    # The current event family answers the states every other answer carries (newest specs).
    assert (message["message_nr"], message["mk_message_state"]) == (
        nr,
        "urn:fleep:message:mk_message_state:pinned",
    )
    assert message["message"] == "<msg><p>Pinned</p></msg>"

    done = await alice.call(
        "event/store",
        {
            "stream": [
                event("set_unpinned", "22222222-2222-4222-8222-222222222222", message_nr=nr),
                event("del", "33333333-3333-4333-8333-333333333333", message_nr=nr),
                event("set_pinned", "44444444-4444-4444-8444-444444444444", message_nr=nr),
            ]
        },
    )
    requests = done["requests"]
    assert of_type(done["stream"], "request") == requests
    assert [r["status_code"] for r in requests] == [200, 200, 400]
    assert requests[2]["error_id"] == "invalid_call"
    states = [m["mk_message_state"] for m in of_type(done["stream"], "message")]
    assert states == [
        "urn:fleep:message:mk_message_state:unpinned",
        "urn:fleep:message:mk_message_state:deleted",
    ]


async def test_event_store_repeated_client_req_id_answers_the_first_outcome(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    body = {
        "stream": [
            {
                "mk_event_type": "urn:fleep:client:message:add_plain",
                "client_req_id": "55555555-5555-4555-8555-555555555555",
                "params": {"conversation_id": conv, "message": "once"},
            }
        ]
    }
    first = await alice.call("event/store", body)
    again = await alice.call("event/store", body)
    assert again["requests"] == first["requests"]
    assert [m["message"] for m in fake.messages(conv)].count("<msg><p>once</p></msg>") == 1


async def test_submit_stats_is_accepted(alice: RawUser) -> None:
    stats = {"stats": [{"event": "test", "properties": {}}]}
    assert await alice.call("submit/stats", stats) == {}


# ------------------------------------------------------------------ presence


async def test_show_activity_answers_the_other_members_activity(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    await bob.call(f"conversation/show_activity/{conv}", {"is_writing": True})
    seen = (await alice.call(f"conversation/show_activity/{conv}"))["stream"]
    assert [(a["account_id"], a["is_writing"]) for a in seen] == [(bob.account_id, True)]
    assert "read_message_nr" not in seen[0]  # Bob has read nothing yet
    await bob.call(f"message/send/{conv}", {"message": "sent"})
    after = (await alice.call(f"conversation/show_activity/{conv}"))["stream"]
    assert (after[0]["is_writing"], after[0]["read_message_nr"]) == (False, 2)
    # Bob never sees his own activity, and Alice reported none.
    assert (await bob.call(f"conversation/show_activity/{conv}"))["stream"] == []


async def test_a_writer_with_full_privacy_shows_no_activity(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon = (await alice.call("account/sync"))["event_horizon"]
    await bob.call("account/configure", {"is_full_privacy": True})
    await bob.call(f"conversation/show_activity/{conv}", {"is_writing": True})
    assert (await alice.call(f"conversation/show_activity/{conv}"))["stream"] == []
    _, records = await alice.drain(horizon)
    assert of_type(records, "activity") == []


# ------------------------------------------------------------------ HTTP


async def test_file_downloads_are_the_raw_bytes_even_when_gzip_is_accepted(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    data = b"plain text " * 500
    upload = await alice.upload("big.txt", data)
    sent = await alice.call(f"message/send/{conv}", {"attachments": [upload["upload_url"]]})
    file_url = of_type(sent["stream"], "file")[0]["file_url"]
    got = await http.get(file_url, headers={**alice.cookie_header, "Accept-Encoding": "gzip"})
    assert got.status_code == 200
    assert "content-encoding" not in got.headers
    assert got.content == data
    # JSON answers above the threshold are still compressed for clients that accept it.
    api = await http.post(
        "/api/account/poll",
        json={"ticket": alice.ticket, "event_horizon": 0},
        headers={**alice.cookie_header, "Accept-Encoding": "gzip"},
    )
    assert api.headers["content-encoding"] == "gzip"
    assert api.json()["stream"]


async def test_get_root_answers_200_with_a_fresh_token_id_cookie(
    http: httpx.AsyncClient, alice: RawUser
) -> None:
    old = alice.cookie_header
    front = await http.get("/", headers=old)
    assert front.status_code == 200
    assert front.headers["content-type"].startswith("text/html")
    fresh = front.cookies.get("token_id")
    assert fresh
    assert fresh not in old["Cookie"]
    # The fresh cookie is no session: API calls with it are refused.
    refused = await http.post(
        "/api/account/sync",
        json={"ticket": alice.ticket},
        headers={"Cookie": f"token_id={fresh}"},
    )
    assert refused.status_code == 401


async def test_message_store_deduplicates_a_new_message_by_client_req_id(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    body = {"message": "exactly once", "client_req_id": "66666666-6666-4666-8666-666666666666"}
    first = await alice.call(f"message/store/{conv}", body)
    again = await alice.call(f"message/store/{conv}", body)
    assert again["result_message_nr"] == first["result_message_nr"]
    assert [m["message"] for m in fake.messages(conv)].count("<msg><p>exactly once</p></msg>") == 1


async def test_other_calls_do_not_deduplicate_client_req_id(alice: RawUser) -> None:
    body = {"topic": "twice", "client_req_id": "77777777-7777-4777-8777-777777777777"}
    first = (await alice.call("conversation/create", body))["header"]
    second = (await alice.call("conversation/create", body))["header"]
    assert first["conversation_id"] != second["conversation_id"]


# ------------------------------------------------------------------ mentions, pins, shared edits


async def test_a_mention_sets_my_message_nr_and_losing_it_resets_it_to_zero(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    bob_address = fake.world.accounts[bob.account_id].fleep_address
    nr = (await alice.call(f"message/store/{conv}", {"message": f"hi @{bob_address}"}))[
        "result_message_nr"
    ]
    assert fake.header(conv, bob.account_id)["my_message_nr"] == nr
    assert "my_message_nr" not in fake.header(conv, alice.account_id)
    await alice.call(f"message/store/{conv}", {"message_nr": nr, "message": "hi all"})
    assert fake.header(conv, bob.account_id)["my_message_nr"] == 0


async def test_adding_members_right_after_create_makes_that_revision_the_topic_message(
    alice: RawUser, bob: RawUser
) -> None:
    conv = (await alice.call("conversation/create", {"topic": "t"}))["header"]["conversation_id"]
    await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    _, records, _ = await alice.initial_sync()
    header = next(h for h in of_type(records, "conv") if h["conversation_id"] == conv)
    assert header["topic_message_nr"] == 2


async def test_deleting_with_tags_keeps_them_and_adds_is_deleted(alice: RawUser, conv: str) -> None:
    nr = (await alice.call(f"message/store/{conv}", {"message": "bye"}))["result_message_nr"]
    gone = await alice.call(f"message/store/{conv}", {"message_nr": nr, "tags": ["is_deleted"]})
    [record] = [m for m in gone["stream"] if m["message_nr"] == nr]
    assert (record["message"], record["tags"]) == ("", ["is_deleted", "is_deleted"])


async def test_pins_weigh_two_to_the_32_plus_65536_each_and_can_be_placed(
    alice: RawUser, conv: str
) -> None:
    def event(kind: str, req: int, **params: object) -> dict[str, object]:
        return {
            "mk_event_type": f"urn:fleep:client:conversation:message:{kind}",
            "client_req_id": f"{req:08d}-0000-4000-8000-000000000000",
            "params": {"conversation_id": conv, **params},
        }

    pins = []
    for n in range(4):
        answer = await alice.call("event/store", {"stream": [event("add_pin", n, message=f"p{n}")]})
        pins.append(of_type(answer["stream"], "message")[0])
    assert [p["pin_weight"] for p in pins] == [2**32 + 65536 * n for n in range(4)]
    assert pins[0]["mk_message_state"] == "urn:fleep:msgstate:pinned"
    placed = await alice.call(
        "event/store",
        {
            "stream": [
                event(
                    "pos_pin",
                    9,
                    message_nr=pins[0]["message_nr"],
                    prev_message_nr=pins[3]["message_nr"],
                )
            ]
        },
    )
    moved = of_type(placed["stream"], "message")[0]
    # Just below the top pin: halfway between the top two.
    assert moved["pin_weight"] == (pins[3]["pin_weight"] + pins[2]["pin_weight"]) / 2


async def test_the_older_event_family_calls_a_plain_message_text(alice: RawUser, conv: str) -> None:
    answer = await alice.call(
        "event/store",
        {
            "stream": [
                {
                    "mk_event_type": "urn:fleep:client:conversation:message:add_text",
                    "client_req_id": "88888888-8888-4888-8888-888888888888",
                    "params": {"conversation_id": conv, "message": "old style"},
                }
            ]
        },
    )
    assert of_type(answer["stream"], "message")[0]["mk_message_state"] == "urn:fleep:msgstate:text"


async def test_any_member_may_edit_a_pin_or_task_but_only_the_author_a_text(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    pin = (await alice.call(f"message/store/{conv}", {"message": "p", "tags": ["pin"]}))[
        "result_message_nr"
    ]
    text = (await alice.call(f"message/store/{conv}", {"message": "t"}))["result_message_nr"]
    edited = await bob.call(f"message/store/{conv}", {"message_nr": pin, "message": "p by bob"})
    assert [m["message"] for m in edited["stream"] if m["message_nr"] == pin] == [
        "<msg><p>p by bob</p></msg>"
    ]
    refused = await bob.raw(f"message/store/{conv}", {"message_nr": text, "message": "no"})
    assert refused.status_code == 431


async def test_describing_a_contact_renames_it_for_the_describer_only(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    described = await alice.call(
        "contact/describe", {"contact_id": bob.account_id, "contact_name": "Bobby"}
    )
    assert described["stream"][0]["display_name"] == "Bobby"
    carol = fake.create_account("carol@example.com", "pw", "Carol")
    seen_by_carol = fake.world.contact_for(
        fake.world.accounts[bob.account_id], fake.world.accounts[carol.account_id]
    )
    assert seen_by_carol["display_name"] == "Bob Marley"


async def test_other_members_get_the_full_header_with_their_first_unread_inbox_message(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon = (await bob.call("account/sync"))["event_horizon"]
    first = (await alice.call(f"message/store/{conv}", {"message": "one"}))["result_message_nr"]
    await alice.call(f"message/store/{conv}", {"message": "two"})
    _, records = await bob.drain(horizon)
    header = of_type(records, "conv")[-1]
    assert header["topic"] == "test"  # the full header, not only the counters
    assert (header["inbox_message_nr"], header["unread_count"]) == (first, 2)
    mine = (await alice.call(f"message/store/{conv}", {"message": "three"}))["header"]
    assert mine["inbox_message_nr"] == mine["last_message_nr"]  # all read: the last one


async def test_message_send_does_not_deduplicate_client_req_id(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    body = {"message": "said twice", "client_req_id": "99999999-9999-4999-8999-999999999999"}
    first = await alice.call(f"message/send/{conv}", body)
    again = await alice.call(f"message/send/{conv}", body)
    assert again["result_message_nr"] == first["result_message_nr"] + 1
    assert [m["message"] for m in fake.messages(conv)].count("<msg><p>said twice</p></msg>") == 2


async def test_a_member_who_comes_back_has_seen_what_was_said_while_away(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    await alice.call(f"message/send/{conv}", {"message": "before"})
    await bob.call(f"conversation/leave/{conv}")
    await alice.call(f"message/send/{conv}", {"message": "while away"})
    back = await alice.call(f"conversation/store/{conv}", {"add_account_ids": [bob.account_id]})
    rejoin = back["result_message_nr"]
    header = fake.header(conv, bob.account_id)
    assert (header["read_message_nr"], header["begin_message_nr"]) == (rejoin - 1, rejoin)
    assert header["send_message_nr"] == rejoin
    assert header["unread_count"] == 0


async def test_event_copy_goes_into_the_events_conversation_and_tasks_get_weights(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    other = (await alice.call("conversation/create", {"topic": "other"}))["header"]
    source = (await alice.call(f"message/store/{conv}", {"message": "copy me"}))[
        "result_message_nr"
    ]
    copied = await alice.call(
        "event/store",
        {
            "stream": [
                {
                    "mk_event_type": "urn:fleep:client:message:copy",
                    "client_req_id": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
                    "params": {
                        "conversation_id": other["conversation_id"],
                        "copy_conversation_id": conv,
                        "copy_message_nr": source,
                    },
                }
            ]
        },
    )
    record = of_type(copied["stream"], "message")[0]
    assert record["conversation_id"] == other["conversation_id"]
    assert record["message"] == "<msg><p>copy me</p></msg>"
    assert "lock_account_id" not in record
    tasks = []
    for text in ("t1", "t2"):
        nr = (await alice.call(f"message/store/{conv}", {"message": text, "tags": ["is_todo"]}))[
            "result_message_nr"
        ]
        tasks.append(next(m for m in fake.messages(conv) if m["message_nr"] == nr))
    assert [t["task_weight"] for t in tasks] == [2**32, 2**32 + 65536]


# ------------------------------------------------------------------ beyond the seeds


async def test_the_organisation_api_is_refused_with_a_clear_not_supported_error(
    alice: RawUser,
) -> None:
    org = "12345678-1234-4234-8234-123456789abc"
    for path in ("business/create", f"business/sync/{org}", f"business/diff_team/{org}"):
        refused = await alice.raw(path, {})
        assert refused.status_code == 431
        assert refused.json()["error_id"] == "not_supported_by_fakefleep"
    assert (await alice.raw("business/sync/not-a-uuid", {})).status_code == 400


async def test_mail_list_answers_an_empty_stream(alice: RawUser, conv: str) -> None:
    assert await alice.call("mail/list", {"conversation_id": conv}) == {"stream": []}
