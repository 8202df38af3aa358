"""``classificators`` and the out-of-scope integrations (external accounts, Trello)."""

from __future__ import annotations

from typing import Final

from fleep_async.testing._http.errors import bad_request, not_supported
from fleep_async.testing._http.routing import Ctx, Result, handler

MAX_EXTERNAL_SIZE: Final = 1024**3


@handler("classificators", auth=False)
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


@handler("account/external/account/list")
def external_accounts(ctx: Ctx) -> Result:
    """External (Trello) accounts are out of scope."""
    raise not_supported("External accounts")


@handler("account/trello/board/list")
def trello_boards(ctx: Ctx) -> Result:
    """Trello boards are out of scope."""
    raise not_supported("Trello boards")


@handler("submit/stats")
def submit_stats(ctx: Ctx) -> Result:
    """Client usage statistics: accepted and dropped (the real server answers ``{}``)."""
    stats = ctx.params.raw("stats")
    if stats is not None and not isinstance(stats, list):
        raise bad_request("Invalid value for stats: expected a list.")
    return {}
