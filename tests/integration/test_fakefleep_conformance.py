"""Every record FakeFleep emits decodes with the client's STRICT converter.

A scripted session touches most endpoints; every record from every poll stream and every
answer (``header``, ``stream``, ``hook_info``, ``profiles``, ``contacts``, ``matches``,
``hooks``, ...) must structure into its ``fleep_async.models`` class with no extra keys and exact
types. A field FakeFleep invents, or a type it gets wrong, fails here.
"""

from __future__ import annotations

from typing import Any

import cattrs
import httpx
import pytest

from fleep_async._converter import strict_converter
from fleep_async.models.records import RECORD_TYPES
from fleep_async.testing import FakeFleep, RawUser

pytestmark = pytest.mark.asyncio

Record = dict[str, Any]
RECORD_LISTS = ("stream", "profiles", "contacts", "matches", "hooks", "headers", "conversations")
RECORD_OBJECTS = ("header", "hook_info")

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x03\x08\x02\x00\x00\x00"
    b"\x00\x00\x00\x00"
)


def structure_strict(raw: Record) -> object:
    """Decode one raw record with the strict converter into its model class."""
    cls = RECORD_TYPES[raw["mk_rec_type"]]
    return strict_converter.structure(raw, cls)


def collect(answer: Any, into: list[Record]) -> Any:
    """Pull every record out of an API answer."""
    if isinstance(answer, dict):
        if "mk_rec_type" in answer:
            into.append(answer)
        for key in RECORD_LISTS:
            value = answer.get(key)
            if isinstance(value, list):
                into.extend(r for r in value if isinstance(r, dict) and "mk_rec_type" in r)
        for key in RECORD_OBJECTS:
            value = answer.get(key)
            if isinstance(value, dict):
                into.append(value)
    return answer


