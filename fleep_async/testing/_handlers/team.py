"""``team/*``: teams, their members and admins."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._http.errors import bad_request, business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import Team

MAX_EXTERNAL_SIZE: Final = 1024**3


def _team(ctx: Ctx) -> Team:
    if ctx.path_id is None:
        raise bad_request("Missing team id in the URL.")
    team = ctx.world.teams.get(ctx.path_id)
    if team is None or team.is_deleted:
        raise business("unknown_team", "Unknown team.")
    return team


def _team_admin(ctx: Ctx, team: Team) -> None:
    me = ctx.me.account_id
    if me not in team.members and me != team.creator_id:
        raise business("not_team_member", "You are not a member of this team.")
    if team.admins and me not in team.admins:
        raise business("not_team_admin", "Only team admins can change this team.")


@handler("team/create")
def team_create(ctx: Ctx) -> Result:
    """Create a team (you are a member); linked conversations get its members."""
    world, me, p = ctx.world, ctx.me, ctx.params
    members = [me.account_id, *world.resolve_emails(p.text("emails"))]
    members += world.resolve_account_ids(p.uuids("account_ids") or [])
    team = Team(
        team_id=world.ids.uuid(),
        team_name=p.req_text("team_name"),
        creator_id=me.account_id,
        members=list(dict.fromkeys(members)),
        admins=[me.account_id] if p.flag("is_managed") else [],
        is_autojoin=bool(p.flag("is_autojoin")),
        is_managed=bool(p.flag("is_managed")),
        autojoin_key=world.ids.short(),
    )
    world.teams[team.team_id] = team
    record = world.emit_team(team)
    for conv_id in p.uuids("conversations") or []:
        conv = world.conversation(conv_id)
        world.require_member(conv, me.account_id)
        world.add_team_to_conversation(conv, me.account_id, team)
    return {"stream": [record]}


@handler("team/configure", path_id="team")
def team_configure(ctx: Ctx) -> Result:
    """Rename, change members / admins / conversations, toggle autojoin.

    Each kind of change moves ``team_version_nr`` by one, and so does each conversation linked
    or unlinked (Fleep's tests: removing a member and turning autojoin off in one call is +2).
    """
    with ctx.world.actor_partial_headers(ctx.me.account_id):
        return _configure(ctx)


def _configure(ctx: Ctx) -> Result:
    world, me, p = ctx.world, ctx.me, ctx.params
    team = _team(ctx)
    _team_admin(ctx, team)
    before = list(team.members)
    changes = 0
    if p.has("team_name") and p.req_text("team_name") != team.team_name:
        team.team_name, changes = p.req_text("team_name"), changes + 1
    add = world.resolve_emails(p.text("add_emails"))
    add += world.resolve_account_ids(p.uuids("add_account_ids") or [])
    team.members = list(dict.fromkeys([*team.members, *add]))
    drop = {
        a.account_id
        for e in (p.text("remove_emails") or "").split(",")
        if (a := world.find_account(e.strip())) is not None
    }
    drop |= set(p.uuids("remove_account_ids") or []) | set(p.uuids("kick_account_ids") or [])
    team.members = [m for m in team.members if m not in drop]
    newcomers = [m for m in team.members if m not in before]
    gone = [m for m in before if m not in team.members]
    changes += bool(newcomers) + bool(gone)
    admins = list(team.admins)
    for account_id in p.uuids("add_admin_ids") or []:
        if account_id not in team.admins:
            team.admins.append(account_id)
    for account_id in p.uuids("remove_admin_ids") or []:
        if account_id in team.admins:
            team.admins.remove(account_id)
    changes += team.admins != admins
    for flag in ("is_autojoin", "is_managed"):
        value = p.flag(flag)
        if value is not None and value != getattr(team, flag):
            setattr(team, flag, value)
            changes += 1
    team.team_version_nr += changes
    for conv_id in p.uuids("add_conversations") or []:
        conv = world.conversation(conv_id)
        world.require_member(conv, me.account_id)
        world.add_team_to_conversation(conv, me.account_id, team)
    for conv_id in p.uuids("remove_conversations") or []:
        conv = world.conversation(conv_id)
        world.remove_team_from_conversation(conv, me.account_id, team)
    for conv_id in team.conversations:
        if newcomers:
            world.add_members(world.conversations[conv_id], me.account_id, newcomers)
    if gone:
        world.remove_from_team_conversations(team, me.account_id, gone)
    record = world.emit_team(team, extra=drop)
    return {"stream": [record]}


@handler("team/remove", path_id="team")
def team_remove(ctx: Ctx) -> Result:
    """Delete a team: its conversations lose it, and the members who were there through it."""
    with ctx.world.actor_partial_headers(ctx.me.account_id):
        return _remove(ctx)


def _remove(ctx: Ctx) -> Result:
    world = ctx.world
    team = _team(ctx)
    _team_admin(ctx, team)
    team.is_deleted = True
    team.team_version_nr += 1
    for conv_id in list(team.conversations):
        world.remove_team_from_conversation(world.conversations[conv_id], ctx.me.account_id, team)
    record = world.emit_team(team)
    return {"stream": [record]}


@handler("team/sync", path_id="team")
def team_sync(ctx: Ctx) -> Result:
    """A TeamInfo (members, or anyone proving access through a conversation or autojoin)."""
    world, me = ctx.world, ctx.me
    team = _team(ctx)
    conv_id = ctx.params.uuid("conversation_id")
    allowed = me.account_id in team.members or team.is_autojoin
    if not allowed and conv_id is not None and conv_id in team.conversations:
        allowed = me.account_id in world.conversation(conv_id).memberships
    if not allowed:
        raise business("not_team_member", "You are not a member of this team.")
    return rec.team(team, base_url=world.config.base_url)


@handler("team/autojoin")
def team_autojoin(ctx: Ctx) -> Result:
    """Join a team through its id or autojoin key."""
    world, me = ctx.world, ctx.me
    key = ctx.params.req_text("team_url_key").strip().rstrip("/").rsplit("/", 1)[-1]
    team = world.teams.get(key.lower()) or next(
        (t for t in world.teams.values() if t.autojoin_key == key), None
    )
    if team is None or team.is_deleted:
        raise business("unknown_team", "Unknown team.")
    if me.account_id not in team.members:
        if not team.is_autojoin:
            raise business("autojoin_disabled", "Autojoin is not enabled for this team.")
        team.members.append(me.account_id)
        team.team_version_nr += 1
        for conv_id in team.conversations:
            world.add_members(world.conversations[conv_id], me.account_id, [me.account_id])
    return world.emit_team(team)


@handler("account/sync_teams")
def account_sync_teams(ctx: Ctx) -> Result:
    """The caller's live teams (Fleep's tests call it; it is not in the API documentation)."""
    world, me = ctx.world, ctx.me
    teams = [t for t in world.teams.values() if me.account_id in t.members and not t.is_deleted]
    return {"stream": [rec.team(t, base_url=world.config.base_url) for t in teams]}
