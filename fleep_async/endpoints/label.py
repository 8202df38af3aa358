"""``label/*``: conversation labels.

``label/store`` is not in the API documentation our inventory comes from: Fleep's own server
tests call it and assert its answer, ``{"stream": [the label record]}``.
"""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._paging import LabelCursorPager
from fleep_async.models.results import StreamResult

__all__ = ["LabelStore", "LabelSyncConversations"]


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


@attrs.frozen(kw_only=True)
class LabelStore(Endpoint[StreamResult]):
    """Create, rename, move, show/hide or remove a label; answers the label record.

    Without ``label_id`` a label named ``label`` is created (or found); ``index=-1`` removes
    the label named ``label`` (its record comes back with ``mk_label_status: "removed"``).

    Attributes:
        label: the label's name (a new name when ``label_id`` is given).
        label_id: the label to change.
        index: its position; ``-1`` removes it.
        is_on_left_pane: show it in the left pane.
        is_in_muted: include muted conversations.
        is_in_recent: include its conversations in Recent.
    """

    PATH = "label/store"

    label: str | None = None
    label_id: str | None = None
    index: int | None = None
    is_on_left_pane: bool | None = None
    is_in_muted: bool | None = None
    is_in_recent: bool | None = None
