"""``conversation/*``: create, membership, per-member settings, the sync family.

The hook management calls (``conversation/*_hook*``) live in :mod:`.hook`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Final

import attrs

from fleep_async.testing._http.errors import (
    bad_request,
    business,
    conversation_not_found,
    not_supported,
)
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import Conversation, Message, Record, Team
from fleep_async.testing._world.world import World

ALERT_LEVELS: Final = ("default", "never", "passive")
SYNC_PAGE: Final = 50
DIRECTIONS: Final = (
    "ic_header",
    "ic_tiny",
    "ic_full",
    "ic_flow",
    "ic_end",
    "ic_backward",
    "ic_forward",
    "ic_files",
    "ic_pinboard",
    "ic_tasks",
)


# ---------------------------------------------------------------------- CS responses


def message_records(
    world: World, conv: Conversation, msgs: list[Message], viewer: str
) -> list[Record]:
    """Message records followed by their file records."""
    out: list[Record] = []
    for msg in msgs:
        out.append(rec.message(conv, msg, viewer))
        out.extend(world.file_records(conv, msg))
    return out


def forward(world: World, conv: Conversation, viewer: str, after: int) -> list[Message]:
    """Visible messages changed after flow position ``after``, in flow order."""
    return conv.changed_since(after, conv.memberships[viewer], SYNC_PAGE)


def cs(
    ctx: Ctx,
    conv: Conversation,
    *,
    before: int,
    shape: str = "full",
    with_result: bool = True,
    extra: Iterable[Record] = (),
    omit: Collection[int] = (),
    header_extra: Mapping[str, object] | None = None,
) -> Result:
    """The conversation/sync-shaped answer after a change.

    Without ``from_message_nr``: the header plus the records changed since flow position
    ``before``. With it: a normal forward sync from there. ``shape`` picks the header the real
    server answers with: ``full``, ``store`` (the counters: message/send, message/store, read
    state), ``topic`` (the counters, the conversation's identity and its member lists:
    set_topic) or ``member`` (``topic`` plus ``guests``: add_members, remove_members). A
    member who has left always gets the header without the fields of the live flow. ``omit``
    leaves those message numbers out of the stream, ``extra`` records are added after it,
    ``header_extra`` fields are added to the header.
    """
    world, viewer = ctx.world, ctx.me.account_id
    from_nr = ctx.params.integer("from_message_nr")
    after = from_nr if from_nr is not None else before
    header = world.full_header(conv, viewer)
    if not conv.memberships[viewer].active:
        header = rec.conv_left(header)
    elif shape == "store":
        header = rec.conv_partial(header)
    elif shape == "topic":
        header = rec.conv_partial(header, rec.TOPIC_KEYS)
    elif shape == "member":
        header = rec.conv_partial(header, rec.ACTOR_KEYS)
    if header_extra:
        header.update(header_extra)
    result: Result = {
        "header": header,
        "stream": [
            *message_records(
                world,
                conv,
                [m for m in forward(world, conv, viewer, after) if m.message_nr not in omit],
                viewer,
            ),
            *extra,
        ],
    }
    if with_result and conv.last_message_nr > before:
        result["result_message_nr"] = conv.last_message_nr
    return result


def member_conv(ctx: Ctx) -> Conversation:
    """The path's conversation; the caller must be a current member."""
    conv = ctx.world.conversation(ctx.conversation_id)
    ctx.world.require_member(conv, ctx.me.account_id)
    return conv


def any_conv(ctx: Ctx) -> Conversation:
    """The path's conversation; current or past members."""
    conv = ctx.world.conversation(ctx.conversation_id)
    ctx.world.membership(conv, ctx.me.account_id)
    return conv


def _targets(ctx: Ctx, *, emails_key: str, ids_key: str, invite: bool = False) -> list[str]:
    world = ctx.world
    ids = world.resolve_emails(ctx.params.text(emails_key), invite=invite)
    ids += world.resolve_account_ids(ctx.params.uuids(ids_key) or [])
    return list(dict.fromkeys(ids))


# ---------------------------------------------------------------------- create / membership


