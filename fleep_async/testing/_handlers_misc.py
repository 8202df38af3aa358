"""Files, contacts, search, teams, labels, classificators, pin/task boards, SMTP, and the
out-of-scope integrations."""

from __future__ import annotations

import re
from email.message import Message as MimeHeaders
from typing import Final

from fleep_async.testing import _records as rec
from fleep_async.testing._errors import bad_request, business, not_supported
from fleep_async.testing._registry import Ctx, Result, handler
from fleep_async.testing._render import escape
from fleep_async.testing._state import AccountState, Label, Record, Smtp, Team, Upload
from fleep_async.testing._world import World

MAX_EXTERNAL_SIZE: Final = 1024**3


# ---------------------------------------------------------------------- files


def _filename(disposition: str | None) -> str | None:
    if not disposition:
        return None
    headers = MimeHeaders()
    headers["content-disposition"] = disposition
    name = headers.get_filename()
    return name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] if name else None


async def read_uploads(ctx: Ctx) -> list[Upload]:
    """Multipart ``files`` parts (POST), or a raw body (PUT, or POST with ``_method=PUT``)."""
    request = ctx.request
    assert request is not None
    world, me = ctx.world, ctx.me
    put = request.method == "PUT" or request.query_params.get("_method", "").upper() == "PUT"
    content_type = request.headers.get("content-type", "")
    uploads: list[Upload] = []
    if not put and content_type.lower().startswith("multipart/form-data"):
        form = await request.form(max_part_size=64 * 1024 * 1024)
        try:
            for item in form.getlist("files"):
                if isinstance(item, str):
                    continue
                data = await item.read()
                name = item.filename or "file"
                uploads.append(world.store_file(me, name, data, item.content_type))
        finally:
            await form.close()
        if not uploads:
            raise bad_request("No files part in the upload.")
        return uploads
    data = await request.body()
    name = _filename(request.headers.get("content-disposition")) or "file"
    uploads.append(world.store_file(me, name, data, content_type or None))
    return uploads


@handler("file/upload", path_id="optional_conversation", body="upload", idempotent_key=False)
async def upload(ctx: Ctx) -> Result:
    """Upload files; pass the returned ``upload_url`` values as message ``attachments``."""
    uploads = await read_uploads(ctx)
    return {"files": [ctx.world.upload_info(u) for u in uploads]}


@handler("file/upload/external")
def upload_external(ctx: Ctx) -> Result:
    """FakeFleep fetches nothing: URLs registered in ``fake.external_files`` succeed."""
    world, me, p = ctx.world, ctx.me, ctx.params
    file_url = p.req_text("file_url")
    file_name = p.req_text("file_name")
    size = p.integer("file_size") or 0
    if size > MAX_EXTERNAL_SIZE:
        raise business("file_too_large", "External files are limited to 1 GiB.")
    conv_id = p.uuid("conversation_id")
    if conv_id is not None:
        world.membership(world.conversation(conv_id), me.account_id)
    request_id = world.ids.uuid()
    record: Record = {
        "mk_rec_type": "upload",
        "request_id": request_id,
        "name": file_name,
    }
    if conv_id is not None:
        record["conversation_id"] = conv_id
    if p.has("upload_id"):
        record["upload_id"] = p.text("upload_id")
    data = world.external_files.get(file_url)
    if data is None:
        record.update(status="failure", error="FakeFleep cannot download external URLs.")
    else:
        up = world.store_file(me, file_name, data, None)
        info = world.upload_info(up)
        record.update(
            status="success",
            error="",
            upload_url=up.upload_url,
            file_sha256=info["file_sha256"],
            file_type=info["file_type"],
            size=info["size"],
        )
        for key in ("width", "height", "is_animated"):
            if key in info:
                record[key] = info[key]
    world.emit(me.account_id, [record])
    return {"request_id": request_id}


# ---------------------------------------------------------------------- contacts


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
            hidden.append(contact_id)
            world.emit(me.account_id, [rec.contact(world.accounts[contact_id], me)])
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
        descr, phone = item.get("addr_descr"), item.get("phone_nr")
        if isinstance(descr, str) or isinstance(phone, str):
            me.contact_notes[account.account_id] = (
                descr if isinstance(descr, str) else None,
                phone if isinstance(phone, str) else None,
            )
        stream.append(rec.contact(account, me))
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
        if contact_id in ignore or contact_id in me.hidden_contacts:
            continue
        haystack = f"{account.display_name} {account.email} {account.fleep_address or ''}"
        if needle and needle not in haystack.lower():
            continue
        out.append(rec.contact(account, me))
    return {"contacts": out}


