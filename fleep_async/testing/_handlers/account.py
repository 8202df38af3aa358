"""``account/*``: login, registration, confirmation, password reset, settings, lookup.

The poll family lives in :mod:`.poll`, the boards in :mod:`.task`, SMTP in :mod:`.smtp`."""

from __future__ import annotations

import json
from typing import Final

from fleep_async.testing._http.errors import bad_request, business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world import records as rec
from fleep_async.testing._world.state import AccountState, Pending
from fleep_async.testing._world.world import World

EMAIL_INTERVALS: Final = ("never", "hourly", "daily")
# Password resets per address: Fleep's password spec gets 431 "too many password reset
# attempts per hour" within five resets of one address (the exact limit is *inferred*).
RESET_VELOCITY: Final = 4
RESET_WINDOW: Final = 3600.0


def login_result(ctx: Ctx, account: AccountState, *, remember_me: bool) -> Result:
    """Open a session and answer like account/login (the cookie is set by the dispatcher)."""
    session = ctx.world.login(account, remember_me=remember_me)
    ctx.cookies.append((session.token_id, remember_me))
    return {
        "account_id": account.account_id,
        "display_name": account.display_name,
        "profiles": [ctx.world.own_contact(account)],
        "ticket": session.ticket,
    }


@handler("account/login", auth=False)
def login(ctx: Ctx) -> Result:
    """Email (or Fleep address) + password -> session."""
    email = ctx.params.req_text("email")
    password = ctx.params.req_text("password")
    remember = bool(ctx.params.flag("remember_me", default=False))
    account = ctx.world.find_account(email)
    if (
        account is None
        or account.mk_account_status != "active"
        or account.password is None
        or account.password != password
    ):
        raise business("login_failed", "Invalid email or password.")
    return login_result(ctx, account, remember_me=remember)


@handler("account/logout")
def logout(ctx: Ctx) -> Result:
    """Close the session; the cookie is deliberately not cleared (as the real server)."""
    assert ctx.session is not None
    ctx.session.alive = False
    return {}


@handler("account/register", auth=False)
def register(ctx: Ctx) -> Result:
    """Start a registration: a confirmation mail lands in ``fake.outbox``."""
    email = parse_email(ctx.params.req_text("email"))
    display_name = ctx.params.req_text("display_name")
    password = ctx.params.req_text("password")
    existing = ctx.world.find_account(email)
    if existing is not None and existing.mk_account_status != "new":
        raise business("account_exists", "An account with this email already exists.")
    ctx.world.new_pending(
        "register",
        email,
        mail_kind="register",
        display_name=display_name,
        password=password,
        subject="Confirm your Fleep account",
    )
    return {}


@handler("account/register/v2", auth=False)
def register_v2(ctx: Ctx) -> Result:
    """(Re)send the registration code email."""
    email = parse_email(ctx.params.req_text("email"))
    existing = ctx.world.find_account(email)
    if existing is not None and existing.mk_account_status != "new":
        raise business("account_exists", "An account with this email already exists.")
    ctx.world.new_pending(
        "register", email, mail_kind="register_code", subject="Your Fleep registration code"
    )
    return {}


def find_pending(world: World, notification_id: str | None, kind: str) -> Pending:
    """The unused pending mail action with this id and kind (431 otherwise)."""
    pending = world.pending.get(notification_id or "")
    if pending is None or pending.kind != kind or pending.used:
        raise business("invalid_notification", "Unknown or used notification.")
    return pending


@handler("account/confirm", auth=False)
def confirm(ctx: Ctx) -> Result:
    """Confirm a registration (from account/register) and log in."""
    pending = find_pending(ctx.world, ctx.params.text("notification_id"), "register")
    if pending.password is None:
        raise business("invalid_notification", "Use account/confirm/v2 to set a password.")
    account = ctx.world.create_account(pending.email, pending.password, pending.display_name)
    pending.used = True
    return login_result(ctx, account, remember_me=False)


@handler("account/confirm/v2", auth=False)
def confirm_v2(ctx: Ctx) -> Result:
    """Confirm a registration or invite, setting name, password and Fleep address."""
    pending = find_pending(ctx.world, ctx.params.req_text("notification_id"), "register")
    display_name = ctx.params.req_text("display_name")
    password = ctx.params.req_text("password")
    address = ctx.params.text("fleep_address")
    account = ctx.world.create_account(pending.email, password, display_name, fleep_address=address)
    phone = ctx.params.text("phone_nr")
    account.phone_nr = phone
    # A user who registers gets hourly notification mails, and the newsletter flag only when the
    # call sets it (Fleep's account_configure spec: its own contact after confirm/v2).
    account.mk_email_interval = "hourly"
    account.is_newsletter_disabled = ctx.params.flag("is_newsletter_disabled")
    pending.used = True
    result = login_result(ctx, account, remember_me=False)
    result["phone_nr"] = phone
    return result