@handler("conversation/create")
def create(ctx: Ctx) -> Result:
    """Create a conversation (optionally with a first message)."""
    world, me, p = ctx.world, ctx.me, ctx.params
    members = _targets(
        ctx, emails_key="emails", ids_key="account_ids", invite=bool(p.flag("is_invite"))
    )
    team_ids = p.uuids("team_ids") or []
    mk_conv_type = p.text("mk_conv_type")
    if mk_conv_type not in (None, "cct_default", "cct_list", "cct_no_mail"):
        raise bad_request("Invalid value for mk_conv_type.")
    if mk_conv_type is None and team_ids:
        # A conversation created for teams sends no e-mail (Fleep's tests: ``cct_no_mail``).
        mk_conv_type = "cct_no_mail"
    fwd_conv_id = p.uuid("fwd_conversation_id")
    fwd_nr = p.integer("fwd_message_nr")
    fwd = None
    if fwd_conv_id is not None and fwd_nr is not None:
        source = world.conversation(fwd_conv_id)
        world.membership(source, me.account_id)
        fwd = (source, world.get_message(source, fwd_nr))
    conv = world.create_conversation(
        me,
        topic=p.text("topic"),
        member_ids=members,
        is_autojoin=bool(p.flag("is_autojoin")),
        is_disclose=bool(p.flag("is_disclose")),
        is_list=bool(p.flag("is_list")),
        is_managed=bool(p.flag("is_managed")),
        mk_conv_type=mk_conv_type,
        team_ids=team_ids,
    )
    text = p.text("message")
    attachments = p.texts("attachments") or []
    if text or attachments:
        world.post(conv, me.account_id, text, upload_urls=attachments, subject=p.text("subject"))
    if fwd is not None:
        copy_message(world, fwd[0], conv, me.account_id, fwd[1])
    # The answer ends with the new task board's "Archived" and "To Do" (Fleep's server tests).
    return cs(ctx, conv, before=0, with_result=False, extra=world.section_records(conv))


def copy_message(
    world: World, source: Conversation, target: Conversation, actor_id: str, msg: Message
) -> Message:
    """Post a copy of ``msg`` (text and live attachments) into ``target``."""
    if msg.is_deleted:
        raise business("message_deleted", "Cannot copy a deleted message.")
    if msg.state == "system":
        raise business("invalid_copy", "System messages cannot be copied.")
    files = [
        (source.attachments[a].file_id, source.attachments[a].file_name)
        for a in msg.attachment_ids
        if not source.attachments[a].is_deleted
    ]
    return world.post(target, actor_id, msg.text, file_ids=files, subject=msg.subject)


@handler("conversation/add_members", path_id="conversation")
def add_members(ctx: Ctx) -> Result:
    """Add members by email / Fleep address (an ``add`` system message)."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ids = ctx.world.resolve_emails(ctx.params.req_text("emails"))
    joined = ctx.world.add_members(conv, ctx.me.account_id, ids)
    # The answer carries each newcomer's activity record (its join position) and the header
    # with the member lists (Fleep's members spec).
    shown = [ctx.world.activity(conv, a) for a in joined]
    return cs(ctx, conv, before=before, shape="member", extra=shown)


@handler("conversation/remove_members", path_id="conversation")
def remove_members(ctx: Ctx) -> Result:
    """Remove members (a ``kick`` system message)."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ids = []
    for part in ctx.params.req_text("emails").replace(";", ",").split(","):
        account = ctx.world.find_account(part.strip()) if part.strip() else None
        if account is not None:
            ids.append(account.account_id)
    ctx.world.remove_members(conv, ctx.me.account_id, ids)
    return cs(ctx, conv, before=before, shape="member")