@handler("contact/sync/activity")
def contact_sync_activity(ctx: Ctx) -> Result:
    """Last-seen times."""
    world = ctx.world
    ids = ctx.params.uuids("contacts", required=True) or []
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


# ---------------------------------------------------------------------- classificators


@handler("classificators", auth=False, idempotent_key=False)
def classificators(ctx: Ctx) -> Result:
    """The enumerations (ref-classificator.html)."""
    return {
        "mk_account_status": ["new", "active", "banned", "closed"],
        "mk_message_type": [
            "text",
            "email",
            "separator",
            "create",
            "add",
            "leave",
            "kick",
            "topic",
            "alerts",
            "disclose",
            "hook",
            "unhook",
            "add_team",
            "kick_team",
            "hangout",
            "replace",
            "share",
            "unshare",
            "autojoin",
            "delfile",
        ],
        "mk_alert_level": ["default", "never"],
        "mk_email_interval": ["never", "hourly", "daily"],
        "mk_push_new_message": ["never", "always"],
    }


# ---------------------------------------------------------------------- search


def _marked(text: str, words: list[str]) -> str:
    out = escape(text)
    for word in words:
        out = re.sub(f"({re.escape(escape(word))})", r"<mark>\1</mark>", out, flags=re.IGNORECASE)
    return out


@handler("search")
def search(ctx: Ctx) -> Result:
    """Messages containing every keyword (case-insensitive), newest first."""
    world, me, p = ctx.world, ctx.me, ctx.params
    keywords = p.raw("keywords")
    if isinstance(keywords, list):
        keywords = " ".join(k for k in keywords if isinstance(k, str))
    if not isinstance(keywords, str) or not keywords.strip():
        raise bad_request("Missing required field: keywords.")
    words = keywords.lower().split()
    types = set(p.texts("search_types") or ["topic", "chat"])
    conv_filter = p.uuid("conversation_id")
    ignore = set(p.uuids("ignore_conversation_ids") or [])
    matches: list[Record] = []
    headers: dict[str, Record] = {}
    for conv_id in world.convs_of.get(me.account_id, []):
        if (conv_filter is not None and conv_id != conv_filter) or conv_id in ignore:
            continue
        conv = world.conversations[conv_id]
        hit_conv = "topic" in types and all(w in conv.topic.lower() for w in words)
        for msg in conv.visible_messages(conv.memberships[me.account_id]):
            text = world.message_text(msg) if msg.mk_message_type == "text" else ""
            kind_ok = ("chat" in types) or (msg.state == "pinned" and "pin" in types)
            kind_ok = kind_ok or (msg.state in ("todo", "done") and "task" in types)
            if text and kind_ok and all(w in text.lower() for w in words):
                record = rec.message(conv, msg, me.account_id)
                record["marked_text"] = _marked(text, words)
                matches.append(record)
                hit_conv = True
        if hit_conv:
            headers[conv_id] = world.full_header(conv, me.account_id)
    matches.sort(key=lambda r: (r["posted_time"], r["message_nr"]), reverse=True)
    result: Result = {"matches": matches, "headers": list(headers.values())}
    if p.flag("need_suggestions"):
        result["suggestions"] = _suggest(world, me, words[-1] if words else "")
    return result


def _suggest(world: World, me: AccountState, prefix: str) -> list[str]:
    seen: dict[str, None] = {}
    for conv_id in world.convs_of.get(me.account_id, []):
        conv = world.conversations[conv_id]
        for msg in conv.visible_messages(conv.memberships[me.account_id]):
            for word in re.findall(r"\w+", world.message_text(msg).lower()):
                if word.startswith(prefix) and word != prefix:
                    seen[word] = None
    return sorted(seen)[:10]


