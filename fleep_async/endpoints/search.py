"""``search`` and ``search/*``."""

from __future__ import annotations

import attrs

from fleep_async.endpoints._base import Endpoint
from fleep_async.endpoints._fields import (
    to_keywords,
    to_optional_str_list,
    to_optional_uuid,
    to_optional_uuid_list,
)
from fleep_async.models.results import RawResult, SearchResult, SuggestResult

__all__ = ["Search", "SearchPrepare", "SearchReset", "SearchSuggest"]


@attrs.frozen(kw_only=True)
class Search(Endpoint[SearchResult]):
    """Search messages and conversations.

    Attributes:
        keywords: the words (a list is joined with spaces).
        conversation_id: search only this conversation.
        need_suggestions: also answer keyword suggestions.
        search_types: ``topic``, ``chat``, ``file``, ``pin``, ``task``, ``subject``.
        ignore_conversation_ids: conversations to leave out.
        is_extended_search: search more widely.
    """

    PATH = "search"
    RETRY_SAFE = True

    keywords: str = attrs.field(converter=to_keywords)
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
    need_suggestions: bool = False
    search_types: tuple[str, ...] | None = attrs.field(default=None, converter=to_optional_str_list)
    ignore_conversation_ids: tuple[str, ...] | None = attrs.field(
        default=None, converter=to_optional_uuid_list
    )
    is_extended_search: bool = False


@attrs.frozen(kw_only=True)
class SearchPrepare(Endpoint[RawResult]):
    """Load the account's search index into the server's cache (weakly sourced path)."""

    PATH = "search/prepare"
    RETRY_SAFE = True  # a cache warm-up


@attrs.frozen(kw_only=True)
class SearchReset(Endpoint[RawResult]):
    """Drop the account's search index from the server's cache."""

    PATH = "search/reset"
    RETRY_SAFE = True  # a cache drop


@attrs.frozen(kw_only=True)
class SearchSuggest(Endpoint[SuggestResult]):
    """Suggest completions of the last word of ``keywords``; answers a bare list of strings.

    Attributes:
        keywords: the words typed so far (a list is joined with spaces).
        conversation_id: suggest from this conversation only.
    """

    PATH = "search/suggest"
    RETRY_SAFE = True

    keywords: str = attrs.field(converter=to_keywords)
    conversation_id: str | None = attrs.field(default=None, converter=to_optional_uuid)
