"""``label/*``: user labels and the conversations under a label."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._handlers.poll import conv_records, init_mode
from fleep_async.testing._http.errors import business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState, Conversation, Label, Membership, Record
from fleep_async.testing._world.world import World

MAX_EXTERNAL_SIZE: Final = 1024**3


@handler("label/store")
def label_store(ctx: Ctx) -> Result:
    """Create, rename or (``index: -1``) remove a user label."""
    world, me, p = ctx.world, ctx.me, ctx.params
    label_id = p.uuid("label_id")
    if label_id is None:
        # Without an id the label is addressed by name; a new name creates it (Fleep's label
        # spec removes a label with ``{label, index: -1}``).
        lab, _ = world.label_named(me, p.req_text("label"))
        if lab.mk_label_type == "system_label" and p.integer("index") == -1:
            raise business("invalid_label", "System labels cannot be renamed or removed.")
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
        if _in_label(world, conv, m, lab):
            out.append(conv_id)
    return out


def _in_label(world: World, conv: Conversation, m: Membership, lab: Label) -> bool:
    """System labels are views (unread, muted, dialogs...); user labels are explicit."""
    muted = m.mk_alert_level == "never" or m.snooze_interval != 0
    archived = m.hide_message_nr is not None
    match lab.mk_label_subtype:
        case "unread":
            return conv.unread_count(m.account_id, m.read_message_nr) > 0
        case "recent":
            return m.active and not muted and not archived
        case "muted":
            return muted
        case "1:1 conversations":
            return conv.dialog_with is not None
        case "archived":
            return archived
        case "email":
            return any(world.accounts[a].mk_account_status == "new" for a in conv.members)
        case _:
            return lab.label_id in m.label_ids


@handler("label/sync_conversations")
def label_sync_conversations(ctx: Ctx) -> Result:
    """A label and its conversations.

    By default (``ic_tiny``) as the real server answers: the other members' contacts, the label
    (with its sync cursor), every header with all its fields but flagged tiny, then each
    conversation's last message.
    """
    world, me = ctx.world, ctx.me
    label_id = ctx.params.req_uuid("label_id")
    mode = init_mode(ctx)
    ids = label_conversations(world, me, label_id)
    label = rec.label(me.labels[label_id], sync=True)
    if mode != "ic_tiny":
        stream: list[Record] = [label]
        for conv_id in ids:
            stream.extend(conv_records(world, me.account_id, conv_id, mode))
        return {"stream": stream}
    convs = [world.conversations[i] for i in ids]
    others = dict.fromkeys(
        a
        for conv in convs
        for a in conv.members
        if a != me.account_id and world.accounts[a].mk_account_status != "new"
    )
    headers, messages = [], []
    for conv in convs:
        headers.append(rec.conv_tiny_full(world.full_header(conv, me.account_id)))
        for msg in conv.last_visible(conv.memberships[me.account_id], 1):
            messages.append(rec.message(conv, msg, me.account_id))
            messages.extend(world.file_records(conv, msg))
    contacts = [world.contact_for(world.accounts[a], me) for a in others]
    return {"stream": [*contacts, label, *headers, *messages]}