@handler("conversation/leave", path_id="conversation")
def leave(ctx: Ctx) -> Result:
    """Leave (a ``leave`` system message; posting then gets 431)."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ctx.world.remove_members(conv, ctx.me.account_id, [ctx.me.account_id], mk_message_type="leave")
    return cs(ctx, conv, before=before)


@handler("conversation/autojoin")
def autojoin(ctx: Ctx) -> Result:
    """Join through the autojoin key (or the conversation id) when autojoin is on."""
    world, me = ctx.world, ctx.me
    key = ctx.params.req_text("conv_url_key").strip().rstrip("/").rsplit("/", 1)[-1]
    conv = world.conversations.get(key.lower()) or next(
        (c for c in world.conversations.values() if c.autojoin_key == key), None
    )
    if conv is None:
        raise conversation_not_found()
    before = conv.last_message_nr
    m = conv.memberships.get(me.account_id)
    if m is None or not m.active:
        if not conv.is_autojoin:
            raise business("autojoin_disabled", "Autojoin is not enabled for this conversation.")
        world.add_members(conv, me.account_id, [me.account_id])
    return cs(ctx, conv, before=before)


def _disclose(ctx: Ctx, *, use_message_nr: bool) -> Result:
    conv = member_conv(ctx)
    before = conv.last_message_nr
    ids = _targets(ctx, emails_key="emails", ids_key="account_ids")
    teams = _teams(ctx, "team_ids")
    if use_message_nr:
        ctx.params.integer("message_nr")
    shown = ctx.world.disclose(conv, ctx.me.account_id, ids, teams, disclose_from=1)
    return cs(ctx, conv, before=before, extra=shown)


def _teams(ctx: Ctx, key: str) -> list[Team]:
    """The live teams named by ``key``; an unknown (or deleted) one is an error."""
    teams = []
    for team_id in ctx.params.uuids(key) or []:
        team = ctx.world.teams.get(team_id)
        if team is None or team.is_deleted:
            raise business("unknown_team", "Unknown team.")
        teams.append(team)
    return teams


@handler("conversation/disclose", path_id="conversation")
def disclose(ctx: Ctx) -> Result:
    """Show the history to (new) members. FakeFleep discloses from the first message."""
    return _disclose(ctx, use_message_nr=True)


@handler("conversation/disclose_all", path_id="conversation")
def disclose_all(ctx: Ctx) -> Result:
    """Show the whole history to (new) members."""
    return _disclose(ctx, use_message_nr=False)


@handler("conversation/check_permissions", path_id="conversation")
def check_permissions(ctx: Ctx) -> Result:
    """430 if never a member, 431 if left, else ``{}``."""
    member_conv(ctx)
    return {}


@handler("conversation/convert_api", path_id="conversation")
def convert_api(ctx: Ctx) -> Result:
    """A no-op in FakeFleep (every conversation already uses the current API)."""
    member_conv(ctx)
    return {}


@handler("conversation/create_call", path_id="conversation")
def create_call(ctx: Ctx) -> Result:
    """Video calls are out of scope."""
    member_conv(ctx)
    raise not_supported("Video calls")


@handler("conversation/slash_command", path_id="conversation")
def slash_command(ctx: Ctx) -> Result:
    """The real server no longer supports slash commands either."""
    member_conv(ctx)
    raise not_supported("Slash commands")


# ---------------------------------------------------------------------- per-member settings


@handler("conversation/delete", path_id="conversation")
def delete(ctx: Ctx) -> Result:
    """Remove from the list (it comes back when someone writes, unless you left)."""
    conv = any_conv(ctx)
    conv.memberships[ctx.me.account_id].is_deleted = True
    ctx.world.header_changed(conv, [ctx.me.account_id])
    return cs(ctx, conv, before=conv.last_message_nr)


@handler("conversation/hide", path_id="conversation")
def hide(ctx: Ctx) -> Result:
    """Hide until the next message."""
    conv = any_conv(ctx)
    conv.memberships[ctx.me.account_id].hide_message_nr = conv.last_message_nr
    ctx.world.header_changed(conv, [ctx.me.account_id])
    return cs(ctx, conv, before=conv.last_message_nr)


@handler("conversation/unhide", path_id="conversation")
def unhide(ctx: Ctx) -> Result:
    """Show a hidden conversation again."""
    conv = any_conv(ctx)
    m = conv.memberships[ctx.me.account_id]
    m.hide_message_nr = None
    m.is_deleted = False
    ctx.world.header_changed(conv, [ctx.me.account_id])
    return cs(ctx, conv, before=conv.last_message_nr)


@handler("conversation/set_alerts", path_id="conversation")
def set_alerts(ctx: Ctx) -> Result:
    """``default`` or ``never``."""
    conv = member_conv(ctx)
    level = ctx.params.req_text("mk_alert_level")
    if level not in ALERT_LEVELS:
        raise bad_request("Invalid value for mk_alert_level.")
    conv.memberships[ctx.me.account_id].mk_alert_level = level
    ctx.world.header_changed(conv, [ctx.me.account_id])
    return cs(ctx, conv, before=conv.last_message_nr)


@handler("conversation/set_topic", path_id="conversation")
def set_topic(ctx: Ctx) -> Result:
    """A ``topic`` system message; everyone gets the new header."""
    conv = member_conv(ctx)
    before = conv.last_message_nr
    topic = ctx.params.text("topic", required=True) or ""
    ctx.world.set_topic(conv, ctx.me.account_id, topic)
    return cs(ctx, conv, before=before, shape="topic")


@handler("conversation/mark_read", path_id="conversation")
def mark_read(ctx: Ctx) -> Result:
    """Mark everything read (a member who left gets 431, as on the real server)."""
    conv = member_conv(ctx)
    mode = ctx.params.text("mk_init_mode") or "ic_tiny"
    if mode not in ("ic_tiny", "ic_full"):
        raise bad_request("Invalid value for mk_init_mode.")
    ctx.world.mark_read(conv, ctx.me.account_id, conv.last_message_nr, back=False)
    header = ctx.world.full_header(conv, ctx.me.account_id)
    if mode == "ic_tiny":
        header = rec.conv_tiny_full(header)
    return {"header": header, "stream": []}


@handler("conversation/poke", path_id="conversation")
def poke(ctx: Ctx) -> Result:
    """Echo a ``poke`` record to the caller's own stream (a test barrier)."""
    conv = any_conv(ctx)
    nr = ctx.params.req_integer("message_nr")
    record: Record = {
        "mk_rec_type": "poke",
        "account_id": ctx.me.account_id,
        "conversation_id": conv.conversation_id,
        "message_nr": nr,
    }
    if ctx.params.flag("is_bg_poke"):
        record["is_bg_poke"] = True
    ctx.world.emit(ctx.me.account_id, [record])
    return cs(ctx, conv, before=conv.last_message_nr, shape="store")