@handler("search/suggest")
def search_suggest(ctx: Ctx) -> Result:
    """Completions for the last word of ``keywords``."""
    keywords = ctx.params.req_text("keywords").lower().split()
    return {"suggestions": _suggest(ctx.world, ctx.me, keywords[-1] if keywords else "")}


@handler("search/prepare")
def search_prepare(ctx: Ctx) -> Result:
    """No index to warm up in FakeFleep."""
    return {}


@handler("search/reset")
def search_reset(ctx: Ctx) -> Result:
    """No index to drop in FakeFleep."""
    return {}


# ---------------------------------------------------------------------- boards


@handler("account/sync_pinboard")
def sync_pinboard(ctx: Ctx) -> Result:
    """Pinned messages of a conversation, ``pin_limit`` at a time after ``pin_weight``."""
    world, me = ctx.world, ctx.me
    conv = world.conversation(ctx.params.req_uuid("conversation_id"))
    m = world.membership(conv, me.account_id)
    after = ctx.params.number("pin_weight")
    limit = ctx.params.integer("pin_limit") or 30
    pins = [msg for msg in conv.visible_messages(m) if msg.state == "pinned"]
    pins.sort(key=lambda msg: msg.pin_weight or 0.0)
    if after is not None:
        pins = [msg for msg in pins if (msg.pin_weight or 0.0) > after]
    return {"stream": [rec.message(conv, msg, me.account_id) for msg in pins[: max(limit, 1)]]}


@handler("account/sync_taskboard")
def sync_taskboard(ctx: Ctx) -> Result:
    """Tasks of a conversation (FakeFleep has one implicit section)."""
    world, me = ctx.world, ctx.me
    conv = world.conversation(ctx.params.req_uuid("conversation_id"))
    ctx.params.req_uuid("section_id")
    m = world.membership(conv, me.account_id)
    limit = ctx.params.integer("task_limit") or 30
    if not 1 <= limit <= 100:
        raise bad_request("Invalid value for task_limit: 1..100.")
    tasks = [msg for msg in conv.visible_messages(m) if msg.state in ("todo", "done")]
    return {"stream": [rec.message(conv, msg, me.account_id) for msg in tasks[:limit]]}


# ---------------------------------------------------------------------- smtp


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


# ---------------------------------------------------------------------- out of scope


@handler("account/external/account/list")
def external_accounts(ctx: Ctx) -> Result:
    """External (Trello) accounts are out of scope."""
    raise not_supported("External accounts")


@handler("account/trello/board/list")
def trello_boards(ctx: Ctx) -> Result:
    """Trello boards are out of scope."""
    raise not_supported("Trello boards")


# ---------------------------------------------------------------------- labels


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


# ---------------------------------------------------------------------- teams


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
    """Rename, change members / admins / conversations, toggle autojoin."""
    world, me, p = ctx.world, ctx.me, ctx.params
    team = _team(ctx)
    _team_admin(ctx, team)
    before = list(team.members)
    if p.has("team_name"):
        team.team_name = p.req_text("team_name")
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
    for account_id in p.uuids("add_admin_ids") or []:
        if account_id not in team.admins:
            team.admins.append(account_id)
    for account_id in p.uuids("remove_admin_ids") or []:
        if account_id in team.admins:
            team.admins.remove(account_id)
    for flag in ("is_autojoin", "is_managed"):
        value = p.flag(flag)
        if value is not None:
            setattr(team, flag, value)
    team.team_version_nr += 1
    for conv_id in p.uuids("add_conversations") or []:
        conv = world.conversation(conv_id)
        world.require_member(conv, me.account_id)
        world.add_team_to_conversation(conv, me.account_id, team)
    for conv_id in p.uuids("remove_conversations") or []:
        conv = world.conversation(conv_id)
        world.remove_team_from_conversation(conv, me.account_id, team)
    newcomers = [m for m in team.members if m not in before]
    for conv_id in team.conversations:
        conv = world.conversations[conv_id]
        if newcomers:
            world.add_members(conv, me.account_id, newcomers)
        if drop & set(p.uuids("kick_account_ids") or []):
            world.remove_members(conv, me.account_id, list(drop))
    record = world.emit_team(team, extra=drop)
    return {"stream": [record]}


@handler("team/remove", path_id="team")
def team_remove(ctx: Ctx) -> Result:
    """Delete a team (conversation memberships stay)."""
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
