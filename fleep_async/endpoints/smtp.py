"""``account/smtp/*``: the account's own outgoing mail servers."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_uuid
from fleep_async.models.results import RawResult, StreamResult

__all__ = ["AccountSmtpConfigure", "AccountSmtpList", "AccountSmtpStore"]


@attrs.frozen(kw_only=True)
class AccountSmtpConfigure(Endpoint[StreamResult]):
    """Change (or remove) an SMTP setting.

    Attributes:
        smtp_id: the setting.
        smtp_username: the login name.
        smtp_password: the password (never in a repr).
        smtp_host: the host.
        smtp_port: the port (-1 removes it).
        is_removed: remove the setting.
        is_default: make it the default.
    """

    PATH = "account/smtp/configure"

    smtp_id: str = attrs.field(converter=to_uuid)
    smtp_username: str | None = None
    smtp_password: str | None = attrs.field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int | None = None
    is_removed: bool | None = None
    is_default: bool | None = None


@attrs.frozen(kw_only=True)
class AccountSmtpList(Endpoint[StreamResult]):
    """List the SMTP settings."""

    PATH = "account/smtp/list"
    RETRY_SAFE = True


@attrs.frozen(kw_only=True)
class AccountSmtpStore(Endpoint[RawResult]):
    """Add an SMTP setting.

    Attributes:
        smtp_address: the sender address it is for.
        smtp_username: the login name.
        smtp_password: the password (never in a repr).
        smtp_host: the host.
        smtp_port: the port.
        smtp_connection: ``ssl`` or ``starttls``.
    """

    PATH = "account/smtp/store"

    smtp_address: str
    smtp_username: str
    smtp_password: str = attrs.field(repr=False)
    smtp_host: str
    smtp_port: int | None = None
    smtp_connection: str | None = None