@handler("conversation/show_activity", path_id="conversation")
def show_activity(ctx: Ctx) -> Result:
    """Report the caller's writing state; answer the *other* members' activity.

    A member with full privacy shows nothing, neither in the answer nor in the others' streams.
    """
    world, me = ctx.world, ctx.me
    conv = member_conv(ctx)
    writing = ctx.params.flag("is_writing")
    if writing is not None:
        world.set_writing(conv, me.account_id, writing, message_nr=ctx.params.integer("message_nr"))
    return {"stream": world.activity_of_others(conv, me.account_id)}


@handler("conversation/unsubscribe", path_id="conversation")
def unsubscribe(ctx: Ctx) -> Result:
    """Remove an email address from the conversation."""
    conv = member_conv(ctx)
    account = ctx.world.find_account(ctx.params.req_text("email"))
    if account is not None:
        ctx.world.remove_members(conv, ctx.me.account_id, [account.account_id])
    return {}


@handler("conversation/store", path_id="conversation")
def store(ctx: Ctx) -> Result:
    """Change any header fields; send only what changes."""
    with ctx.world.actor_partial_headers(ctx.me.account_id):
        return _store(ctx)


def _store(ctx: Ctx) -> Result:
    world, me, p = ctx.world, ctx.me, ctx.params
    conv = world.conversation(ctx.conversation_id)
    if (
        p.has("add_team_ids") or p.has("remove_team_ids")
    ) and me.account_id not in conv.memberships:
        # Linking or unlinking a team is refused with 431 before the conversation lookup's 430
        # (Fleep's conv_team spec: a member of the team who was never in the conversation).
        raise business("not_member", "You are not a member of this conversation.")
    conv = any_conv(ctx)
    m = conv.memberships[me.account_id]
    before = conv.last_message_nr
    mine = False
    if p.has("read_message_nr"):
        nr = p.req_integer("read_message_nr")
        world.mark_read(conv, me.account_id, nr, back=nr < m.read_message_nr)
    if p.has("mk_alert_level"):
        level = p.req_text("mk_alert_level")
        if level not in ALERT_LEVELS:
            raise bad_request("Invalid value for mk_alert_level.")
        if level == "passive" or m.mk_alert_level == "passive":
            # Becoming passive and coming back are announced to everyone (a system message).
            world.set_passive(conv, me.account_id, level == "passive")
        if m.mk_alert_level != level:
            m.mk_alert_level, mine = level, True
    if p.has("snooze_interval"):
        m.snooze_interval = p.req_integer("snooze_interval")
        m.snooze_time = world.now() + m.snooze_interval if m.snooze_interval > 0 else 0
        if m.snooze_interval < 0:
            # Snoozing "forever" is muting (Fleep's server tests: alert level ``never``).
            m.mk_alert_level = "never"
        mine = True
    if p.has("hide_message_nr"):
        m.hide_message_nr, mine = p.req_integer("hide_message_nr"), True
    if p.has("label_ids") or p.has("labels"):
        m.label_ids, mine = _labels(ctx), True
        spam = world.system_label(me, "spam").label_id
        if spam in m.label_ids:
            # Marking a conversation as spam mutes it for good (Fleep's server tests).
            m.mk_alert_level, m.snooze_interval = "never", -1
    if p.flag("is_deleted"):
        m.is_deleted, mine = True, True
    shared = _store_shared(ctx, conv) if m.active else None
    keys = ("topic", "add_emails", "add_account_ids", "remove_account_ids")
    if shared is None and any(p.has(k) for k in keys):
        world.require_member(conv, me.account_id)
    if mine:
        world.header_changed(conv, [me.account_id])
    # The real store answer lists the passive members and the inactive ones (closed accounts,
    # which FakeFleep does not model), even when there are none (Fleep's tests).
    passive = [a for a in conv.members if conv.memberships[a].mk_alert_level == "passive"]
    header_extra = {"passive": passive, "inactives": []}
    if shared is None:
        return cs(ctx, conv, before=before, header_extra=header_extra)
    return cs(
        ctx,
        conv,
        before=before,
        extra=shared.activity,
        omit=shared.team_links,
        header_extra=header_extra,
    )