@handler("account/prepare/v2", auth=False)
def prepare_v2(ctx: Ctx) -> Result:
    """Turn a notification id, or a registration code + email, into a notification id."""
    world = ctx.world
    notification_id = ctx.params.uuid("notification_id")
    code = ctx.params.text("registration_code")
    mail = ctx.params.text("registration_mail")
    pending = None
    if notification_id is not None:
        pending = world.pending.get(notification_id)
    elif code is not None and mail is not None:
        pending = next(
            (
                p
                for p in world.pending.values()
                if p.registration_code == code and p.email.lower() == mail.strip().lower()
            ),
            None,
        )
    else:
        raise bad_request("Give notification_id, or registration_code and registration_mail.")
    if pending is None or pending.used:
        raise business("invalid_notification", "Unknown or used notification.")
    local = pending.email.split("@", 1)[0]
    result: Result = {
        "notification_id": pending.notification_id,
        "email_address": pending.email,
        "suggestions": [world._unique_address(local)],
        "country_code": "EE",
    }
    if pending.display_name:
        result["display_name"] = pending.display_name
    return result


@handler("account/reset_password", auth=False)
def reset_password(ctx: Ctx) -> Result:
    """Mail a reset link; 431 for an unknown email or too many resets of it in an hour."""
    world = ctx.world
    email = ctx.params.req_text("email")
    account = world.find_account(email)
    if account is None or account.mk_account_status != "active":
        raise business("unknown_email", "No account with this email.")
    now = world.now()
    # The limit counts per address asked for, as the real one does.
    key = email.strip().lower()
    recent = [t for t in world.reset_times.get(key, []) if now - t < RESET_WINDOW]
    if len(recent) >= RESET_VELOCITY:
        raise business("velocity", "Too many password reset requests, try again later.")
    world.reset_times[key] = [*recent, now]
    world.new_pending(
        "reset_password",
        account.email,
        mail_kind="reset_password",
        account_id=account.account_id,
        subject="Reset your Fleep password",
    )
    return {}


@handler("account/confirm_password", auth=False)
def confirm_password(ctx: Ctx) -> Result:
    """Set the new password from a reset mail's ``notification_id``; every session closes."""
    complete_password_reset(
        ctx.world, ctx.params.req_uuid("notification_id"), ctx.params.req_text("password")
    )
    return {}


@handler("account/click_reminder")
def click_reminder(ctx: Ctx) -> Result:
    """Acknowledge a reminder (FakeFleep creates none, so any id is accepted)."""
    ctx.params.req_uuid("reminder_id")
    return {}


@handler("account/configure")
def configure(ctx: Ctx) -> Result:
    """Change account settings; answers the own contact, which also arrives via poll."""
    me, p, world = ctx.me, ctx.params, ctx.world
    # Checked before anything changes, so a bad value leaves the account as it was.
    settings = _client_settings(me, p.text("client_settings")) if p.has("client_settings") else None
    interval = _interval(p.req_text("email_interval")) if p.has("email_interval") else None
    if p.has("password"):
        if p.text("old_password") != me.password:
            raise business("invalid_password", "Old password does not match.")
        me.password = p.req_text("password")
    if p.has("display_name"):
        me.display_name = p.req_text("display_name")
    if p.has("phone_nr"):
        me.phone_nr = p.text("phone_nr")
    if interval is not None:
        me.mk_email_interval = interval
    for flag in ("is_full_privacy", "is_newsletter_disabled", "is_automute_enabled"):
        value = p.flag(flag)
        if value is not None:
            setattr(me, flag, value)
    if settings is not None:
        me.client_settings = settings
    if p.has("fleep_address"):
        if me.fleep_address is not None and me.fleep_address != p.raw("fleep_address"):
            raise business("fleep_address_exists", "This account already has a Fleep address.")
        me.fleep_address = world._claim_address(
            me.account_id, p.req_text("fleep_address"), me.email.lower()
        )
    if p.has("primary_email"):
        _set_primary_email(world, me, p.req_text("primary_email"))
    world.broadcast_contact(me)
    # The real server answers the bare own contact (Fleep's server tests), not a stream.
    return world.own_contact(me)


def _client_settings(me: AccountState, text: str | None) -> str:
    """The stored settings with the changed ones sent merged in, as compact JSON.

    The server answers the settings re-serialised compactly (Fleep's account_configure
    spec); the docs call the parameter "json encoded dict of changed client settings", so
    the keys sent are merged into what was stored (inferred).
    """
    try:
        changed = json.loads(text or "")
    except ValueError:
        changed = None
    if not isinstance(changed, dict):
        raise bad_request("client_settings must be a JSON-encoded object.")
    stored = json.loads(me.client_settings) if me.client_settings else {}
    return json.dumps({**stored, **changed}, separators=(",", ":"), ensure_ascii=False)


def _interval(value: str) -> str:
    if value not in EMAIL_INTERVALS:
        raise bad_request("Invalid value for email_interval.")
    return value


