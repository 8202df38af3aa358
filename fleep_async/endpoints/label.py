"""``label/sync_conversations``: the conversations under a label."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._paging import LabelCursorPager
from fleep_async.models.results import StreamResult

__all__ = ["LabelSyncConversations"]


@attrs.frozen(kw_only=True)
class LabelSyncConversations(Endpoint[StreamResult]):
    """Get the conversations under a label, batch by batch.

    Attributes:
        label_id: the label.
        sync_cursor: where the previous batch ended (from the label record).
        mk_init_mode: how much to load: ``ic_header``, ``ic_tiny`` or ``ic_full``.
    """

    PATH = "label/sync_conversations"
    RETRY_SAFE = True
    PAGER = LabelCursorPager()

    label_id: str
    sync_cursor: str | None = None
    mk_init_mode: str = "ic_tiny"
