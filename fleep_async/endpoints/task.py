"""The pinboard and taskboard: ``account/sync_pinboard`` and ``account/sync_taskboard``.

(``conversation/sync_pins`` is in :mod:`.conversation`.)
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import to_uuid
from fleep_async.endpoints._paging import WeightPager
from fleep_async.models.results import StreamResult

__all__ = ["AccountSyncPinboard", "AccountSyncTaskboard"]


@attrs.frozen(kw_only=True)
class AccountSyncPinboard(Endpoint[StreamResult]):
    """Get a conversation's pinned messages, page by page.

    Attributes:
        conversation_id: the conversation.
        pin_weight: the weight of the last pin held (the cursor).
        pin_limit: the page size.
    """

    PATH = "account/sync_pinboard"
    RETRY_SAFE = True
    PAGER = WeightPager(cursor="pin_weight", limit="pin_limit")

    conversation_id: str = attrs.field(converter=to_uuid)
    pin_weight: float | None = None
    pin_limit: int = 30


@attrs.frozen(kw_only=True)
class AccountSyncTaskboard(Endpoint[StreamResult]):
    """Get the tasks of a taskboard section, page by page.

    Attributes:
        conversation_id: the conversation.
        section_id: the taskboard section.
        task_weight: the weight of the last task held (the cursor).
        task_limit: the page size (1 to 100).
    """

    PATH = "account/sync_taskboard"
    RETRY_SAFE = True
    PAGER = WeightPager(cursor="task_weight", limit="task_limit")

    conversation_id: str = attrs.field(converter=to_uuid)
    section_id: str = attrs.field(converter=to_uuid)
    task_weight: float | None = None
    task_limit: int = 30
