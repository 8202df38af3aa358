"""FakeFleep agrees with Fleep's own server tests on accounts, aliases, labels and members.

Each test is named after what the real server does, as the newest versions of Fleep's
``account_configure``, ``alias``, ``system_labels``, ``label``, ``members``,
``conversation_sync`` and ``read`` specs show it.
"""

from __future__ import annotations

import json

import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import LoginFn, Record, of_type

pytestmark = pytest.mark.asyncio


async def _alias(fake: FakeFleep, user: RawUser, email: str) -> None:
    """Add ``email`` as an alias of ``user`` and confirm it from its mail."""
    await user.call("alias/add", {"emails": email})
    mail = next(m for m in reversed(fake.outbox) if m.to == email)
    await user.call("alias/confirm", {"notification_id": mail.notification_id})


async def _own(user: RawUser, horizon: int) -> Record:
    """The newest own contact record the poll brought since ``horizon``."""
    _, records = await user.drain(horizon)
    return [c for c in of_type(records, "contact") if c["account_id"] == user.account_id][-1]


# ------------------------------------------------------------------ own contact and settings


async def test_account_configure_answers_and_polls_the_own_contact_with_its_storage_use(
    alice: RawUser,
) -> None:
    horizon = (await alice.call("account/sync"))["event_horizon"]
    answer = await alice.call("account/configure", {"display_name": "Batman"})
    assert (answer["display_name"], answer["storage_used_bytes"]) == ("Batman", 0)
    assert (await _own(alice, horizon))["storage_used_bytes"] == 0


async def test_client_settings_come_back_as_compact_json_with_earlier_settings_kept(
    alice: RawUser,
) -> None:
    first = await alice.call("account/configure", {"client_settings": '{"phone_nr": "12345"}'})
    assert first["client_settings"] == '{"phone_nr":"12345"}'
    # The docs call the parameter a "dict of changed client settings": the rest stays.
    later = await alice.call("account/configure", {"client_settings": '{"theme": "dark"}'})
    assert json.loads(later["client_settings"]) == {"phone_nr": "12345", "theme": "dark"}


async def test_settings_that_are_not_a_json_object_are_refused_and_change_nothing(
    alice: RawUser,
) -> None:
    refused = await alice.raw(
        "account/configure", {"display_name": "Changed", "client_settings": "[1, 2]"}
    )
    assert refused.status_code == 400
    assert "client_settings" in refused.json()["error_message"]
    own = await alice.call("account/configure", {})
    assert own["display_name"] == "Alice Adamson"
    assert "client_settings" not in own


# ------------------------------------------------------------------ aliases


async def test_alias_sync_answers_the_aliases_then_the_own_contact_with_their_ids(
    fake: FakeFleep, alice: RawUser
) -> None:
    await _alias(fake, alice, "alice.work@example.com")
    synced = await alice.call("alias/sync")
    assert synced["failed"] is None
    alias, own = synced["stream"]
    assert (alias["mk_account_status"], alias["email"]) == ("alias", "alice.work@example.com")
    assert (alias["dialog_id"], alias["sort_rank"]) == (None, 0)
    assert own["account_id"] == alice.account_id
    assert own["alias_account_ids"] == [alias["account_id"]]
    assert own["storage_used_bytes"] == 0
    await alice.call("alias/remove", {"emails": "alice.work@example.com"})
    (own,) = (await alice.call("alias/sync"))["stream"]
    assert (own["account_id"], own["alias_account_ids"]) == (alice.account_id, [])


async def test_a_new_primary_email_swaps_addresses_with_its_alias(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str, login: LoginFn
) -> None:
    await _alias(fake, alice, "alice.work@example.com")
    horizon = (await bob.call("account/sync"))["event_horizon"]
    own = await alice.call("account/configure", {"primary_email": "alice.work@example.com"})
    assert own["email"] == "alice.work@example.com"
    alias, _ = (await alice.call("alias/sync"))["stream"]
    # The alias account now holds the old primary address (Fleep's account_configure spec
    # sees it under the old address's owner afterwards).
    assert alias["email"] == "alice@example.com"
    assert own["alias_account_ids"] == [alias["account_id"]]
    seen = of_type((await bob.drain(horizon))[1], "contact")
    assert [c["email"] for c in seen if c["account_id"] == alice.account_id][-1] == (
        "alice.work@example.com"
    )
    # Both addresses still log the owner in.
    for email in ("alice.work@example.com", "alice@example.com"):
        assert (await login(email)).account_id == alice.account_id


# ------------------------------------------------------------------ labels


async def test_the_automatic_one_to_one_label_is_in_label_ids_but_not_in_labels(
    alice: RawUser,
) -> None:
    _, records, _ = await alice.initial_sync()
    one_to_one = next(r for r in of_type(records, "label") if r["label"] == "1:1 Conversations")
    answer = await alice.call("label/sync_conversations", {"label_id": one_to_one["label_id"]})
    (dialog,) = of_type(answer["stream"], "conv")
    assert dialog["label_ids"] == [one_to_one["label_id"]]
    assert "labels" not in dialog


