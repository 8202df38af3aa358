"""``classificators`` and the external-account (Trello) calls.

The two external-account paths come only from the RapidAPI package's source: no official client,
server test or Fleep page names them. They are thin pass-throughs returning the raw answer.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_uuid
from fleep_async.models.results import RawResult

__all__ = ["AccountExternalAccountList", "AccountTrelloBoardList", "Classificators"]


@attrs.frozen(kw_only=True)
class Classificators(Endpoint[RawResult]):
    """Get the server's classificator lists (account statuses, message types, alert levels ...)."""

    PATH = "classificators"
    RETRY_SAFE = True


@attrs.frozen(kw_only=True)
class AccountExternalAccountList(Endpoint[RawResult]):
    """List the account's linked external accounts (unverified path).

    Attributes:
        mk_external_account_type: the kind of account, e.g. ``trello``.
        mk_permission_type: the permission asked for.
    """

    PATH = "account/external/account/list"
    RETRY_SAFE = True

    mk_external_account_type: str
    mk_permission_type: str


@attrs.frozen(kw_only=True)
class AccountTrelloBoardList(Endpoint[RawResult]):
    """List the Trello boards of a linked Trello account (unverified path).

    Attributes:
        external_account_id: the linked account.
        mk_permission_type: the permission asked for.
    """

    PATH = "account/trello/board/list"
    RETRY_SAFE = True

    external_account_id: str = attrs.field(converter=to_uuid)
    mk_permission_type: str
