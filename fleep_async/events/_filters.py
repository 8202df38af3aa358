"""Filters: predicates that decide whether a handler takes a record.

A filter is a :class:`Filter` or any callable taking ``(record)`` or ``(record, ctx)``, sync or
async, returning a bool. A filter may also return a mapping: it passes, and the mapping is added
to ``ctx.data`` for the handler (:class:`Command` adds ``"command"``, :class:`Regex` ``"match"``).
Filters compose with ``&``, ``|`` and ``~``::

    @router.message(Command("echo") & ~FromAccount(ADMIN_ID))
    async def echo(message, ctx):
        await ctx.reply(ctx.command.args)
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from fleep_async.events._context import Context

__all__ = [
    "Command",
    "CommandMatch",
    "Filter",
    "FilterLike",
    "FromAccount",
    "InConversation",
    "OfMessageType",
    "Regex",
    "Text",
    "as_filter",
    "not_own",
]

FilterResult: TypeAlias = bool | Mapping[str, Any] | None
"""False/None: no match; True: match; a mapping: match, and add it to ``ctx.data``."""

FilterLike: TypeAlias = "Filter | Callable[..., FilterResult | Awaitable[FilterResult]]"


class Filter:
    """Base class of filters; subclass and implement :meth:`check`."""

    def check(self, record: Any, ctx: Context[Any]) -> FilterResult | Awaitable[FilterResult]:
        """Return whether ``record`` matches (or a mapping of data for the handler)."""
        raise NotImplementedError

    def __and__(self, other: FilterLike) -> Filter:
        return _And((self, as_filter(other)))

    def __rand__(self, other: FilterLike) -> Filter:
        return _And((as_filter(other), self))

    def __or__(self, other: FilterLike) -> Filter:
        return _Or((self, as_filter(other)))

    def __ror__(self, other: FilterLike) -> Filter:
        return _Or((as_filter(other), self))

    def __invert__(self) -> Filter:
        return _Not(self)


async def evaluate(flt: Filter, record: Any, ctx: Context[Any]) -> Mapping[str, Any] | None:
    """Run ``flt``; return ``None`` when it does not match, else the data it adds (maybe empty)."""
    # object, not FilterResult: user callables may return anything truthy (an re.Match).
    result: object = flt.check(record, ctx)
    if inspect.isawaitable(result):
        result = await result
    if result is None or result is False:
        return None
    if result is True:
        return _EMPTY
    if isinstance(result, Mapping):
        return result
    # Truthiness of other values (an re.Match, a non-empty string) counts as a match.
    return _EMPTY if result else None


_EMPTY: Mapping[str, Any] = {}


@attrs.frozen
class _And(Filter):
    parts: tuple[Filter, ...]

    async def check(self, record: Any, ctx: Context[Any]) -> FilterResult:
        data: dict[str, Any] = {}
        for part in self.parts:
            got = await evaluate(part, record, ctx)
            if got is None:
                return None
            data.update(got)
        return data or True

    def __and__(self, other: FilterLike) -> Filter:
        return _And((*self.parts, as_filter(other)))


@attrs.frozen
class _Or(Filter):
    parts: tuple[Filter, ...]

    async def check(self, record: Any, ctx: Context[Any]) -> FilterResult:
        for part in self.parts:
            got = await evaluate(part, record, ctx)
            if got is not None:
                return got or True
        return None

    def __or__(self, other: FilterLike) -> Filter:
        return _Or((*self.parts, as_filter(other)))


@attrs.frozen
class _Not(Filter):
    inner: Filter

    async def check(self, record: Any, ctx: Context[Any]) -> FilterResult:
        return await evaluate(self.inner, record, ctx) is None

    def __invert__(self) -> Filter:
        return self.inner


class _Callable(Filter):
    __slots__ = ("_func", "_with_ctx")

    def __init__(self, func: Callable[..., Any], with_ctx: bool) -> None:
        self._func = func
        self._with_ctx = with_ctx

    def check(self, record: Any, ctx: Context[Any]) -> Any:
        if self._with_ctx:
            return self._func(record, ctx)
        return self._func(record)

    def __repr__(self) -> str:
        return f"Filter({getattr(self._func, '__qualname__', self._func)!r})"


def _accepts(func: Callable[..., Any], count: int) -> bool:
    try:
        inspect.signature(func).bind(*([None] * count))
    except TypeError:
        return False
    return True


def as_filter(obj: FilterLike) -> Filter:
    """Turn a filter-like object into a :class:`Filter`.

    Raises:
        UsageError: ``obj`` is neither a Filter nor a callable of ``(record)`` or
            ``(record, ctx)``.
    """
    if isinstance(obj, Filter):
        return obj
    if not callable(obj):
        raise UsageError(f"a filter must be a Filter or a callable, got {obj!r}")
    try:
        inspect.signature(obj)
    except (TypeError, ValueError):
        # No signature to inspect (some builtins): assume (record).
        return _Callable(obj, with_ctx=False)
    if _accepts(obj, 2):
        return _Callable(obj, with_ctx=True)
    if _accepts(obj, 1):
        return _Callable(obj, with_ctx=False)
    name = getattr(obj, "__qualname__", repr(obj))
    raise UsageError(f"filter {name} must accept (record) or (record, ctx)")


def _text_of(record: Any) -> str | None:
    text = getattr(record, "text", None)
    return text if isinstance(text, str) else None


@attrs.frozen(kw_only=True)
class Text(Filter):
    """Match a message's plain text: ``equals``, ``startswith``, ``endswith``, ``contains``.

    All given conditions must hold. Records without text (not messages) never match.
    """

    equals: str | None = None
    startswith: str | None = None
    endswith: str | None = None
    contains: str | None = None
    ignore_case: bool = False

    def check(self, record: Any, ctx: Context[Any]) -> bool:
        text = _text_of(record)
        if text is None:
            return False
        text = text.strip()
        norm: Callable[[str], str] = str.casefold if self.ignore_case else str
        text = norm(text)
        return (
            (self.equals is None or text == norm(self.equals))
            and (self.startswith is None or text.startswith(norm(self.startswith)))
            and (self.endswith is None or text.endswith(norm(self.endswith)))
            and (self.contains is None or norm(self.contains) in text)
        )


class Regex(Filter):
    """Match a message's plain text with ``re.search``; adds ``ctx.match``."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str | re.Pattern[str], flags: int = 0) -> None:
        self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def __repr__(self) -> str:
        return f"Regex({self.pattern.pattern!r})"

    def check(self, record: Any, ctx: Context[Any]) -> FilterResult:
        text = _text_of(record)
        if text is None:
            return None
        match = self.pattern.search(text)
        return None if match is None else {"match": match}


