"""``message/*``: send, store, edit, delete, copy, mark_read, mark_unread.

Answers are conversation/sync-shaped: ``{header: <partial conv>, stream: [<changed message>,
<its files>], result_message_nr}``; a ``client_req_id`` is echoed and cached by the dispatcher.
"""

from __future__ import annotations

from fleep_async.testing._handlers.conversation import any_conv, copy_message, cs, member_conv
from fleep_async.testing._http.errors import business
from fleep_async.testing._http.routing import Ctx, Result, handler

_STATE_TAGS = frozenset({"pin", "unpin", "is_todo", "is_done"})


def _retry_check(ctx: Ctx, last_message_nr: int) -> None:
    """``is_retry`` fails when the client's view is stale (fleepy's doc of message/send)."""
    from_nr = ctx.params.integer("from_message_nr")
    if ctx.params.flag("is_retry") and from_nr is not None and from_nr != last_message_nr:
        raise business("retry_failed", "Conversation changed since from_message_nr.")


# Not de-duplicated by client_req_id: nothing shows the real server does (message/store is).
@handler("message/send", path_id="conversation")
def send(ctx: Ctx) -> Result:
    """Post a message (plain text with Fleep markup, plus upload_urls as attachments)."""
    conv = member_conv(ctx)
    _retry_check(ctx, conv.last_message_nr)
    before = conv.last_message_nr
    ctx.world.post(
        conv,
        ctx.me.account_id,
        ctx.params.text("message"),
        upload_urls=ctx.params.texts("attachments") or [],
    )
    return cs(ctx, conv, before=before, shape="store")


@handler("message/store", path_id="conversation", idempotent_key=True)
def store(ctx: Ctx) -> Result:
    """New message (no ``message_nr``) or changes to one: edit, delete, pin, task state."""
    world, me, p = ctx.world, ctx.me, ctx.params
    conv = member_conv(ctx)
    _retry_check(ctx, conv.last_message_nr)
    before = conv.last_message_nr
    tags = p.texts("tags")
    nr = p.integer("message_nr")
    if nr is None:
        fwd_conv_id = p.uuid("fwd_conversation_id")
        fwd_nr = p.integer("fwd_message_nr")
        if fwd_conv_id is not None and fwd_nr is not None:
            source = world.conversation(fwd_conv_id)
            world.membership(source, me.account_id)
            copy_message(world, source, conv, me.account_id, world.get_message(source, fwd_nr))
            return cs(ctx, conv, before=before, shape="store")
        world.post(
            conv,
            me.account_id,
            p.text("message"),
            upload_urls=p.texts("attachments") or [],
            tags=tags or [],
            subject=p.text("subject"),
            pin_weight=p.number("pin_weight"),
            assignee_ids=p.uuids("assignee_ids"),
            is_url_preview_disabled=p.flag("is_url_preview_disabled"),
        )
        return cs(ctx, conv, before=before, shape="store")
    msg = world.get_message(conv, nr)
    if tags is not None and "is_deleted" in tags:
        # Any member may delete, even someone else's message; the record's tags are the ones
        # given plus the server's own ``is_deleted`` (Fleep's server tests show it twice).
        world.delete(conv, me.account_id, nr, tags=[*tags, "is_deleted"])
        return cs(ctx, conv, before=before, shape="store")
    edits_body = p.has("message") or p.has("attachments") or p.has("subject")
    retags = tags is not None and bool(
        set(tags) & _STATE_TAGS or msg.state in ("pinned", "todo", "done")
    )
    if edits_body:
        world.edit(
            conv,
            me.account_id,
            nr,
            text=p.text("message"),
            upload_urls=p.texts("attachments"),
            subject=p.text("subject"),
            revise=not retags,
        )
    if retags and tags is not None:
        world.set_tags(
            conv,
            me.account_id,
            nr,
            tags,
            pin_weight=p.number("pin_weight"),
            assignee_ids=p.uuids("assignee_ids"),
        )
    elif p.has("pin_weight") and msg.state == "pinned":
        world.set_tags(conv, me.account_id, nr, msg.tags, pin_weight=p.number("pin_weight"))
    return cs(ctx, conv, before=before, shape="store")


@handler("message/edit", path_id="conversation")
def edit(ctx: Ctx) -> Result:
    """Edit your own message (431 for someone else's); it keeps its ``message_nr``."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ctx.world.edit(
        conv,
        ctx.me.account_id,
        ctx.params.req_integer("message_nr"),
        text=ctx.params.text("message", required=True),
        upload_urls=ctx.params.texts("attachments"),
    )
    return cs(ctx, conv, before=before, shape="store")


@handler("message/delete", path_id="conversation")
def delete(ctx: Ctx) -> Result:
    """Delete a message, or only one attachment of it."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ctx.world.delete(
        conv,
        ctx.me.account_id,
        ctx.params.req_integer("message_nr"),
        attachment_id=ctx.params.text("attachment_id"),
    )
    return cs(ctx, conv, before=before, shape="store")


@handler("message/mark_read", path_id="conversation")
def mark_read(ctx: Ctx) -> Result:
    """Move the read horizon forward (never back)."""
    conv = any_conv(ctx)
    ctx.world.mark_read(conv, ctx.me.account_id, ctx.params.req_integer("message_nr"), back=False)
    return cs(ctx, conv, before=conv.last_message_nr, shape="store")


@handler("message/mark_unread", path_id="conversation")
def mark_unread(ctx: Ctx) -> Result:
    """Move the read horizon back so that ``message_nr`` is unread again."""
    conv = any_conv(ctx)
    nr = ctx.params.req_integer("message_nr")
    ctx.world.get_message(conv, nr)
    ctx.world.mark_read(conv, ctx.me.account_id, nr - 1, back=True)
    return cs(ctx, conv, before=conv.last_message_nr, shape="store")


@handler("message/copy", path_id="conversation")
def copy(ctx: Ctx) -> Result:
    """Copy a message into another conversation (431 for a deleted one)."""
    world, me = ctx.world, ctx.me
    source = any_conv(ctx)
    msg = world.get_message(source, ctx.params.req_integer("message_nr"))
    target = world.conversation(ctx.params.req_uuid("to_conv_id"))
    world.require_member(target, me.account_id)
    before = target.last_message_nr
    copy_message(world, source, target, me.account_id, msg)
    return cs(ctx, target, before=before, shape="store")
