"""``alias/*``: extra email addresses of the account."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_email_line
from fleep_async.models.results import AliasSyncResult, RawResult, StreamResult

__all__ = ["AliasAdd", "AliasConfirm", "AliasRemove", "AliasSync"]


@attrs.frozen(kw_only=True)
class AliasAdd(Endpoint[StreamResult]):
    """Add email aliases; each is confirmed by email.

    Attributes:
        emails: the addresses (a list, or one "To:" line).
    """

    PATH = "alias/add"

    emails: str = attrs.field(converter=to_email_line)


@attrs.frozen(kw_only=True)
class AliasConfirm(Endpoint[RawResult]):
    """Confirm an alias from its confirmation email.

    Attributes:
        notification_id: the id from the email.
    """

    PATH = "alias/confirm"
    AUTH = False  # used from the confirmation email's link

    notification_id: str


@attrs.frozen(kw_only=True)
class AliasRemove(Endpoint[StreamResult]):
    """Remove email aliases.

    Attributes:
        emails: the addresses (a list, or one "To:" line).
    """

    PATH = "alias/remove"

    emails: str = attrs.field(converter=to_email_line)


@attrs.frozen(kw_only=True)
class AliasSync(Endpoint[AliasSyncResult]):
    """List the account's aliases (as contact records, with the own contact)."""

    PATH = "alias/sync"
    RETRY_SAFE = True
