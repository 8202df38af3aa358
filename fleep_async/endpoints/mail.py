"""``mail/list``: the mailboxes linked to the account.

Not in the API documentation our inventory comes from: Fleep's own server tests call it and
assert its answer, ``{"stream": [mail records]}``.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.models.results import StreamResult

__all__ = ["MailList"]


@attrs.frozen(kw_only=True)
class MailList(Endpoint[StreamResult]):
    """List the linked mailboxes (``mail`` records: addresses, hosts, status; no passwords)."""

    PATH = "mail/list"
    RETRY_SAFE = True  # a read
