"""``account/smtp/*``: the account's outgoing SMTP settings."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._http.errors import bad_request, business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import Smtp

MAX_EXTERNAL_SIZE: Final = 1024**3


@handler("account/smtp/store")
def smtp_store(ctx: Ctx) -> Result:
    """Store an SMTP configuration (FakeFleep never connects to it)."""
    world, me, p = ctx.world, ctx.me, ctx.params
    connection = p.text("smtp_connection")
    if connection not in (None, "ssl", "starttls"):
        raise bad_request("Invalid value for smtp_connection.")
    smtp = Smtp(
        smtp_id=world.ids.uuid(),
        smtp_address=p.req_text("smtp_address"),
        smtp_username=p.req_text("smtp_username"),
        smtp_password=p.req_text("smtp_password"),
        smtp_host=p.req_text("smtp_host"),
        smtp_port=p.integer("smtp_port"),
        smtp_connection=connection,
    )
    me.smtps[smtp.smtp_id] = smtp
    record = rec.smtp(smtp)
    world.emit(me.account_id, [record])
    return {"stream": [record]}


@handler("account/smtp/configure")
def smtp_configure(ctx: Ctx) -> Result:
    """Change or remove an SMTP configuration."""
    world, me, p = ctx.world, ctx.me, ctx.params
    smtp = me.smtps.get(p.req_uuid("smtp_id"))
    if smtp is None:
        raise business("unknown_smtp", "Unknown SMTP configuration.")
    for field in ("smtp_username", "smtp_password", "smtp_host"):
        if p.has(field):
            setattr(smtp, field, p.req_text(field))
    if p.has("smtp_port"):
        smtp.smtp_port = p.integer("smtp_port")
    if p.flag("is_default"):
        for other in me.smtps.values():
            other.is_default = other is smtp
    if p.flag("is_removed") or smtp.smtp_port == -1:
        smtp.mk_smtp_status = "smtp_removed"
    record = rec.smtp(smtp)
    if smtp.mk_smtp_status == "smtp_removed":
        me.smtps.pop(smtp.smtp_id)
    world.emit(me.account_id, [record])
    return {"stream": [record]}


@handler("account/smtp/list")
def smtp_list(ctx: Ctx) -> Result:
    """All SMTP configurations."""
    return {"stream": [rec.smtp(s) for s in ctx.me.smtps.values()]}