def _labels(ctx: Ctx) -> list[str]:
    me, world = ctx.me, ctx.world
    ids = list(ctx.params.uuids("label_ids") or [])
    for bad in [i for i in ids if i not in me.labels]:
        raise business("invalid_label", f"Unknown label {bad}.")
    for name in ctx.params.texts("labels") or []:
        found, made = world.label_named(me, name)
        if made:
            world.emit(me.account_id, [rec.label(found)])
        ids.append(found.label_id)
    return list(dict.fromkeys(ids))


@attrs.frozen
class _Shared:
    """What a shared ``conversation/store`` change adds to or leaves out of its answer."""

    # The real answer leaves the team-link messages out (they reach the poll) and carries the
    # activity (new join position) of the people added or named in a disclosure (Fleep's tests).
    team_links: frozenset[int]
    activity: list[Record]


def _store_shared(ctx: Ctx, conv: Conversation) -> _Shared:
    world, me, p = ctx.world, ctx.me, ctx.params
    team_links: set[int] = set()
    shown: list[Record] = []
    unlink = []
    for team_id in p.uuids("remove_team_ids") or []:
        team = world.teams.get(team_id)
        if team is None or team_id not in conv.teams:
            # Unlinking a team the conversation does not have is refused, before anything
            # changes (Fleep's tests: 431).
            raise business("team_not_linked", "The team is not linked to this conversation.")
        unlink.append(team)
    if p.has("topic") and p.raw("topic") != conv.topic:
        world.set_topic(conv, me.account_id, p.req_text("topic"))
    add = _targets(ctx, emails_key="add_emails", ids_key="add_account_ids")
    joined = world.add_members(conv, me.account_id, add) if add else []
    # People first, then teams, then the disclosure to both (the real server's order).
    for team_id in p.uuids("add_team_ids") or []:
        team = world.teams.get(team_id)
        if team is None or team.is_deleted:
            raise business("unknown_team", "Unknown team.")
        if me.account_id not in team.members:
            raise business("not_team_member", "Only a member of the team can add it.")
        linked_after = conv.last_message_nr
        world.add_team_to_conversation(conv, me.account_id, team)
        team_links.update(range(linked_after + 1, conv.last_message_nr + 1))
    disclose = _targets(ctx, emails_key="disclose_emails", ids_key="disclose_account_ids")
    disclose_teams = _teams(ctx, "disclose_team_ids")
    if disclose or disclose_teams:
        shown = world.disclose(conv, me.account_id, disclose, disclose_teams, disclose_from=1)
    # The answer carries each newcomer's activity (its join position) once, as a disclosure
    # to it left it (Fleep's tests).
    told = {r["account_id"] for r in shown}
    shown += [world.activity(conv, a) for a in joined if a not in told]
    remove = []
    for part in (p.text("remove_emails") or "").replace(";", ",").split(","):
        account = world.find_account(part.strip()) if part.strip() else None
        if account is not None:
            remove.append(account.account_id)
    remove += (p.uuids("remove_account_ids") or []) + (p.uuids("kick_account_ids") or [])
    if remove:
        world.remove_members(conv, me.account_id, remove)
    for team in unlink:
        world.remove_team_from_conversation(conv, me.account_id, team)
    shared = False
    previews_off = p.flag("is_url_preview_disabled")
    if previews_off is not None and previews_off != conv.is_url_preview_disabled:
        world.set_url_previews(conv, me.account_id, disabled=previews_off)
    for flag in ("is_autojoin", "is_disclose", "is_list", "is_managed"):
        value = p.flag(flag)
        if value is not None and value != getattr(conv, flag):
            setattr(conv, flag, value)
            shared = True
    if p.has("mk_conv_type"):
        kind = p.req_text("mk_conv_type")
        if kind not in ("cct_default", "cct_list", "cct_no_mail"):
            raise bad_request("Invalid value for mk_conv_type.")
        conv.mk_conv_type, shared = kind, True
    for account_id in p.uuids("add_admins") or []:
        if account_id not in conv.admins:
            conv.admins.append(account_id)
            shared = True
    for account_id in p.uuids("remove_admins") or []:
        if account_id in conv.admins:
            conv.admins.remove(account_id)
            shared = True
    if shared:
        world.header_changed(conv, conv.members)
    if p.flag("can_post") is False:
        world.remove_members(conv, me.account_id, [me.account_id], mk_message_type="leave")
    return _Shared(team_links=frozenset(team_links), activity=shown)