async def test_label_store_by_name_with_index_minus_one_removes_that_label(
    alice: RawUser,
) -> None:
    made = (await alice.call("label/store", {"label": "full-stack"}))["stream"][0]
    renamed = (
        await alice.call("label/store", {"label": "marketing", "label_id": made["label_id"]})
    )["stream"][0]
    assert (renamed["label_id"], renamed["label"]) == (made["label_id"], "marketing")
    removed = (await alice.call("label/store", {"label": "marketing", "index": -1}))["stream"][0]
    assert (removed["label_id"], removed["mk_label_status"]) == (made["label_id"], "removed")
    # The name is free again: storing it makes a new label.
    again = (await alice.call("label/store", {"label": "marketing"}))["stream"][0]
    assert again["label_id"] != made["label_id"]


async def test_a_system_label_cannot_be_removed_by_name(alice: RawUser) -> None:
    refused = await alice.raw("label/store", {"label": "Spam", "index": -1})
    assert refused.status_code == 431


async def test_the_actor_polls_the_label_names_it_stored_on_a_conversation(
    alice: RawUser, conv: str
) -> None:
    await alice.call(f"conversation/store/{conv}", {"labels": ["backend", "frontend"]})
    horizon = (await alice.call("account/sync"))["event_horizon"]
    await alice.call(f"conversation/store/{conv}", {"labels": ["finance"]})
    _, records = await alice.drain(horizon)
    header = [h for h in of_type(records, "conv") if h["conversation_id"] == conv][-1]
    assert header["labels"] == ["finance"]
    assert len(header["label_ids"]) == 1


# ------------------------------------------------------------------ members


async def test_add_members_answers_the_member_lists_and_the_newcomers_activity(
    alice: RawUser, bob: RawUser
) -> None:
    conv = (await alice.call("conversation/create", {"topic": "members"}))["header"][
        "conversation_id"
    ]
    added = await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    assert [r["mk_rec_type"] for r in added["stream"]] == ["message", "activity"]
    activity = added["stream"][1]
    assert (activity["account_id"], activity["conversation_id"]) == (bob.account_id, conv)
    assert activity["join_message_nr"] == 1
    header = added["header"]
    assert (header["members"], header["leavers"]) == ([alice.account_id, bob.account_id], [])


async def test_remove_members_answers_the_header_with_members_leavers_and_guests(
    alice: RawUser, bob: RawUser
) -> None:
    conv = (await alice.call("conversation/create", {"topic": "removeMember"}))["header"][
        "conversation_id"
    ]
    await alice.call(f"conversation/add_members/{conv}", {"emails": "bob@example.com"})
    removed = await alice.call(f"conversation/remove_members/{conv}", {"emails": "bob@example.com"})
    header = removed["header"]
    assert (header["members"], header["leavers"]) == ([alice.account_id], [bob.account_id])
    assert (header["default_members"], header["guests"]) == ([], [])
    assert (header["last_message_nr"], header["read_message_nr"]) == (3, 3)
    # The actor's shape: no fields of the live flow.
    assert not {"fw_message_nr", "mk_init_mode", "is_full"} & set(header)


async def test_a_conversation_created_with_two_others_is_not_a_list(
    fake: FakeFleep, alice: RawUser, bob: RawUser, login: LoginFn
) -> None:
    # The newest conversation_sync, read and main specs (older versions expected a list).
    fake.create_account("carol@example.com", "pw", "Carol")
    carol = await login("carol@example.com")
    group = (
        await alice.call(
            "conversation/create",
            {"topic": "readings", "account_ids": [bob.account_id, carol.account_id]},
        )
    )["header"]
    assert (group["is_list"], group["mk_conv_type"]) == (False, "cct_default")
    assert (group["inactives"], group["pin_cursor"], group["pin_sync_state"]) == ([], None, None)
    chosen = (
        await alice.call(
            "conversation/create",
            {"account_ids": [bob.account_id, carol.account_id], "is_list": True},
        )
    )["header"]
    assert chosen["is_list"] is True


# ------------------------------------------------------------------ contacts


async def test_a_contacts_sort_rank_follows_the_last_hide_import_or_description(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    def rank_of(answer: Record) -> tuple[int, str | None]:
        return answer["sort_rank"], answer.get("contact_name")

    assert rank_of(await alice.call("contact/sync", {"contact_id": bob.account_id})) == (1, None)
    await alice.call("contact/describe", {"contact_id": bob.account_id, "contact_name": "Brother"})
    described = await alice.call("contact/sync", {"contact_id": bob.account_id})
    # The describer's name is the display name; there is no separate contact_name.
    assert (described["display_name"], rank_of(described)) == ("Brother", (4, None))
    await alice.call("contact/hide", {"contacts": [bob.account_id]})
    assert rank_of(await alice.call("contact/sync", {"contact_id": bob.account_id})) == (0, None)
    imported = await alice.call(
        "contact/import",
        {"contact_list": [{"addr_full": "donald@example.com", "addr_descr": "President"}]},
    )
    (donald,) = imported["stream"]
    assert (donald["mk_account_status"], donald["display_name"]) == ("new", "President")
    assert (donald["dialog_id"], donald["sort_rank"]) == (None, 3)
    # Bob's own view of Alice is untouched.
    assert (await bob.call("contact/sync", {"contact_id": alice.account_id}))["sort_rank"] == 1


async def test_activity_sync_skips_contacts_the_client_has_no_id_for(
    alice: RawUser, bob: RawUser, conv: str
) -> None:
    answer = await alice.call("contact/sync/activity", {"contacts": [bob.account_id, None]})
    assert [r["account_id"] for r in answer["stream"]] == [bob.account_id]
    refused = await alice.raw("contact/sync/activity", {"contacts": [bob.account_id, 7]})
    assert refused.status_code == 400
