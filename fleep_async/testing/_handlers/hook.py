"""Hook management: ``conversation/create_hook``, ``configure_hook``, ``drop_hook``,
``show_hooks``. Posting to a hook URL is served by the app."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._handlers.conversation import any_conv, cs, member_conv
from fleep_async.testing._http.errors import (
    bad_request,
    business,
    not_supported,
)
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec

HOOK_TYPES: Final = (
    "bitbucket",
    "confluence",
    "github",
    "gitlab",
    "ifttt",
    "jira",
    "newrelic",
    "pivotaltracker",
    "plain",
    "sameroom",
    "slack",
    "trello",
    "zapier",
    "import",
)


@handler("conversation/create_hook", path_id="conversation")
def create_hook(ctx: Ctx) -> Result:
    """Create a webhook; the answer carries ``hook_info`` with the secret ``hook_url``."""
    conv = member_conv(ctx)
    p = ctx.params
    kind = p.text("mk_hook_type") or "plain"
    if kind not in HOOK_TYPES:
        raise bad_request("Invalid value for mk_hook_type.")
    if kind == "trello" or p.has("external_account_id"):
        raise not_supported("Trello hooks")
    before = conv.last_message_nr
    hook = ctx.world.create_hook(
        conv,
        ctx.me.account_id,
        hook_name=p.text("hook_name"),
        mk_hook_type=kind,
        outgoing_url=p.text("outgoing_url"),
    )
    if p.flag("outgoing_disabled") is not None:
        hook.outgoing_disabled = bool(p.flag("outgoing_disabled"))
    result = cs(ctx, conv, before=before)
    info = rec.hook(hook, ctx.me.account_id, base_url=ctx.world.config.base_url)
    # The real answer carries the hook in its stream too (Fleep's server tests).
    result["stream"].append(info)
    result["hook_info"] = info
    return result


@handler("conversation/configure_hook", path_id="conversation")
def configure_hook(ctx: Ctx) -> Result:
    """Rename a hook or change its outgoing URL."""
    world, p = ctx.world, ctx.params
    conv = member_conv(ctx)
    hook = conv.hooks.get(p.req_text("hook_key"))
    if hook is None or not hook.is_active:
        raise business("invalid_hook", "Unknown hook.")
    if p.has("hook_name"):
        hook.hook_name = p.req_text("hook_name")
    if p.has("outgoing_url"):
        hook.outgoing_url = p.text("outgoing_url") or ""
    if p.flag("outgoing_disabled") is not None:
        hook.outgoing_disabled = bool(p.flag("outgoing_disabled"))
    world.emit_each(conv.members, lambda v: [rec.hook(hook, v, base_url=world.config.base_url)])
    result = cs(ctx, conv, before=conv.last_message_nr)
    result["stream"].append(rec.hook(hook, ctx.me.account_id, base_url=world.config.base_url))
    return result


@handler("conversation/drop_hook", path_id="conversation")
def drop_hook(ctx: Ctx) -> Result:
    """Deactivate a hook (an ``unhook`` system message)."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    hook = ctx.world.drop_hook(conv, ctx.me.account_id, ctx.params.req_text("hook_key"))
    result = cs(ctx, conv, before=before)
    base_url = ctx.world.config.base_url
    result["stream"].append(rec.hook(hook, ctx.me.account_id, base_url=base_url))
    return result


@handler("conversation/show_hooks", path_id="conversation")
def show_hooks(ctx: Ctx) -> Result:
    """The conversation's active hooks."""
    conv = any_conv(ctx)
    viewer = ctx.me.account_id
    hooks = [
        rec.hook(h, viewer, base_url=ctx.world.config.base_url)
        for h in conv.hooks.values()
        if h.is_active
    ]
    return {"hooks": hooks}