@attrs.frozen(kw_only=True)
class CommandMatch:
    """A parsed bot command: ``/echo hello world`` gives ``name="echo"``, ``args="hello world"``.

    Attributes:
        prefix: the prefix that introduced it (``"/"``).
        name: the command name as typed (case preserved).
        args: the rest of the text after the name, stripped.
    """

    prefix: str
    name: str
    args: str

    @property
    def argv(self) -> list[str]:
        """``args`` split on whitespace."""
        return self.args.split()


class Command(Filter):
    """Match a message whose text starts with a command: ``/name`` then a space or the end.

    Adds ``ctx.data["command"]``, a :class:`CommandMatch` (typed: ``ctx.command``).

    Args:
        *names: accepted command names, without the prefix.
        prefix: the characters that may introduce a command (each one alone counts).
        ignore_case: compare names case-insensitively.
    """

    __slots__ = ("ignore_case", "names", "prefix")

    def __init__(self, *names: str, prefix: str = "/", ignore_case: bool = True) -> None:
        if not names:
            raise UsageError("Command needs at least one name")
        if not prefix:
            raise UsageError("Command prefix must not be empty")
        for name in names:
            if not name or any(ch.isspace() for ch in name):
                raise UsageError(f"invalid command name {name!r}")
        self.prefix = prefix
        self.ignore_case = ignore_case
        self.names = frozenset(n.casefold() if ignore_case else n for n in names)

    def __repr__(self) -> str:
        return f"Command({', '.join(sorted(self.names))}, prefix={self.prefix!r})"

    def check(self, record: Any, ctx: Context[Any]) -> FilterResult:
        text = _text_of(record)
        if text is None:
            return None
        text = text.strip()
        if not text or text[0] not in self.prefix:
            return None
        head, _, rest = text[1:].partition(" ")
        # "/echo\nhello" has the name before a newline, not a space.
        head, newline, tail = head.partition("\n")
        if newline:
            rest = f"{tail} {rest}" if rest else tail
        name = head.casefold() if self.ignore_case else head
        if name not in self.names:
            return None
        return {"command": CommandMatch(prefix=text[0], name=head, args=rest.strip())}


def _string_set(kind: str, values: Iterable[str]) -> frozenset[str]:
    result = frozenset(values)
    if not result:
        raise UsageError(f"{kind} needs at least one value")
    return result


class InConversation(Filter):
    """Match records of the given conversations."""

    __slots__ = ("ids",)

    def __init__(self, *conversation_ids: str) -> None:
        self.ids = _string_set("InConversation", conversation_ids)

    def __repr__(self) -> str:
        return f"InConversation({', '.join(sorted(self.ids))})"

    def check(self, record: Any, ctx: Context[Any]) -> bool:
        return getattr(record, "conversation_id", None) in self.ids


class FromAccount(Filter):
    """Match records whose ``account_id`` (the author of a message) is one of the given ids."""

    __slots__ = ("ids",)

    def __init__(self, *account_ids: str) -> None:
        self.ids = _string_set("FromAccount", account_ids)

    def __repr__(self) -> str:
        return f"FromAccount({', '.join(sorted(self.ids))})"

    def check(self, record: Any, ctx: Context[Any]) -> bool:
        return getattr(record, "account_id", None) in self.ids


class OfMessageType(Filter):
    """Match messages by ``mk_message_type`` (``"text"``, ``"topic"``, ``"add"``, ...)."""

    __slots__ = ("types",)

    def __init__(self, *types: str) -> None:
        self.types = _string_set("OfMessageType", (str(t) for t in types))

    def __repr__(self) -> str:
        return f"OfMessageType({', '.join(sorted(self.types))})"

    def check(self, record: Any, ctx: Context[Any]) -> bool:
        value = getattr(record, "mk_message_type", None)
        # Enum members and plain strings (unknown values are kept as str) compare by value.
        value = getattr(value, "value", value)
        return value in self.types


class _NotOwn(Filter):
    def check(self, record: Any, ctx: Context[Any]) -> bool:
        return not ctx.is_own

    def __repr__(self) -> str:
        return "not_own"


not_own: Filter = _NotOwn()
"""Match records not written by the bot's own account (routers apply it to messages by default)."""