def _set_primary_email(world: World, me: AccountState, email: str) -> None:
    alias = next(
        (a for a in me.aliases if a.confirmed and a.email.lower() == email.strip().lower()), None
    )
    if alias is None:
        raise business("invalid_email", "The primary email must be a confirmed alias first.")
    # The two addresses swap: the alias (and its placeholder account) takes the old primary
    # address (inferred from Fleep's account_configure spec, where the alias account is
    # afterwards seen under the old address's owner).
    old = me.email
    world.by_email[alias.email.lower()] = me.account_id
    me.email = alias.email
    alias.email = old
    placeholder = world.accounts.get(alias.alias_account_id)
    if placeholder is not None:
        placeholder.email = old
        world.by_email[old.lower()] = placeholder.account_id


@handler("account/configure_email_interval", auth=False)
def configure_email_interval(ctx: Ctx) -> Result:
    """Set the email interval from a notification link."""
    account = _mail_account(ctx)
    account.mk_email_interval = _interval(ctx.params.req_text("email_interval"))
    ctx.world.emit(account.account_id, [ctx.world.own_contact(account)])
    return {}


@handler("account/unsubscribe", auth=False)
def unsubscribe(ctx: Ctx) -> Result:
    """Stop notification emails from a notification link."""
    account = _mail_account(ctx)
    account.mk_email_interval = "never"
    ctx.world.emit(account.account_id, [ctx.world.own_contact(account)])
    return {}


def _mail_account(ctx: Ctx) -> AccountState:
    notification_id = ctx.params.req_text("notification_id")
    mail = next((m for m in ctx.world.outbox if m.notification_id == notification_id), None)
    account = ctx.world.find_account(mail.to) if mail is not None else None
    if account is None:
        raise business("invalid_notification", "Unknown notification.")
    return account


@handler("account/configure_primary_email")
def configure_primary_email(ctx: Ctx) -> Result:
    """Make a confirmed alias the primary email."""
    _set_primary_email(ctx.world, ctx.me, ctx.params.req_text("primary_email"))
    ctx.world.broadcast_contact(ctx.me)
    return {}


@handler("account/export/start")
def export_start(ctx: Ctx) -> Result:
    """FakeFleep "exports" instantly: progress 1, no files."""
    action = ctx.params.text("export_action") or "history_all"
    if action != "history_all":
        raise bad_request("Invalid value for export_action.")
    conv_id = ctx.params.uuid("conversation_id")
    if conv_id is not None:
        conv = ctx.world.conversation(conv_id)
        ctx.world.membership(conv, ctx.me.account_id)
        return ctx.world.full_header(conv, ctx.me.account_id)
    ctx.me.export_progress = "1"
    return ctx.world.own_contact(ctx.me)


@handler("account/lookup")
def lookup(ctx: Ctx) -> Result:
    """Contacts for emails / Fleep addresses (strangers' emails become "new" contacts)."""
    world, me = ctx.world, ctx.me
    ignore = set(ctx.params.uuids("ignore_list") or [])
    stream = []
    for item in ctx.params.texts("lookup_list", required=True) or []:
        account = world.find_account(item)
        if account is None and "@" in item:
            account = world.create_account(item.strip(), None, status="new")
        if account is None or account.account_id in ignore:
            continue
        known = account.account_id == me.account_id or account.account_id in me.known_contacts
        if not known and not _names_email(account, item):
            # Found by Fleep address (or id) by a stranger: the public profile only, and the
            # account does not become a contact (its email stays unknown to the caller).
            stream.append(rec.public_contact(account))
            continue
        if account.account_id != me.account_id:
            me.known_contacts.add(account.account_id)
        stream.append(world.contact_for(account, me))
    return {"stream": stream}


def _names_email(account: AccountState, item: str) -> bool:
    """Whether ``item`` is the account's email or one of its confirmed aliases."""
    key = item.strip().lower()
    return key == account.email.lower() or any(
        alias.confirmed and alias.email.lower() == key for alias in account.aliases
    )


@handler("account/set_flag")
def set_flag(ctx: Ctx) -> Result:
    """Set or clear a client flag."""
    me = ctx.me
    flag = ctx.params.req_text("client_flag")
    if ctx.params.flag("bool_value", default=True):
        if flag not in me.client_flags:
            me.client_flags.append(flag)
    elif flag in me.client_flags:
        me.client_flags.remove(flag)
    ctx.world.emit(me.account_id, [ctx.world.own_contact(me)])
    return {}


def parse_email(value: str) -> str:
    """One e-mail address (400 when it is not one)."""
    value = value.strip()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise bad_request("Invalid value for email.")
    return value


def parse_emails(value: str) -> list[str]:
    """A comma- or semicolon-separated list of e-mail addresses (400 when empty)."""
    out = [parse_email(part) for part in value.replace(";", ",").split(",") if part.strip()]
    if not out:
        raise bad_request("Missing required field: emails.")
    return out


def complete_password_reset(world: World, notification_id: str, password: str) -> None:
    """Finish a reset from its mail: new password, every session of the account closed."""
    pending = find_pending(world, notification_id, "reset_password")
    account = world.accounts[pending.account_id or ""]
    account.password = password
    pending.used = True
    world.expire_sessions(account.account_id)
