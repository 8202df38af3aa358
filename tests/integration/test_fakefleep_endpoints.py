"""Every row of endpoints.md is served by FakeFleep.

``ROWS`` is the endpoint checklist (91 seed endpoints + 3 extras); when the reference file is
present, a test checks that the copy here still matches it. Each row then gets one real call in
a prepared world, and must answer 200 (or, for the documented out-of-scope features, 431
``not_supported_by_fakefleep``); a 404 or 405 would mean "not served".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from fleep_async.testing._http.routing import HANDLERS, resolve

# The endpoint checklist, as checked in beside the registry tests (one normalised path a line).
INVENTORY = Path(__file__).resolve().parents[1] / "unit" / "endpoint_inventory.txt"

ROWS = """
account/login account/logout account/register account/register/v2 account/reset_password
account/click_reminder account/poll account/listen account/sync account/sync_conversations
account/configure account/configure_email_interval account/configure_primary_email
account/confirm account/confirm/v2 account/export/start account/lookup account/prepare/v2
account/set_flag account/unsubscribe avatar/delete avatar/upload alias/add alias/confirm
alias/remove alias/sync classificators contact/describe contact/hide contact/import
contact/sync contact/sync/activity contact/sync/all contact/sync/list contact/unlist
conversation/add_members/{conversation_id} conversation/autojoin
conversation/check_permissions/{conversation_id} conversation/convert_api/{conversation_id}
conversation/create conversation/create_call/{conversation_id}
conversation/delete/{conversation_id} conversation/disclose/{conversation_id}
conversation/disclose_all/{conversation_id} conversation/hide/{conversation_id}
conversation/leave/{conversation_id} conversation/list conversation/mark_read/{conversation_id}
conversation/poke/{conversation_id} conversation/remove_members/{conversation_id}
conversation/set_alerts/{conversation_id} conversation/set_topic/{conversation_id}
conversation/show_activity/{conversation_id} conversation/slash_command/{conversation_id}
conversation/store/{conversation_id} conversation/sync/{conversation_id}
conversation/sync_backward/{conversation_id} conversation/sync_files/{conversation_id}
conversation/sync_pins/{conversation_id} conversation/sync_teams/{conversation_id}
conversation/unhide/{conversation_id} conversation/unsubscribe/{conversation_id}
file/upload/ file/upload/external/ conversation/create_hook/{conversation_id}
conversation/configure_hook/{conversation_id} conversation/drop_hook/{conversation_id}
conversation/show_hooks/{conversation_id} label/sync_conversations
message/copy/{conversation_id} message/delete/{conversation_id} message/edit/{conversation_id}
message/mark_read/{conversation_id} message/send/{conversation_id}
message/store/{conversation_id} search search/prepare search/reset search/suggest
account/sync_pinboard account/sync_taskboard account/smtp/configure account/smtp/list
account/smtp/store account/external/account/list account/trello/board/list team/autojoin
team/configure/{team_id} team/create team/remove/{team_id} team/sync/{team_id}
message/mark_unread/{conversation_id} POST:/hook/{hook_id} GET:{file_url}
""".split()  # noqa: SIM905 (the checklist reads better as text)

OUT_OF_SCOPE = {
    "conversation/create_call/{conversation_id}",
    "conversation/slash_command/{conversation_id}",
    "account/external/account/list",
    "account/trello/board/list",
}


def test_the_row_list_matches_the_endpoint_inventory() -> None:
    assert len(ROWS) == len(set(ROWS)) == 94
    inventory = [line for line in INVENTORY.read_text().splitlines() if line.strip()]
    # The inventory drops the documented trailing slash of file/upload/ (the server takes both).
    api = sorted(r.rstrip("/") for r in ROWS if ":" not in r)
    assert api == sorted(p for p in inventory if p not in ("hook/{hook_id}", "{file_url}"))
    # The two rows outside /api: the hook URL and a file's download URL.
    assert "POST:/hook/{hook_id}" in ROWS
    assert "hook/{hook_id}" in inventory
    assert "GET:{file_url}" in ROWS
    assert "{file_url}" in inventory


def test_every_api_row_resolves_to_a_registered_handler() -> None:
    unresolved = []
    for row in ROWS:
        if ":" in row:
            continue
        path = row.replace("{conversation_id}", "0" * 8 + "-0000-4000-8000-" + "0" * 12)
        path = path.replace("{team_id}", "1" * 8 + "-0000-4000-8000-" + "0" * 12)
        found = resolve(path.strip("/"))
        if found is None or found[0].path not in HANDLERS:
            unresolved.append(row)
    assert unresolved == []


@pytest.mark.asyncio
async def test_every_row_answers_a_real_call(fake: FakeFleep, http: httpx.AsyncClient) -> None:
    alice_acc = fake.create_account("alice@example.com", "pw", "Alice")
    fake.create_account("bob@example.com", "pw", "Bob")
    fake.create_account("carol@example.com", "pw", "Carol")
    alice = await RawUser.login(http, "alice@example.com", "pw")
    bob = await RawUser.login(http, "bob@example.com", "pw")
    carol = await RawUser.login(http, "carol@example.com", "pw")
    conv = (await alice.call("conversation/create", {"topic": "all", "emails": "bob@example.com"}))[
        "header"
    ]["conversation_id"]
    other = (await alice.call("conversation/create", {"topic": "other", "is_autojoin": True}))[
        "header"
    ]
    await alice.call(f"message/send/{conv}", {"message": "searchable words"})
    upload = await alice.upload("a.txt", b"abc")
    sent = await alice.call(f"message/send/{conv}", {"attachments": [upload["upload_url"]]})
    file_url = next(r for r in sent["stream"] if r["mk_rec_type"] == "file")["file_url"]
    hook = (await alice.call(f"conversation/create_hook/{conv}", {"hook_name": "h"}))["hook_info"]
    team = (await alice.call("team/create", {"team_name": "T", "is_autojoin": True}))["stream"][0]
    label = (await alice.call("label/store", {"label": "L"}))["stream"][0]
    smtp = (
        await alice.call(
            "account/smtp/store",
            {
                "smtp_address": "a@x.io",
                "smtp_username": "u",
                "smtp_password": "p",
                "smtp_host": "h",
            },
        )
    )["stream"][0]
    await alice.call("alias/add", {"emails": "alias@example.com"})
    alias_mail = fake.outbox[-1]
    register = {"email": "reg@example.com", "display_name": "R", "password": "pw"}
    assert (await http.post("/api/account/register", json=register)).status_code == 200
    reg_mail = fake.outbox[-1]
    assert (
        await http.post("/api/account/register/v2", json={"email": "reg2@example.com"})
    ).status_code == 200
    reg2_mail = fake.outbox[-1]
    assert (
        await http.post("/api/account/register/v2", json={"email": "reg3@example.com"})
    ).status_code == 200
    reg3_mail = fake.outbox[-1]
    reset = await http.post("/api/account/reset_password", json={"email": "bob@example.com"})
    assert reset.status_code == 200
    bob_mail = fake.outbox[-1]
    cid = {"conversation_id": conv}

    # row -> (user, body) ; user None means an unauthenticated raw POST
    plan: list[tuple[str, RawUser | None, dict[str, Any]]] = [
        ("account/login", None, {"email": "carol@example.com", "password": "pw"}),
        (
            "account/register",
            None,
            {"email": "x@example.com", "display_name": "X", "password": "pw"},
        ),
        ("account/register/v2", None, {"email": "y@example.com"}),
        ("account/reset_password", None, {"email": "carol@example.com"}),
        ("account/click_reminder", alice, {"reminder_id": conv}),
        ("account/poll", alice, {"event_horizon": 0, "wait": False}),
        ("account/listen", alice, {"event_horizon": 1, "wait": False}),
        ("account/sync", alice, {}),
        ("account/sync_conversations", alice, {"conversation_ids": [conv]}),
        ("account/configure", alice, {"display_name": "Alice A"}),
        (
            "account/configure_email_interval",
            None,
            {"notification_id": bob_mail.notification_id, "email_interval": "daily"},
        ),
        ("alias/confirm", None, {"notification_id": alias_mail.notification_id}),
        ("account/configure_primary_email", alice, {"primary_email": "alias@example.com"}),
        ("account/confirm", None, {"notification_id": reg_mail.notification_id}),
        (
            "account/confirm/v2",
            None,
            {
                "notification_id": reg2_mail.notification_id,
                "display_name": "R2",
                "password": "pw",
                "fleep_address": "reg.two",
            },
        ),
        ("account/export/start", alice, {}),
        ("account/lookup", alice, {"lookup_list": ["bob@example.com"]}),
        (
            "account/prepare/v2",
            None,
            {"registration_code": reg3_mail.registration_code, "registration_mail": reg3_mail.to},
        ),
        ("account/set_flag", alice, {"client_flag": "x"}),
        ("account/unsubscribe", None, {"notification_id": bob_mail.notification_id}),
        ("avatar/upload", alice, {}),
        ("avatar/delete", alice, {}),
        ("alias/add", alice, {"emails": "alias2@example.com"}),
        ("alias/remove", alice, {"emails": "alias2@example.com"}),
        ("alias/sync", alice, {}),
        ("classificators", alice, {}),
        ("contact/describe", alice, {"contact_id": bob.account_id, "contact_name": "B"}),
        ("contact/hide", alice, {"contacts": [bob.account_id]}),
        ("contact/import", alice, {"contact_list": [{"addr_full": "d@example.com"}]}),
        ("contact/sync", alice, {"contact_id": bob.account_id}),
        ("contact/sync/activity", alice, {"contacts": [bob.account_id]}),
        ("contact/sync/all", alice, {}),
        ("contact/sync/list", alice, {"contacts": [bob.account_id]}),
        ("contact/unlist", alice, {"contact_id": bob.account_id}),
        ("conversation/add_members/{conversation_id}", alice, {"emails": "carol@example.com"}),
        ("conversation/autojoin", bob, {"conv_url_key": other["autojoin_url"]}),
        ("conversation/check_permissions/{conversation_id}", alice, {}),
        ("conversation/convert_api/{conversation_id}", alice, {}),
        ("conversation/create", alice, {"topic": "new"}),
        ("conversation/create_call/{conversation_id}", alice, {"provider": "Whereby"}),
        ("conversation/disclose/{conversation_id}", alice, {"emails": "carol@example.com"}),
        ("conversation/disclose_all/{conversation_id}", alice, {"emails": "carol@example.com"}),
        ("conversation/hide/{conversation_id}", alice, {}),
        ("conversation/unhide/{conversation_id}", alice, {}),
        ("conversation/list", alice, {"sync_horizon": 0}),
        ("conversation/mark_read/{conversation_id}", alice, {}),
        ("conversation/poke/{conversation_id}", alice, {"message_nr": 5}),
        ("conversation/set_alerts/{conversation_id}", alice, {"mk_alert_level": "default"}),
        ("conversation/set_topic/{conversation_id}", alice, {"topic": "renamed"}),
        ("conversation/show_activity/{conversation_id}", alice, {"is_writing": True}),
        ("conversation/slash_command/{conversation_id}", alice, {"message": "/giphy"}),
        ("conversation/store/{conversation_id}", alice, {"label_ids": [label["label_id"]]}),
        ("conversation/sync/{conversation_id}", alice, {}),
        ("conversation/sync_backward/{conversation_id}", alice, {"from_message_nr": 3}),
        ("conversation/sync_files/{conversation_id}", alice, {}),
        ("conversation/sync_pins/{conversation_id}", alice, {}),
        ("conversation/sync_teams/{conversation_id}", alice, {}),
        ("file/upload/", alice, {}),
        ("file/upload/external/", alice, {"file_url": "https://x/y", "file_name": "y"}),
        (
            "conversation/configure_hook/{conversation_id}",
            alice,
            {"hook_key": hook["hook_key"], "hook_name": "h2"},
        ),
        ("conversation/show_hooks/{conversation_id}", alice, {}),
        ("POST:/hook/{hook_id}", None, {"message": "hooked"}),
        ("conversation/drop_hook/{conversation_id}", alice, {"hook_key": hook["hook_key"]}),
        ("conversation/create_hook/{conversation_id}", alice, {}),
        ("label/sync_conversations", alice, {"label_id": label["label_id"]}),
        ("message/send/{conversation_id}", alice, {"message": "hi"}),
        ("message/store/{conversation_id}", alice, {"message": "stored", "client_req_id": "c1"}),
        ("message/edit/{conversation_id}", alice, {"message_nr": 2, "message": "edited"}),
        ("message/mark_read/{conversation_id}", bob, {"message_nr": 2}),
        ("message/mark_unread/{conversation_id}", bob, {"message_nr": 2}),
        (
            "message/copy/{conversation_id}",
            alice,
            {"message_nr": 2, "to_conv_id": other["conversation_id"]},
        ),
        ("message/delete/{conversation_id}", alice, {"message_nr": 2}),
        ("search", alice, {"keywords": "searchable"}),
        ("search/prepare", alice, {}),
        ("search/reset", alice, {}),
        ("search/suggest", alice, {"keywords": "sea"}),
        ("account/sync_pinboard", alice, cid),
        ("account/sync_taskboard", alice, {**cid, "section_id": conv}),
        ("account/smtp/configure", alice, {"smtp_id": smtp["smtp_id"], "smtp_host": "h2"}),
        ("account/smtp/list", alice, {}),
        (
            "account/smtp/store",
            alice,
            {
                "smtp_address": "b@x.io",
                "smtp_username": "u",
                "smtp_password": "p",
                "smtp_host": "h",
            },
        ),
        ("account/external/account/list", alice, {"mk_external_account_type": "trello"}),
        ("account/trello/board/list", alice, {"external_account_id": conv}),
        ("team/sync/{team_id}", alice, {}),
        ("team/autojoin", carol, {"team_url_key": team["autojoin_url"]}),
        ("team/configure/{team_id}", alice, {"team_name": "T2"}),
        ("team/create", alice, {"team_name": "T3"}),
        ("team/remove/{team_id}", alice, {}),
        ("GET:{file_url}", bob, {}),
        ("conversation/remove_members/{conversation_id}", alice, {"emails": "carol@example.com"}),
        ("conversation/unsubscribe/{conversation_id}", alice, {"email": "bob@example.com"}),
        ("conversation/leave/{conversation_id}", alice, {}),
        ("conversation/delete/{conversation_id}", alice, {}),
        ("account/logout", alice, {}),
    ]
    served: dict[str, int] = {}
    for row, user, body in plan:
        response = await _call(http, row, user, body, conv, team["team_id"], hook, file_url)
        served[row] = response.status_code
        expected = 431 if row in OUT_OF_SCOPE else 200
        assert response.status_code == expected, (row, response.status_code, response.text)
        if row in OUT_OF_SCOPE:
            assert response.json()["error_id"] == "not_supported_by_fakefleep"
    assert sorted(served) == sorted(ROWS)
    assert alice_acc.account_id == alice.account_id


async def _call(
    http: httpx.AsyncClient,
    row: str,
    user: RawUser | None,
    body: dict[str, Any],
    conv: str,
    team_id: str,
    hook: dict[str, Any],
    file_url: str,
) -> httpx.Response:
    if row == "POST:/hook/{hook_id}":
        return await http.post("/hook/" + hook["hook_url"].rsplit("/", 1)[1], json=body)
    if row == "GET:{file_url}":
        assert user is not None
        return await http.get(file_url, headers=user.cookie_header)
    path = row.replace("{conversation_id}", conv).replace("{team_id}", team_id)
    if row in ("file/upload/", "avatar/upload"):
        assert user is not None
        return await http.post(
            f"/api/{path}",
            params={"ticket": user.ticket},
            files={"files": ("f.bin", b"\x00\x01")},
            headers=user.cookie_header,
        )
    if user is None:
        return await http.post(f"/api/{path}", json=body)
    return await user.raw(path, body)


BAD_BODIES: list[dict[str, Any]] = [
    {},
    {
        "message_nr": "x",
        "emails": 5,
        "email": ["a"],
        "contacts": "nope",
        "contact_id": "not-a-uuid",
        "conversation_ids": [1, 2],
        "label_id": 7,
        "keywords": None,
        "tags": "pin",
        "attachments": ["https://fleep.test/upload/unknown/x"],
        "wait": "maybe",
        "event_horizon": "soon",
        "poll_flags": 3,
        "contact_list": [{"addr_full": 1}],
        "team_name": "",
        "lookup_list": "bob@example.com",
        "mk_direction": "sideways",
        "mk_alert_level": "loud",
        "to_conv_id": "00000000-0000-4000-8000-000000000000",
    },
]


@pytest.mark.asyncio
@pytest.mark.parametrize("body", BAD_BODIES, ids=["empty", "mistyped"])
async def test_no_row_crashes_on_empty_or_mistyped_bodies(
    fake: FakeFleep, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    fake.create_account("alice@example.com", "pw", "Alice")
    fake.create_account("bob@example.com", "pw", "Bob")
    alice = await RawUser.login(http, "alice@example.com", "pw")
    conv = (await alice.call("conversation/create", {"emails": "bob@example.com"}))["header"][
        "conversation_id"
    ]
    await alice.call(f"message/send/{conv}", {"message": "x"})
    team_id = (await alice.call("team/create", {"team_name": "T"}))["stream"][0]["team_id"]
    statuses: dict[str, int] = {}
    for row in ROWS:
        if ":" in row or row == "account/logout":
            continue
        path = row.replace("{conversation_id}", conv).replace("{team_id}", team_id)
        # An unhandled error would raise through ASGITransport and fail the test here.
        response = await alice.raw(path, dict(body))
        statuses[row] = response.status_code
        assert response.headers["content-type"].startswith("application/json"), row
        assert set(response.json()) >= (
            {"error_id", "error_message"} if response.status_code != 200 else set()
        )
    assert set(statuses.values()) <= {200, 400, 401, 430, 431}
    assert 400 in statuses.values()
