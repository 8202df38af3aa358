"""``label/*``: user labels and the conversations under a label."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._handlers.poll import conv_records, init_mode
from fleep_async.testing._http.errors import business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState, Label, Record
from fleep_async.testing._world.world import World

MAX_EXTERNAL_SIZE: Final = 1024**3


@handler("label/store")
def label_store(ctx: Ctx) -> Result:
    """Create, rename or (``index: -1``) remove a user label."""
    world, me, p = ctx.world, ctx.me, ctx.params
    label_id = p.uuid("label_id")
    if label_id is None:
        lab = Label(label_id=world.ids.uuid(), label=p.req_text("label"), index=len(me.labels))
        me.labels[lab.label_id] = lab
    else:
        found = me.labels.get(label_id)
        if found is None:
            raise business("invalid_label", "Unknown label.")
        lab = found
        if lab.mk_label_type == "system_label" and (p.has("label") or p.integer("index") == -1):
            raise business("invalid_label", "System labels cannot be renamed or removed.")
        if p.has("label"):
            lab.label = p.req_text("label")
    index = p.integer("index")
    if index == -1:
        lab.mk_label_status = "removed"
        me.labels.pop(lab.label_id, None)
        for conv_id in world.convs_of.get(me.account_id, []):
            m = world.conversations[conv_id].memberships[me.account_id]
            if lab.label_id in m.label_ids:
                m.label_ids.remove(lab.label_id)
    elif index is not None:
        lab.index = index
    for flag in ("is_on_left_pane", "is_in_muted", "is_in_recent"):
        value = p.flag(flag)
        if value is not None:
            setattr(lab, flag, value)
    record = rec.label(lab)
    world.emit(me.account_id, [record])
    return {"stream": [record]}


def label_conversations(world: World, me: AccountState, label_id: str) -> list[str]:
    """The ids of the viewer's conversations under a label (system or user)."""
    lab = me.labels.get(label_id)
    if lab is None:
        raise business("invalid_label", "Unknown label.")
    out = []
    for conv_id in world.convs_of.get(me.account_id, []):
        conv = world.conversations[conv_id]
        m = conv.memberships[me.account_id]
        if lab.mk_label_subtype == "unread":
            if conv.unread_count(me.account_id, m.read_message_nr) > 0:
                out.append(conv_id)
        elif label_id in m.label_ids:
            out.append(conv_id)
    return out


@handler("label/sync_conversations", idempotent_key=False)
def label_sync_conversations(ctx: Ctx) -> Result:
    """A label and its conversations (tiny headers by default)."""
    world, me = ctx.world, ctx.me
    label_id = ctx.params.req_uuid("label_id")
    mode = init_mode(ctx)
    ids = label_conversations(world, me, label_id)
    stream: list[Record] = [rec.label(me.labels[label_id])]
    for conv_id in ids:
        stream.extend(conv_records(world, me.account_id, conv_id, mode))
    return {"stream": stream}