async def scripted_session(fake: FakeFleep, http: httpx.AsyncClient) -> list[Record]:
    """Drive many endpoints as three users; return every record seen."""
    seen: list[Record] = []
    fake.create_account("alice@example.com", "pw", "Alice")
    fake.create_account("bob@example.com", "pw", "Bob")
    fake.create_account("carol@example.com", "pw", "Carol")
    alice = await RawUser.login(http, "alice@example.com", "pw")
    bob = await RawUser.login(http, "bob@example.com", "pw")
    carol = await RawUser.login(http, "carol@example.com", "pw")
    collect(alice.login_response, seen)

    async def call(user: RawUser, path: str, body: dict[str, Any] | None = None) -> Any:
        return collect(await user.call(path, body), seen)

    created = await call(
        alice,
        "conversation/create",
        {"topic": "conformance", "emails": "bob@example.com, stranger@example.com"},
    )
    conv = created["header"]["conversation_id"]
    other = (await call(bob, "conversation/create", {"topic": "other"}))["header"]
    await call(alice, f"message/send/{conv}", {"message": "hello *world* www.example.com"})
    upload = await alice.upload("pic.png", PNG, "image/png")
    await call(
        alice, f"message/send/{conv}", {"message": "pic", "attachments": [upload["upload_url"]]}
    )
    await call(alice, f"message/store/{conv}", {"message": "req", "client_req_id": "r-1"})
    await call(alice, f"message/edit/{conv}", {"message_nr": 2, "message": "edited"})
    await call(alice, f"message/store/{conv}", {"message_nr": 2, "tags": ["pin"], "pin_weight": 2})
    await call(alice, f"message/store/{conv}", {"message_nr": 2, "tags": []})
    await call(alice, f"message/store/{conv}", {"message": "task", "tags": ["is_todo"]})
    await call(bob, f"message/delete/{conv}", {"message_nr": 3})
    await call(bob, f"message/mark_read/{conv}", {"message_nr": 4})
    await call(bob, f"message/mark_unread/{conv}", {"message_nr": 4})
    await call(
        bob, f"message/copy/{conv}", {"message_nr": 4, "to_conv_id": other["conversation_id"]}
    )
    hook = await call(alice, f"conversation/create_hook/{conv}", {"hook_name": "CI"})
    hook_path = "/hook/" + hook["hook_info"]["hook_url"].rsplit("/", 1)[1]
    assert (
        await http.post(hook_path, json={"message": "from ci", "user": "CI"})
    ).status_code == 200
    await call(
        alice,
        f"conversation/configure_hook/{conv}",
        {"hook_key": hook["hook_info"]["hook_key"], "hook_name": "CI2"},
    )
    await call(alice, f"conversation/show_hooks/{conv}")
    await call(alice, f"conversation/set_topic/{conv}", {"topic": "renamed"})
    await call(alice, f"conversation/add_members/{conv}", {"emails": "carol@example.com"})
    await call(carol, f"conversation/show_activity/{conv}", {"is_writing": True})
    await call(alice, f"conversation/poke/{conv}", {"message_nr": 1})
    await call(alice, f"conversation/set_alerts/{conv}", {"mk_alert_level": "never"})
    await call(alice, f"conversation/store/{conv}", {"labels": ["work"], "snooze_interval": 60})
    await call(alice, f"conversation/sync/{conv}")
    await call(alice, f"conversation/sync/{conv}", {"mk_direction": "ic_tiny"})
    await call(
        alice, f"conversation/sync/{conv}", {"from_message_nr": 1, "mk_direction": "ic_flow"}
    )
    await call(alice, f"conversation/sync_files/{conv}")
    await call(alice, f"conversation/sync_pins/{conv}")
    await call(alice, f"conversation/mark_read/{conv}", {"mk_init_mode": "ic_full"})
    await call(alice, f"conversation/hide/{conv}")
    await call(alice, f"conversation/unhide/{conv}")
    await call(alice, "conversation/list", {"sync_horizon": 0})
    team = await call(alice, "team/create", {"team_name": "Team", "emails": "carol@example.com"})
    team_id = team["stream"][0]["team_id"]
    await call(alice, f"team/configure/{team_id}", {"add_conversations": [conv]})
    await call(alice, f"conversation/sync_teams/{conv}")
    await call(alice, "label/store", {"label": "later"})
    labels = (await alice.call("label/store", {"label": "later2"}))["stream"]
    await call(alice, "label/sync_conversations", {"label_id": labels[0]["label_id"]})
    await call(alice, "contact/describe", {"contact_id": bob.account_id, "contact_name": "B"})
    await call(alice, "contact/sync/all")
    await call(alice, "contact/sync/list", {"contacts": [bob.account_id]})
    await call(alice, "contact/sync/activity", {"contacts": [bob.account_id]})
    await call(alice, "contact/import", {"contact_list": [{"addr_full": "Dan <dan@example.com>"}]})
    collect(await alice.call("contact/sync", {"contact_id": bob.account_id}), seen)
    await call(alice, "account/lookup", {"lookup_list": ["bob@example.com", "new@example.com"]})
    await call(alice, "account/configure", {"display_name": "Alice A", "phone_nr": "+372"})
    await call(alice, "account/set_flag", {"client_flag": "tour_done"})
    await call(alice, "alias/add", {"emails": "alice.alt@example.com"})
    await call(alice, "alias/sync")
    await call(
        alice,
        "account/smtp/store",
        {"smtp_address": "a@x.io", "smtp_username": "u", "smtp_password": "p", "smtp_host": "h"},
    )
    await call(alice, "search", {"keywords": "edited"})
    await call(alice, "account/sync_pinboard", {"conversation_id": conv})
    fake.external_files["https://files.example/x.png"] = PNG
    await call(
        alice,
        "file/upload/external/",
        {"file_url": "https://files.example/x.png", "file_name": "x.png"},
    )
    await call(alice, "file/upload/external/", {"file_url": "https://nowhere/", "file_name": "y"})
    await call(bob, f"conversation/leave/{conv}")
    await call(alice, f"conversation/drop_hook/{conv}", {"hook_key": hook["hook_info"]["hook_key"]})
    for user in (alice, bob, carol):
        _, records, responses = await user.initial_sync()
        seen.extend(records)
        _, live = await user.drain(1)
        seen.extend(live)
        assert responses
    return seen


async def test_every_emitted_record_decodes_with_the_strict_converter(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    records = await scripted_session(fake, http)
    failures: dict[str, str] = {}
    for raw in records:
        try:
            structure_strict(raw)
        except Exception as exc:  # report every type that fails, not just the first
            failures.setdefault(raw["mk_rec_type"], repr(exc)[:500])
    assert failures == {}
    kinds = {r["mk_rec_type"] for r in records}
    assert kinds >= {
        "conv", "message", "contact", "activity", "hook", "file", "label", "team", "request",
        "poke", "lastseen", "upload", "smtp",
    }  # fmt: skip
    assert len(records) > 200


async def test_strict_converter_rejects_an_invented_field() -> None:
    """The conformance check can fail: an unknown key on a known record type is refused."""
    raw = {
        "mk_rec_type": "poke",
        "account_id": "3c2c8dee-02c6-4280-9306-d76a932cd79e",
        "conversation_id": "3c2c8dee-02c6-4280-9306-d76a932cd79f",
        "message_nr": 1,
    }
    structure_strict(raw)
    with pytest.raises(cattrs.errors.ClassValidationError):
        structure_strict({**raw, "invented_by_fakefleep": True})
