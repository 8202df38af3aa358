"""The poll family: ``account/poll``, ``account/listen``, ``account/sync``,
``account/sync_conversations``.

A parked poll waits on its account log's :class:`~fleep_async.testing._world.state.Signal` inside an
``anyio.move_on_after`` scope: no timer loop, no task per poll. Every append to the log (or a
session expiry, a forced resync, shutdown) wakes all of that account's parked polls at once.
"""

from __future__ import annotations

from typing import Final

import anyio

from fleep_async.testing._http.errors import bad_request, business, unauthorized
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState, Record, Session, SyncCursor
from fleep_async.testing._world.world import World

MAX_SYNC_CURSORS: Final = 32
INIT_MODES: Final = ("ic_header", "ic_tiny", "ic_full")


def _base(world: World, horizon: int, stream: list[Record]) -> Result:
    return {
        "event_horizon": horizon,
        "stream": stream,
        "limit_time": 0,
        "static_version": world.config.static_version,
    }


async def park(world: World, account: AccountState, session: Session, horizon: int) -> None:
    """Wait until the log passes ``horizon``, the hold runs out, or the session dies."""
    log = account.log
    generation = world.release_generation
    world.parked_polls += 1
    world.notify()
    try:
        with anyio.move_on_after(world.config.hold_seconds):
            while (
                log.horizon <= horizon
                and session.alive
                and not account.resync_pending
                and not world.closing
                and world.release_generation == generation
            ):
                await log.signal.wait()
    finally:
        world.parked_polls -= 1
        world.notify()
    if not session.alive:
        raise unauthorized()


@handler("account/poll")
async def poll(ctx: Ctx) -> Result:
    """Events after ``event_horizon``; the initial sync when it is 0 (or a sync cursor < 0)."""
    world, me = ctx.world, ctx.me
    assert ctx.session is not None
    horizon = ctx.params.integer("event_horizon") or 0
    wait = ctx.params.flag("wait", default=True)
    flags = frozenset(ctx.params.texts("poll_flags") or [])
    if _take_resync(me):
        return _base(world, 0, [])
    if horizon <= 0:
        return _initial_sync(world, me, horizon, flags)
    if horizon > me.log.horizon:
        # A horizon this server never issued (say, after a restart): ask for a resync.
        return _base(world, 0, [])
    if wait and me.log.horizon <= horizon:
        await park(world, me, ctx.session, horizon)
        if _take_resync(me):
            return _base(world, 0, [])
    records, new_horizon = me.log.after(horizon, world.config.poll_batch_size)
    return _base(world, new_horizon, records)


def _take_resync(account: AccountState) -> bool:
    """Consume a pending forced resync."""
    if account.resync_pending:
        account.resync_pending = False
        return True
    return False


def _sync_order(world: World, me: AccountState, flags: frozenset[str]) -> list[str]:
    convs = []
    for conv_id in world.convs_of.get(me.account_id, []):
        conv = world.conversations[conv_id]
        m = conv.memberships[me.account_id]
        if m.is_deleted:
            continue
        hidden = m.hide_message_nr is not None and m.hide_message_nr >= conv.last_message_nr
        if hidden and "skip_hidden" in flags:
            continue
        convs.append(conv)
    convs.sort(key=lambda c: (c.last_message_time, c.created_time), reverse=True)
    return [c.conversation_id for c in convs]


def _base_records(world: World, me: AccountState) -> list[Record]:
    out: list[Record] = [world.own_contact(me)]
    out.extend(world.contact_for(world.accounts[c], me) for c in world.contacts_of(me))
    out.extend(rec.label(lab) for lab in me.labels.values())
    out.extend(
        rec.team(t, base_url=world.config.base_url)
        for t in world.teams.values()
        if me.account_id in t.members and not t.is_deleted
    )
    # The sections of the account's own "my tasks" board (Fleep's server tests).
    out.extend(rec.section(sec) for sec in me.my_sections.values() if not sec.is_deleted)
    return out


def _new_cursor(world: World, me: AccountState, ids: list[str]) -> str:
    key = world.ids.short()
    me.conv_cursors[key] = ids
    while len(me.conv_cursors) > MAX_SYNC_CURSORS:
        me.conv_cursors.pop(next(iter(me.conv_cursors)))
    return key