# ---------------------------------------------------------------------- sync family


@handler("conversation/sync", path_id="conversation")
def sync(ctx: Ctx) -> Result:
    """Header plus messages by ``mk_direction`` (default: around the read horizon)."""
    world, me = ctx.world, ctx.me
    conv = any_conv(ctx)
    viewer = me.account_id
    direction = ctx.params.text("mk_direction")
    if direction not in (None, *DIRECTIONS):
        raise bad_request("Invalid value for mk_direction.")
    from_nr = ctx.params.integer("from_message_nr")
    m = conv.memberships[viewer]
    header = world.full_header(conv, viewer)
    stream: list[Record]
    if direction == "ic_header":
        return {"header": header, "stream": []}
    if direction == "ic_tiny":
        return {
            "header": rec.conv_tiny(header),
            "stream": message_records(world, conv, conv.last_visible(m, 1), viewer),
        }
    if direction in (None, "ic_flow") and (from_nr is not None or direction):
        msgs = forward(world, conv, viewer, from_nr or 0)
        return {"header": header, "stream": message_records(world, conv, msgs, viewer)}
    if direction == "ic_end":
        msgs = conv.last_visible(m, SYNC_PAGE)
        return {"header": header, "stream": message_records(world, conv, msgs, viewer)}
    visible = list(conv.visible_messages(m))
    if direction == "ic_forward":
        msgs = [msg for msg in visible if msg.message_nr > (from_nr or 0)][:SYNC_PAGE]
        stream = message_records(world, conv, msgs, viewer)
    elif direction == "ic_backward":
        upper = from_nr if from_nr is not None else conv.last_message_nr + 1
        msgs = [msg for msg in visible if msg.message_nr < upper][-SYNC_PAGE:]
        stream = message_records(world, conv, msgs, viewer)
    elif direction == "ic_files":
        stream = [r for msg in visible for r in world.file_records(conv, msg)]
    elif direction == "ic_pinboard":
        stream = [rec.message(conv, msg, viewer) for msg in visible if msg.state == "pinned"]
    elif direction == "ic_tasks":
        tasks = [msg for msg in visible if msg.state in ("todo", "done")]
        stream = [rec.message(conv, msg, viewer) for msg in tasks]
    else:
        # Default and ic_full: five messages either side of the read horizon.
        around = [msg for msg in visible if msg.message_nr <= m.read_message_nr][-5:]
        around += [msg for msg in visible if msg.message_nr > m.read_message_nr][:5]
        stream = message_records(world, conv, around, viewer)
        stream = [
            *(rec.hook(h, viewer, base_url=world.config.base_url) for h in conv.hooks.values()),
            *stream,
        ]
    return {"header": header, "stream": stream}


