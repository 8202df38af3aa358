"""FakeFleep reproduces 17 behaviours of the real server, one test each (docs/fakefleep.md,
"What it implements", states each rule).

These tests speak the raw protocol with httpx (no FleepClient) so that they pin the wire.
"""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from fleep_async.testing.helpers import RawCallError
from tests.integration.conftest import LoginFn, of_type

pytestmark = pytest.mark.asyncio

URN = "urn:fleep:message:mk_message_state:"


# 1 ------------------------------------------------------------------------------------------
async def test_routing_tolerates_trailing_slash_ignores_unknown_keys_rejects_non_json(
    http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    body = {"message": "one", "api_version": 2, "from_message_nr": None, "nonsense": [1]}
    plain = await alice.call(f"message/send/{conv}", body)
    slashed = await alice.call(f"message/send/{conv}/", {**body, "message": "two"})
    assert (plain["result_message_nr"], slashed["result_message_nr"]) == (2, 3)
    assert (await alice.raw("account/sync/")).status_code == 200

    not_json = await http.post(
        f"/api/message/send/{conv}",
        content=b"message=hi",
        headers={**alice.cookie_header, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert not_json.json()["error_id"] == "invalid_call"
    form = await http.post(
        "/api/account/sync", data={"ticket": alice.ticket}, headers=alice.cookie_header
    )
    assert form.status_code == 400
    assert (await alice.raw("conversation/sync/not-a-uuid")).status_code == 400
    assert (await alice.raw("no/such/endpoint")).status_code == 404
    get = await http.get("/api/account/sync", headers=alice.cookie_header)
    assert get.status_code == 405
    assert get.headers["content-type"].startswith("application/json")


# 2 ------------------------------------------------------------------------------------------
async def test_login_returns_profile_ticket_and_token_cookie(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    account = fake.create_account("bob@example.com", "secret", "Bob Marley")
    response = await http.post(
        "/api/account/login", json={"email": "bob@example.com", "password": "secret"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"account_id", "display_name", "profiles", "ticket"}
    assert body["account_id"] == account.account_id
    assert len(body["ticket"]) == 20
    int(body["ticket"], 16)
    assert len(body["profiles"]) == 1
    profile = body["profiles"][0]
    assert profile["mk_rec_type"] == "contact"
    assert profile["account_id"] == account.account_id
    assert profile["fleep_address"] == account.fleep_address
    assert profile["organisation_id"] is None
    cookie = response.headers["set-cookie"]
    token = response.cookies["token_id"]
    assert len(token) == 36
    assert cookie.startswith(f"token_id={token};")
    assert "Path=/" in cookie
    assert "expires" not in cookie.lower()

    remembered = await http.post(
        "/api/account/login",
        json={"email": account.fleep_address, "password": "secret", "remember_me": True},
    )
    assert remembered.status_code == 200
    assert "expires" in remembered.headers["set-cookie"].lower()

    wrong = await http.post(
        "/api/account/login", json={"email": "bob@example.com", "password": "nope"}
    )
    assert wrong.status_code == 431
    assert set(wrong.json()) == {"error_id", "error_message"}
    assert "set-cookie" not in wrong.headers


# 3 ------------------------------------------------------------------------------------------
async def test_auth_needs_cookie_and_ticket_and_logout_keeps_the_dead_cookie(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser, login: LoginFn
) -> None:
    expired = {"error_id": "expired_token", "error_message": "Expired token, please relogin."}
    no_cookie = await http.post("/api/account/sync", json={"ticket": alice.ticket})
    assert (no_cookie.status_code, no_cookie.json()) == (401, expired)
    wrong_ticket = await http.post(
        "/api/account/sync", json={"ticket": "0" * 20}, headers=alice.cookie_header
    )
    assert wrong_ticket.status_code == 401
    no_ticket = await alice.raw("account/sync", ticket=False)
    assert no_ticket.status_code == 401

    logout = await alice.raw("account/logout")
    assert logout.status_code == 200
    assert "set-cookie" not in logout.headers  # the real server does not clear the cookie
    after = await alice.raw("account/poll", {"event_horizon": 1, "wait": False})
    assert (after.status_code, after.json()) == (401, expired)

    again = await login("alice@example.com", "pw")
    assert (await again.raw("account/sync")).status_code == 200
    assert fake.expire_session("alice@example.com") == 1
    assert (await again.raw("account/sync")).status_code == 401


# 4 ------------------------------------------------------------------------------------------
async def test_error_model_for_business_rules_and_unknown_messages(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str, login: LoginFn
) -> None:
    await alice.call(f"message/send/{conv}", {"message": "mine"})

    edit_other = await bob.raw(f"message/edit/{conv}", {"message_nr": 2, "message": "hack"})
    assert edit_other.status_code == 431
    assert edit_other.json()["error_id"] == "invalid_edit"

    unknown = await alice.raw(f"message/edit/{conv}", {"message_nr": 99, "message": "x"})
    assert (unknown.status_code, unknown.json()) == (
        430,
        {"error_id": "not_found", "error_message": "Message not found."},
    )

    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com", "pw")
    never = await carol.raw(f"message/send/{conv}", {"message": "let me in"})
    assert never.status_code == 430

    await bob.call(f"conversation/leave/{conv}")
    left = await bob.raw(f"message/send/{conv}", {"message": "still here?"})
    assert left.status_code == 431
    assert (await bob.raw(f"conversation/check_permissions/{conv}")).status_code == 431
    assert (await carol.raw(f"conversation/check_permissions/{conv}")).status_code == 430

    await bob.call("account/sync")  # the session itself is fine
    await alice.call(f"message/delete/{conv}", {"message_nr": 2})
    other = await alice.call("conversation/create", {"topic": "other"})
    copy = await alice.raw(
        f"message/copy/{conv}",
        {"message_nr": 2, "to_conv_id": other["header"]["conversation_id"]},
    )
    assert copy.status_code == 431
    for response in (edit_other, unknown, never, left, copy):
        assert response.headers["content-type"] == "application/json; charset=utf-8"


# 5 ------------------------------------------------------------------------------------------
async def test_event_log_has_monotonic_horizons_and_redelivers_from_old_horizon(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon, _ = await bob.drain(1)
    sent = []
    for text in ("a", "b", "c"):
        sent.append(
            (await alice.call(f"message/send/{conv}", {"message": text}))["result_message_nr"]
        )
    first = await bob.poll(horizon)
    assert first["event_horizon"] > horizon
    messages = of_type(first["stream"], "message")
    assert [m["message_nr"] for m in messages] == sent
    unchanged = await bob.poll(first["event_horizon"])
    assert unchanged["event_horizon"] == first["event_horizon"]
    assert unchanged["stream"] == []
    replay = await bob.poll(horizon)  # an old horizon re-delivers the same records
    assert replay == first


# 6 ------------------------------------------------------------------------------------------
async def test_long_poll_parks_until_an_event_and_answers_empty_after_the_hold(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon, _ = await bob.drain(1)
    results: list[dict[str, object]] = []

    async def parked() -> None:
        results.append(await bob.poll(horizon, wait=True))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(parked)
            await fake.wait_for(lambda: fake.parked_polls == 1)
            sent = await alice.call(f"message/send/{conv}", {"message": "wake up"})
    assert fake.parked_polls == 0
    woken = results[0]
    assert isinstance(woken["stream"], list)
    assert of_type(woken["stream"], "message")[0]["message_nr"] == sent["result_message_nr"]

    with anyio.fail_after(5):
        empty = await bob.poll(woken["event_horizon"], wait=True)  # type: ignore[arg-type]
    assert empty == {
        "event_horizon": woken["event_horizon"],
        "stream": [],
        "limit_time": 0,
        "static_version": "fakefleep-1",
    }
    with anyio.fail_after(5):
        quick = await bob.poll(woken["event_horizon"], wait=False)  # type: ignore[arg-type]
    assert quick["stream"] == []


# 7 ------------------------------------------------------------------------------------------
async def test_initial_sync_in_batches_with_non_positive_horizons_and_flags(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    small = FakeFleep(hold_seconds=0.2, sync_batch_size=2, sync_messages=2, seed=2, welcome=False)
    owner = small.create_account("owner@example.com", "pw", "Owner")
    friend = small.create_account("friend@example.com", "pw", "Friend")
    convs = [small.create_conversation(owner, f"c{i}", [friend]) for i in range(5)]
    for i, conv_id in enumerate(convs):
        for n in range(3):
            await small.post_as(friend, conv_id, f"m{i}.{n}")
    hidden_id = convs[0]
    await small.call_as(owner, "conversation/hide", path_id=hidden_id)
    live_horizon = small.horizon(owner)
    async with small.http_client() as client:
        user = await RawUser.login(client, "owner@example.com", "pw")
        horizon, records, responses = await user.initial_sync()
        assert horizon == live_horizon > 0
        assert [r["event_horizon"] for r in responses[:-1]] == [-1, -2]
        assert all(r["sync_progress"] < 1 and r["sync_cursor"] for r in responses[:-1])
        assert responses[-1]["sync_progress"] == 1.0
        headers = of_type(records, "conv")
        assert sorted(h["conversation_id"] for h in headers) == sorted(convs)
        assert {r["mk_rec_type"] for r in records} >= {"contact", "label", "conv", "message"}
        assert of_type(records, "contact")[0]["account_id"] == owner.account_id
        per_conv = [m for m in of_type(records, "message") if m["conversation_id"] == convs[1]]
        assert len(per_conv) == 2  # sync_messages

        _, skipped, _ = await user.initial_sync(flags=["skip_hidden"])
        assert hidden_id not in {h["conversation_id"] for h in of_type(skipped, "conv")}

        _, first_only, rest_responses = await user.initial_sync(flags=["skip_rest"])
        assert len(rest_responses) == 1
        assert rest_responses[0]["event_horizon"] == live_horizon
        assert len(of_type(first_only, "conv")) == 2
        cursor = rest_responses[0]["sync_cursor"]
        more = await user.call("account/sync_conversations", {"sync_cursor": cursor})
        assert len(of_type(more["stream"], "conv")) == 2
        assert "sync_cursor" in more

        small.force_resync(owner)
        resync = await user.poll(live_horizon, wait=True)
        assert (resync["event_horizon"], resync["stream"]) == (0, [])
        normal = await user.poll(live_horizon)
        assert normal["event_horizon"] == live_horizon


# 8 ------------------------------------------------------------------------------------------
FULL_CONV_KEYS = {
    "mk_rec_type", "conversation_id", "profile_id", "topic", "topic_message_nr", "creator_id",
    "members", "leavers", "admins", "guests", "default_members", "teams",
    "label_ids", "autojoin_url", "cmail", "begin_message_nr", "bw_message_nr", "fw_message_nr",
    "join_message_nr", "last_message_nr", "read_message_nr", "send_message_nr",
    "show_message_nr", "inbox_message_nr", "last_inbox_nr", "unread_count",
    "inbox_time", "last_message_time", "can_post", "is_init", "is_full", "is_tiny",
    "mk_init_mode", "mk_alert_level", "mk_conv_type", "organisation_id", "export_files",
    "export_progress", "has_email_subject", "has_pinboard",
    "has_task_archive", "has_taskboard", "is_automute", "is_list", "is_managed",
    "is_mark_unread", "is_premium",
    "snooze_interval", "snooze_time", "inactives", "pin_cursor", "pin_sync_state",
}  # fmt: skip
# The header message/send and message/store answer with (the newest versions of Fleep's main,
# read and crapnet specs; older ones gave message/send the identity fields too).
PARTIAL_CONV_KEYS = {
    "mk_rec_type", "conversation_id", "profile_id", "export_files", "export_progress",
    "has_pinboard", "has_task_archive", "has_taskboard", "inbox_message_nr", "inbox_time",
    "is_automute", "is_list", "is_mark_unread", "join_message_nr", "label_ids", "last_inbox_nr",
    "last_message_nr", "last_message_time", "mk_alert_level", "read_message_nr",
    "send_message_nr", "show_message_nr", "snooze_interval", "snooze_time", "teams",
    "unread_count", "inactives",
}  # fmt: skip
MESSAGE_KEYS = {
    "mk_rec_type", "conversation_id", "message_nr", "prev_message_nr", "inbox_nr",
    "account_id", "profile_id", "posted_time", "mk_message_type", "mk_message_state",
    "message", "tags", "lock_account_id",
}  # fmt: skip


async def test_records_have_the_real_field_sets_types_and_viewer_profile(
    alice: RawUser, bob: RawUser
) -> None:
    created = await alice.call(
        "conversation/create", {"topic": "test", "emails": "bob@example.com"}
    )
    header = created["header"]
    assert set(header) == FULL_CONV_KEYS
    assert header["organisation_id"] is None
    create_msg = created["stream"][0]
    assert set(create_msg) == MESSAGE_KEYS
    assert create_msg["message_nr"] == 1
    assert create_msg["prev_message_nr"] == 0
    assert create_msg["mk_message_type"] == "create"
    assert create_msg["mk_message_state"] == URN + "system"
    assert isinstance(create_msg["message"], str)  # a JSON *string*, not an object
    assert json.loads(create_msg["message"]) == {
        "members": [bob.account_id],
        "org_name": None,
        "organisation_id": None,
        "topic": "test",
    }
    conv_id = header["conversation_id"]
    sent = await alice.call(f"message/send/{conv_id}", {"message": "msgSend1"})
    assert set(sent["header"]) == PARTIAL_CONV_KEYS
    message = sent["stream"][0]
    assert set(message) == MESSAGE_KEYS
    assert message["tags"] == []
    assert message["lock_account_id"] is None
    assert message["mk_message_state"] == URN + "plain"
    assert isinstance(message["posted_time"], int)
    assert (message["profile_id"], message["account_id"]) == (alice.account_id, alice.account_id)

    _, records = await bob.drain(1)
    bob_view = next(
        m
        for m in of_type(records, "message")
        if (m["conversation_id"], m["message_nr"]) == (conv_id, 2)
    )
    assert bob_view["profile_id"] == bob.account_id  # the viewer, not the author
    assert bob_view["account_id"] == alice.account_id
    # The other members get the full header after a message (the sender a partial one); Bob
    # never set his read state yet, so it has no is_mark_unread.
    bob_keys = FULL_CONV_KEYS - {"is_mark_unread"}
    bob_headers = [h for h in of_type(records, "conv") if set(h) == bob_keys]
    assert bob_headers[-1]["unread_count"] == 1
    assert bob_headers[-1]["read_message_nr"] == 0


# 9 ------------------------------------------------------------------------------------------
async def test_message_numbering_edits_deletes_and_pins_take_new_flow_numbers(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    assert (await alice.call(f"message/send/{conv}", {"message": "m2"}))["result_message_nr"] == 2
    await alice.call(f"message/send/{conv}", {"message": "m3"})
    edited = await alice.call(f"message/edit/{conv}", {"message_nr": 2, "message": "m2 v2"})
    record = edited["stream"][0]
    assert (record["message_nr"], record["flow_message_nr"]) == (2, 4)
    assert record["edit_account_id"] == alice.account_id
    assert "edited_time" in record
    assert record["message"] == "<msg><p>m2 v2</p></msg>"
    assert edited["header"]["last_message_nr"] == 4
    assert edited["header"]["show_message_nr"] == 3

    pinned = await alice.call(f"message/store/{conv}", {"message_nr": 2, "tags": ["pin"]})
    assert pinned["stream"][0]["flow_message_nr"] == 5
    assert pinned["stream"][0]["mk_message_state"] == URN + "pinned"
    unpinned = await alice.call(f"message/store/{conv}", {"message_nr": 2, "tags": []})
    unpin = unpinned["stream"][0]
    assert (unpin["message_nr"], unpin["flow_message_nr"], unpin["ref_message_nr"]) == (2, 6, 2)
    assert unpin["mk_message_state"] == URN + "unpinned"
    assert "unpin" in unpin["tags"]

    # Another member may delete (not edit) someone's message.
    deleted = await bob.call(f"message/store/{conv}", {"message_nr": 3, "tags": ["is_deleted"]})
    gone = deleted["stream"][0]
    # The delete takes flow number 7, but a deleted record carries no flow_message_nr.
    assert (gone["message_nr"], gone["message"], deleted["header"]["last_message_nr"]) == (3, "", 7)
    assert "flow_message_nr" not in gone
    assert gone["mk_message_state"] == URN + "deleted"
    assert gone["edit_account_id"] == bob.account_id
    nxt = await alice.call(f"message/send/{conv}", {"message": "m8"})
    assert nxt["result_message_nr"] == 8
    assert nxt["stream"][0]["prev_message_nr"] == 3  # the previous *visible* message


# 10 -----------------------------------------------------------------------------------------
async def test_sender_sees_its_own_message_echoed_in_its_poll(alice: RawUser, conv: str) -> None:
    horizon, _ = await alice.drain(1)
    sent = await alice.call(f"message/send/{conv}", {"message": "echo"})
    answer = await alice.poll(horizon)
    echoed = of_type(answer["stream"], "message")
    assert [m["message_nr"] for m in echoed] == [sent["result_message_nr"]]
    assert echoed[0]["account_id"] == alice.account_id


# 11 -----------------------------------------------------------------------------------------
async def test_send_answer_shape_and_client_req_id_idempotency(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon, _ = await alice.drain(1)
    req = "8faf3a5a-0000-4000-8000-000000000001"
    first = await alice.call(f"message/store/{conv}", {"message": "once", "client_req_id": req})
    assert set(first) == {"header", "stream", "result_message_nr", "client_req_id"}
    assert first["client_req_id"] == req
    again = await alice.call(f"message/store/{conv}", {"message": "twice", "client_req_id": req})
    assert again == first
    texts = [m["message"] for m in fake.messages(conv) if m["mk_message_type"] == "text"]
    assert texts == ["<msg><p>once</p></msg>"]
    _, records = await alice.drain(horizon)
    assert of_type(records, "request") == [
        {
            "mk_rec_type": "request",
            "client_req_id": req,
            "conversation_id": conv,
            "result_message_nr": first["result_message_nr"],
        }
    ]
    # message/send honours it too (FH api.py sends it); ids are per account.
    bob_first = await bob.call(f"message/send/{conv}", {"message": "b", "client_req_id": req})
    assert bob_first["result_message_nr"] == first["result_message_nr"] + 1


# 12 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "xml"),
    [
        ("msgSend1", "<msg><p>msgSend1</p></msg>"),
        (
            "First message with url: www.google.com",
            '<msg><p>First message with url: <a href="http://www.google.com">www.google.com</a>'
            "</p></msg>",
        ),
        ("a & b < c > d", "<msg><p>a &amp; b &lt; c &gt; d</p></msg>"),
        ("one\ntwo\n\nthree", "<msg><p>one<br/>two</p><p>three</p></msg>"),
        ("*bold* _it_", '<msg><p><b flp="*" fls="*">bold</b> <i flp="_" fls="_">it</i></p></msg>'),
        ("snake_case_name 2*3*4", "<msg><p>snake_case_name 2*3*4</p></msg>"),
        (
            "see https://x.io/a.",
            '<msg><p>see <a href="https://x.io/a">https://x.io/a</a>.</p></msg>',
        ),
        (
            "https://fleep.io<<Fleep>> is",
            '<msg><p><a flp="https://fleep.io&lt;&lt;" fls="&gt;&gt;" href="https://fleep.io">'
            "Fleep</a> is</p></msg>",
        ),
        ("", "<msg><p/></msg>"),
    ],
)
async def test_text_is_rendered_to_fleep_xml_like_the_server(
    alice: RawUser, conv: str, text: str, xml: str
) -> None:
    sent = await alice.call(f"message/send/{conv}", {"message": text})
    assert sent["stream"][0]["message"] == xml


async def test_attachments_render_as_file_elements_after_the_text(
    alice: RawUser, conv: str
) -> None:
    one = await alice.upload("example1.txt", b"1")
    two = await alice.upload("example2.txt", b"2")
    sent = await alice.call(
        f"message/send/{conv}",
        {"message": "fileUploadAndSend", "attachments": [one["upload_url"], two["upload_url"]]},
    )
    files = of_type(sent["stream"], "file")
    keys = [f["attachment_id"] for f in files]
    assert sent["stream"][0]["message"] == (
        f'<msg><p>fileUploadAndSend</p><file key="{keys[0]}">example1.txt</file>'
        f'<file key="{keys[1]}">example2.txt</file></msg>'
    )
    only = await alice.call(f"message/send/{conv}", {"attachments": [one["upload_url"]]})
    key = of_type(only["stream"], "file")[0]["attachment_id"]
    assert only["stream"][0]["message"] == f'<msg><file key="{key}">example1.txt</file></msg>'


# 13 -----------------------------------------------------------------------------------------
PNG_1x2 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x02\x08\x02\x00\x00\x00"
    b"\x00\x00\x00\x00"
)


async def test_file_upload_forms_dedupe_by_sha256_and_download_needs_the_cookie(
    http: httpx.AsyncClient, alice: RawUser, bob: RawUser, conv: str
) -> None:
    multi = await alice.upload("pic.png", PNG_1x2, "image/png")
    assert multi["file_type"] == "image/png"
    assert (multi["width"], multi["height"]) == (1, 2)
    put = await http.put(
        "/api/file/upload",
        params={"ticket": alice.ticket},
        content=PNG_1x2,
        headers={
            **alice.cookie_header,
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="again.jpg.png"',
        },
    )
    assert put.status_code == 200
    again = put.json()["files"][0]
    assert again["file_id"] == multi["file_id"]  # same bytes, same file
    assert again["upload_url"] != multi["upload_url"]
    assert again["name"] == "again.jpg.png"
    assert again["file_sha256"] == multi["file_sha256"]
    method_put = await http.post(
        "/api/file/upload/",
        params={"ticket": alice.ticket, "_method": "PUT"},
        content=b"plain text",
        headers={**alice.cookie_header, "Content-Disposition": 'attachment; filename="a.txt"'},
    )
    assert method_put.json()["files"][0]["file_type"] == "application/octet-stream"
    no_ticket = await http.post(
        "/api/file/upload/", files={"files": ("x", b"x")}, headers=alice.cookie_header
    )
    assert no_ticket.status_code == 401

    sent = await alice.call(f"message/send/{conv}", {"attachments": [multi["upload_url"]]})
    file_rec = of_type(sent["stream"], "file")[0]
    assert file_rec["file_url"].startswith("/file/")
    assert file_rec["width"] == 1
    got = await http.get(file_rec["file_url"], headers=bob.cookie_header)
    assert (got.status_code, got.content) == (200, PNG_1x2)
    assert got.headers["content-type"] == "image/png"
    part = await http.get(file_rec["file_url"], headers={**bob.cookie_header, "Range": "bytes=0-7"})
    assert (part.status_code, part.content) == (206, PNG_1x2[:8])
    assert (await http.get(file_rec["file_url"])).status_code == 401


# 14 -----------------------------------------------------------------------------------------
async def test_hooks_accept_json_form_and_multipart_and_404_after_drop(
    http: httpx.AsyncClient, alice: RawUser, bob: RawUser, conv: str
) -> None:
    created = await alice.call(f"conversation/create_hook/{conv}", {"hook_name": "CI"})
    info = created["hook_info"]
    assert info["hook_url"].startswith("https://fleep.test/hook/")
    assert len(info["hook_url"].rsplit("/", 1)[1]) == 22
    path = "/hook/" + info["hook_url"].rsplit("/", 1)[1]
    shown = await bob.call(f"conversation/show_hooks/{conv}")
    assert shown["hooks"][0]["hook_key"] == info["hook_key"]
    assert "hook_url" not in shown["hooks"][0]  # filled only for the owner

    assert (
        await http.post(path, json={"message": "json *hook*", "user": "Python"})
    ).status_code == 200
    assert (await http.post(path, data={"message": "form\nhook"})).status_code == 200
    multipart = await http.post(
        path, data={"message": "with file"}, files={"files": ("log.txt", b"log", "text/plain")}
    )
    assert multipart.status_code == 200
    texts = [m for m in of_type((await bob.drain(1))[1], "message") if m.get("hook_key")]
    assert [m["message"] for m in texts][:2] == [
        '<msg><p>json <b flp="*" fls="*">hook</b></p></msg>',
        "<msg><p>form<br/>hook</p></msg>",
    ]
    assert texts[0]["sender_name"] == "Python"
    assert texts[0]["account_id"] == alice.account_id
    assert texts[0]["hook_key"] == info["hook_key"]
    assert texts[0]["is_new_sheet"] is False
    assert "<file key=" in texts[2]["message"]

    dropped = await alice.call(f"conversation/drop_hook/{conv}", {"hook_key": info["hook_key"]})
    unhook = [m for m in dropped["stream"] if m.get("mk_message_type") == "unhook"]
    assert [h["is_active"] for h in dropped["stream"] if h["mk_rec_type"] == "hook"] == [False]
    assert json.loads(unhook[0]["message"])["hook_key"] == info["hook_key"]
    assert (await http.post(path, json={"message": "late"})).status_code == 404


# 15 -----------------------------------------------------------------------------------------
async def test_poke_is_echoed_to_the_caller_as_a_barrier(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    horizon, _ = await alice.drain(1)
    bob_horizon, _ = await bob.drain(1)
    await alice.call(f"conversation/poke/{conv}", {"message_nr": 123456, "is_bg_poke": False})
    answer = await alice.poll(horizon, wait=True)
    assert answer["stream"] == [
        {
            "mk_rec_type": "poke",
            "account_id": alice.account_id,
            "conversation_id": conv,
            "message_nr": 123456,
        }
    ]
    assert (await bob.poll(bob_horizon))["stream"] == []  # only the caller sees it


# 16 -----------------------------------------------------------------------------------------
async def test_account_sync_gives_the_current_horizon_and_account_info(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    await alice.call(f"message/send/{conv}", {"message": "history"})
    info = await bob.call("account/sync")
    assert info == {
        "event_horizon": info["event_horizon"],
        "account_id": bob.account_id,
        "display_name": "Bob Marley",
        "email": "bob@example.com",
        "mk_account_status": "active",
        "is_in_org": False,
        "is_org_admin": False,
    }
    answer = await bob.poll(info["event_horizon"])  # a bot that skips history sees nothing old
    assert answer["stream"] == []
    assert answer["event_horizon"] == info["event_horizon"]


# 17 -----------------------------------------------------------------------------------------
async def test_transport_gzip_content_type_and_configurable_latency(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    for i in range(20):
        await alice.call(f"message/send/{conv}", {"message": f"padding message {i} " * 5})
    raw = await http.post(
        "/api/account/poll",
        json={"ticket": alice.ticket, "event_horizon": 1, "wait": False},
        headers={**alice.cookie_header, "Accept-Encoding": "gzip"},
    )
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-type"] == "application/json; charset=utf-8"
    assert raw.num_bytes_downloaded < len(raw.content)  # httpx decoded a compressed body
    assert raw.json()["event_horizon"] > 1
    fake.faults.delay("account/sync", seconds=0.01)
    fake.faults.fail("account/sync", 503, retry_after=2)
    await alice.call("account/sync")  # the delay is used up by this call...
    with pytest.raises(RawCallError) as failed:
        await alice.call("account/sync")  # ...and the 503 by this one
    assert failed.value.status_code == 503
    assert fake.faults.counts["delay"] == 1
