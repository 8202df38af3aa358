"""``business/*`` (the paid organisation API) and ``mail/list``.

FakeFleep models no organisations: every ``business/*`` call answers 431
``not_supported_by_fakefleep`` (documented in docs/fakefleep.md), so a client sees a clear,
typed refusal instead of a 404 for a call the real server has. No e-mail ever reaches a
FakeFleep conversation, so ``mail/list`` answers an empty stream.
"""

from __future__ import annotations

from typing import Final

from fleep_async.testing._http.errors import not_supported
from fleep_async.testing._http.routing import Ctx, Result, handler

# The organisation calls Fleep's own server tests make (those with an id take the
# organisation's id in the path).
BUSINESS_PATHS: Final = (
    ("business/avatar/upload", False),
    ("business/close", True),
    ("business/configure", True),
    ("business/create", False),
    ("business/create_conversation", True),
    ("business/create_team", True),
    ("business/decline_invite", False),
    ("business/delete_avatar", True),
    ("business/diff_team", True),
    ("business/invite_team", True),
    ("business/join", True),
    ("business/store_conversation", True),
    ("business/store_team", True),
    ("business/sync", True),
    ("business/sync_billing", True),
    ("business/sync_changelog", True),
    ("business/sync_conversations", True),
)


def _refuse(ctx: Ctx) -> Result:
    """The organisation API is not modelled."""
    raise not_supported(f"The organisation API ({ctx.path})")


for _path, _with_id in BUSINESS_PATHS:
    handler(
        _path,
        path_id="organisation" if _with_id else "none",
        # The logo is a multipart upload; declining an invitation works from its mail link.
        body="upload" if _path == "business/avatar/upload" else "json",
        auth=_path != "business/decline_invite",
    )(_refuse)


@handler("mail/list")
def mail_list(ctx: Ctx) -> Result:
    """A conversation's e-mails: none ever arrive at FakeFleep."""
    return {"stream": []}
