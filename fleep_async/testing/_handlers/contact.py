"""``contact/*``: the contact list, descriptions, imports and activity."""

from __future__ import annotations

import re
from typing import Final

from fleep_async.testing._http.errors import bad_request, business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState
from fleep_async.testing._world.world import World

MAX_EXTERNAL_SIZE: Final = 1024**3


def _contact(world: World, contact_id: str) -> AccountState:
    account = world.accounts.get(contact_id)
    if account is None:
        raise business("unknown_contact", "Unknown contact.")
    return account


@handler("contact/describe")
def contact_describe(ctx: Ctx) -> Result:
    """Set your private name / phone for a contact."""
    world, me = ctx.world, ctx.me
    contact = _contact(world, ctx.params.req_uuid("contact_id"))
    old_name, old_phone = me.contact_notes.get(contact.account_id, (None, None))
    name = ctx.params.text("contact_name") if ctx.params.has("contact_name") else old_name
    phone = ctx.params.text("phone_nr") if ctx.params.has("phone_nr") else old_phone
    me.contact_notes[contact.account_id] = (name, phone)
    me.contact_ranks[contact.account_id] = rec.DESCRIBED_RANK
    me.known_contacts.add(contact.account_id)
    record = world.contact_for(contact, me)
    world.emit(me.account_id, [record])
    return {"stream": [record]}


@handler("contact/hide")
def contact_hide(ctx: Ctx) -> Result:
    """Hide contacts from add-member suggestions."""
    world, me = ctx.world, ctx.me
    hidden = []
    for contact_id in ctx.params.uuids("contacts", required=True) or []:
        if contact_id in world.accounts and contact_id != me.account_id:
            me.hidden_contacts.add(contact_id)
            me.contact_ranks[contact_id] = rec.HIDDEN_RANK
            hidden.append(contact_id)
            world.emit(me.account_id, [world.contact_for(world.accounts[contact_id], me)])
    return {"contacts": hidden}


@handler("contact/unlist")
def contact_unlist(ctx: Ctx) -> Result:
    """Drop a contact from dialog suggestions."""
    contact = _contact(ctx.world, ctx.params.req_uuid("contact_id"))
    ctx.me.unlisted_contacts.add(contact.account_id)
    return {}


@handler("contact/import")
def contact_import(ctx: Ctx) -> Result:
    """Import address-book entries (strangers become "new" contacts)."""
    world, me = ctx.world, ctx.me
    items = ctx.params.raw("contact_list")
    if not isinstance(items, list):
        raise bad_request("Missing required field: contact_list.")
    stream = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("addr_full"), str):
            raise bad_request("Invalid value for contact_list.")
        address = item["addr_full"]
        match = re.search(r"[^\s<>\"']+@[^\s<>\"']+", address)
        if match is None:
            raise bad_request("Invalid value for contact_list: no email address.")
        account = world.find_account(match.group(0)) or world.create_account(
            match.group(0), None, status="new"
        )
        if account.account_id == me.account_id:
            continue
        me.known_contacts.add(account.account_id)
        me.contact_ranks[account.account_id] = rec.IMPORTED_RANK
        descr, phone = item.get("addr_descr"), item.get("phone_nr")
        if isinstance(descr, str) or isinstance(phone, str):
            me.contact_notes[account.account_id] = (
                descr if isinstance(descr, str) else None,
                phone if isinstance(phone, str) else None,
            )
        stream.append(world.contact_for(account, me))
    world.emit(me.account_id, list(stream))
    return {"stream": stream}


@handler("contact/sync")
def contact_sync(ctx: Ctx) -> Result:
    """One contact, at the top level of the answer."""
    contact = _contact(ctx.world, ctx.params.req_uuid("contact_id"))
    return ctx.world.contact_for(contact, ctx.me)


@handler("contact/sync/list")
def contact_sync_list(ctx: Ctx) -> Result:
    """Several contacts."""
    world, me = ctx.world, ctx.me
    ids = ctx.params.uuids("contacts", required=True) or []
    return {
        "contacts": [world.contact_for(world.accounts[i], me) for i in ids if i in world.accounts]
    }


@handler("contact/sync/all")
def contact_sync_all(ctx: Ctx) -> Result:
    """All contacts except ``ignore`` (optionally filtered by ``search_str``)."""
    world, me = ctx.world, ctx.me
    ignore = set(ctx.params.uuids("ignore") or [])
    needle = (ctx.params.text("search_str") or "").lower()
    out = []
    for contact_id in world.contacts_of(me):
        account = world.accounts[contact_id]
        if contact_id in ignore:
            # Hidden contacts stay listed, flagged ``is_hidden_for_add`` (Fleep Support is one).
            continue
        haystack = f"{account.display_name} {account.email} {account.fleep_address or ''}"
        if needle and needle not in haystack.lower():
            continue
        out.append(world.contact_for(account, me))
    return {"contacts": out}


@handler("contact/sync/activity")
def contact_sync_activity(ctx: Ctx) -> Result:
    """Last-seen times."""
    world = ctx.world
    # A null stands for a contact the client has no id for (an e-mail-only address, in Fleep's
    # contacts spec): it is skipped, like an account that was never active.
    ids = ctx.params.uuids("contacts", required=True, skip_nulls=True) or []
    stream = [
        {
            "mk_rec_type": "lastseen",
            "account_id": i,
            "activity_time": world.accounts[i].activity_time,
        }
        for i in ids
        if i in world.accounts and not world.accounts[i].is_full_privacy
    ]
    return {"stream": stream}