@handler("conversation/sync_backward", path_id="conversation")
def sync_backward(ctx: Ctx) -> Result:
    """Messages before ``from_message_nr`` (the earliest one the client holds)."""
    conv = any_conv(ctx)
    viewer = ctx.me.account_id
    visible = list(conv.visible_messages(conv.memberships[viewer]))
    from_nr = ctx.params.integer("from_message_nr")
    upper = from_nr if from_nr is not None else conv.last_message_nr + 1
    msgs = [msg for msg in visible if msg.message_nr < upper][-SYNC_PAGE:]
    return {
        "header": ctx.world.full_header(conv, viewer),
        "stream": message_records(ctx.world, conv, msgs, viewer),
    }


@handler("conversation/sync_files", path_id="conversation")
def sync_files(ctx: Ctx) -> Result:
    """File records (from ``from_message_nr`` on)."""
    conv = any_conv(ctx)
    viewer = ctx.me.account_id
    from_nr = ctx.params.integer("from_message_nr") or 0
    visible = conv.visible_messages(conv.memberships[viewer])
    stream = [
        r for msg in visible if msg.message_nr >= from_nr for r in ctx.world.file_records(conv, msg)
    ]
    return {"header": ctx.world.full_header(conv, viewer), "stream": stream}


@handler("conversation/sync_pins", path_id="conversation")
def sync_pins(ctx: Ctx) -> Result:
    """Pinned messages."""
    conv = any_conv(ctx)
    viewer = ctx.me.account_id
    visible = conv.visible_messages(conv.memberships[viewer])
    stream = [rec.message(conv, msg, viewer) for msg in visible if msg.state == "pinned"]
    return {"header": ctx.world.full_header(conv, viewer), "stream": stream}


@handler("conversation/sync_teams", path_id="conversation")
def sync_teams(ctx: Ctx) -> Result:
    """The conversation's teams."""
    conv = any_conv(ctx)
    wanted = ctx.params.uuids("team_ids")
    stream = [
        rec.team(ctx.world.teams[t], base_url=ctx.world.config.base_url)
        for t in conv.teams
        if wanted is None or t in wanted
    ]
    return {"stream": stream}


@handler("conversation/list")
def conversation_list(ctx: Ctx) -> Result:
    """Legacy paged list: stop when ``conversations`` comes back empty."""
    world, me = ctx.world, ctx.me
    offset = max(ctx.params.integer("sync_horizon") or 0, 0)
    ids = [
        c
        for c in world.convs_of.get(me.account_id, [])
        if not world.conversations[c].memberships[me.account_id].is_deleted
    ]
    page = ids[offset : offset + world.config.sync_batch_size]
    end = offset + len(page)
    return {
        "conversations": [world.full_header(world.conversations[c], me.account_id) for c in page],
        "sync_horizon": end,
        "sync_progress": 1.0 if not ids else end / len(ids),
    }