def _initial_sync(world: World, me: AccountState, horizon: int, flags: frozenset[str]) -> Result:
    cursor = me.sync_cursors.pop(horizon, None) if horizon < 0 else None
    stream: list[Record] = []
    if cursor is None:
        cursor = SyncCursor(
            snapshot_horizon=me.log.horizon,
            conversation_ids=_sync_order(world, me, flags),
            offset=0,
            flags=flags,
        )
        stream.extend(_base_records(world, me))
    total = len(cursor.conversation_ids)
    batch = cursor.conversation_ids[cursor.offset : cursor.offset + world.config.sync_batch_size]
    for conv_id in batch:
        stream.extend(
            world.init_records(
                world.conversations[conv_id], me.account_id, messages=world.config.sync_messages
            )
        )
    cursor.offset += len(batch)
    remaining = cursor.conversation_ids[cursor.offset :]
    if remaining and "skip_rest" not in cursor.flags:
        # Intermediate batches carry non-positive horizons that work as a cursor.
        key = me.next_sync_cursor
        me.next_sync_cursor -= 1
        me.sync_cursors[key] = cursor
        while len(me.sync_cursors) > MAX_SYNC_CURSORS:
            me.sync_cursors.pop(next(iter(me.sync_cursors)))
        result = _base(world, key, stream)
        result["sync_progress"] = cursor.offset / total
        result["sync_cursor"] = _new_cursor(world, me, remaining)
        return result
    result = _base(world, cursor.snapshot_horizon, stream)
    result["sync_progress"] = 1.0
    if remaining:
        result["sync_cursor"] = _new_cursor(world, me, remaining)
    return result


@handler("account/sync")
def account_sync(ctx: Ctx) -> Result:
    """The current horizon plus account info (bots that skip history start here)."""
    me = ctx.me
    return {
        "event_horizon": me.log.horizon,
        "account_id": me.account_id,
        "display_name": me.display_name,
        "email": me.email,
        "mk_account_status": me.mk_account_status,
        "is_in_org": False,
        "is_org_admin": False,
    }


def conv_records(world: World, viewer: str, conv_id: str, mode: str) -> list[Record]:
    """A conversation's records for ``mk_init_mode``."""
    conv = world.conversations.get(conv_id)
    if conv is None or viewer not in conv.memberships:
        return []
    if mode == "ic_header":
        return [world.full_header(conv, viewer)]
    if mode == "ic_tiny":
        out = [rec.conv_tiny(world.full_header(conv, viewer))]
        last = conv.last_visible(conv.memberships[viewer], 1)
        out.extend(rec.message(conv, msg, viewer) for msg in last)
        return out
    return world.init_records(conv, viewer, messages=world.config.sync_messages)


def init_mode(ctx: Ctx) -> str:
    """The ``mk_init_mode`` parameter (400 on an unknown mode)."""
    mode = ctx.params.text("mk_init_mode") or "ic_tiny"
    if mode not in INIT_MODES:
        raise bad_request("Invalid value for mk_init_mode.")
    return mode


@handler("account/sync_conversations")
def sync_conversations(ctx: Ctx) -> Result:
    """Records for given conversations, or the next batch after a ``sync_cursor``."""
    world, me = ctx.world, ctx.me
    mode = init_mode(ctx)
    cursor = ctx.params.text("sync_cursor")
    result: Result = {}
    if cursor is not None:
        pending = me.conv_cursors.pop(cursor, None)
        if pending is None:
            raise business("invalid_cursor", "Unknown sync_cursor.")
        ids = pending[: world.config.sync_batch_size]
        rest = pending[world.config.sync_batch_size :]
        if rest:
            result["sync_cursor"] = _new_cursor(world, me, rest)
    else:
        ids = ctx.params.uuids("conversation_ids") or []
        label_id = ctx.params.uuid("label_id")
        if label_id is not None:
            from fleep_async.testing._handlers.label import label_conversations

            ids = [*ids, *label_conversations(world, me, label_id)]
    stream: list[Record] = []
    for conv_id in dict.fromkeys(ids):
        stream.extend(conv_records(world, me.account_id, conv_id, mode))
    result["stream"] = stream
    return result


@handler("account/listen")
async def listen(ctx: Ctx) -> Result:
    """Notification-only long poll: new messages from others since ``event_horizon``."""
    world, me = ctx.world, ctx.me
    assert ctx.session is not None
    horizon = ctx.params.integer("event_horizon") or 0
    wait = ctx.params.flag("wait", default=True)
    if horizon <= 0 or horizon > me.log.horizon:
        # No history replay: start from now.
        return {"event_horizon": me.log.horizon, "messages": []}
    if wait and me.log.horizon <= horizon:
        await park(world, me, ctx.session, horizon)
    records, new_horizon = me.log.after(horizon, world.config.poll_batch_size)
    messages = []
    for record in records:
        if (
            record.get("mk_rec_type") == "message"
            and record.get("mk_message_type") == "text"
            and "flow_message_nr" not in record
            and record.get("account_id") != me.account_id
        ):
            conv = world.conversations[record["conversation_id"]]
            author = world.accounts.get(record["account_id"])
            messages.append(
                {
                    "conv_url": f"{world.config.base_url}/chat/{conv.autojoin_key}",
                    "conversation_id": conv.conversation_id,
                    "topic": conv.topic,
                    "message": record["message"],
                    "author_name": record.get("sender_name")
                    or (author.display_name if author else ""),
                }
            )
    unread = sum(
        1
        for conv_id in world.convs_of.get(me.account_id, [])
        if world.conversations[conv_id].unread_count(
            me.account_id, world.conversations[conv_id].memberships[me.account_id].read_message_nr
        )
        > 0
    )
    return {"event_horizon": new_horizon, "conv_count": unread, "messages": messages}
