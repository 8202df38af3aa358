"""``alias/*``: extra e-mail addresses of an account."""

from __future__ import annotations

from fleep_async.testing._handlers.account import find_pending, parse_emails
from fleep_async.testing._http.errors import business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world.state import AccountState, Alias, Record
from fleep_async.testing._world.world import World


def _alias_stream(world: World, me: AccountState) -> list[Record]:
    out = []
    for alias in me.aliases:
        alias_account = world.accounts.get(alias.alias_account_id)
        if alias_account is None:
            continue
        record = world.contact_for(alias_account, me)
        if alias.confirmed:
            # A confirmed alias is one of the owner's own addresses: no dialog, the lowest rank
            # (Fleep's alias spec).
            record.update(mk_account_status="alias", dialog_id=None, sort_rank=0)
        else:
            record["mk_account_status"] = "new"
        out.append(record)
    return out


@handler("alias/add")
def alias_add(ctx: Ctx) -> Result:
    """Add email aliases; each gets a confirmation mail."""
    world, me = ctx.world, ctx.me
    for email in parse_emails(ctx.params.req_text("emails")):
        if any(a.email.lower() == email.lower() for a in me.aliases):
            continue
        owner = world.find_account(email)
        if owner is not None and owner.mk_account_status != "new":
            raise business("email_in_use", "This email belongs to another account.")
        alias_account = owner or world.create_account(email, None, status="new")
        pending = world.new_pending(
            "alias",
            email,
            mail_kind="alias_confirm",
            account_id=me.account_id,
            subject="Confirm your email alias",
        )
        me.aliases.append(
            Alias(
                email=email,
                alias_account_id=alias_account.account_id,
                notification_id=pending.notification_id,
            )
        )
    # The answer names no alias account: in Fleep's account_configure spec an alias account is
    # first seen after the primary-address swap, under the old address (inferred: the own
    # contact, the documented "stream [ContactInfo]").
    return {"stream": [world.own_contact(me)]}


@handler("alias/confirm", auth=False)
def alias_confirm(ctx: Ctx) -> Result:
    """Confirm an alias from its mail."""
    world = ctx.world
    pending = find_pending(world, ctx.params.req_uuid("notification_id"), "alias")
    owner = world.accounts[pending.account_id or ""]
    for alias in owner.aliases:
        if alias.notification_id == pending.notification_id:
            alias.confirmed = True
    pending.used = True
    world.broadcast_contact(owner)
    return {}


@handler("alias/remove")
def alias_remove(ctx: Ctx) -> Result:
    """Remove email aliases."""
    me = ctx.me
    drop = {e.lower() for e in parse_emails(ctx.params.req_text("emails"))}
    me.aliases = [a for a in me.aliases if a.email.lower() not in drop]
    ctx.world.broadcast_contact(me)
    return {"stream": _alias_stream(ctx.world, me)}


@handler("alias/sync")
def alias_sync(ctx: Ctx) -> Result:
    """The aliases, then the own contact listing their ids, even none (Fleep's alias spec)."""
    world, me = ctx.world, ctx.me
    own = world.own_contact(me)
    own.setdefault("alias_account_ids", [])
    return {"stream": [*_alias_stream(world, me), own], "failed": None}
