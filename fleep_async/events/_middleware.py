"""Middleware: code that wraps handling, onion style.

A middleware is any ``async`` callable ``(handler, record, ctx)`` that usually ends with
``return await handler(record, ctx)``; it may act before and after, change ``ctx.data``, or not
call ``handler`` at all to drop the record::

    async def timing(handler, record, ctx):
        started = time.monotonic()
        try:
            return await handler(record, ctx)
        finally:
            log.info("handled %s in %.3fs", ctx.kind, time.monotonic() - started)

    router.outer_middleware(timing)   # every record entering the router, before filters
    router.middleware(timing)         # only around the handler that matched, after filters
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from fleep_async.events._context import Context

__all__ = ["Middleware", "NextHandler", "check_middleware", "wrap"]

NextHandler: TypeAlias = "Callable[[Any, Context[Any]], Awaitable[Any]]"
"""The rest of the chain, as a middleware sees it."""


class Middleware(Protocol):
    """An async callable wrapping the handling of a record."""

    async def __call__(self, handler: NextHandler, record: Any, ctx: Context[Any], /) -> Any:
        """Handle ``record``, usually by awaiting ``handler(record, ctx)``."""


def _is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - want the bound method itself
    return call is not None and inspect.iscoroutinefunction(call)


def check_middleware(mw: object) -> None:
    """Raise :class:`UsageError` unless ``mw`` is an async callable of three arguments."""
    name = getattr(mw, "__qualname__", type(mw).__qualname__)
    if not callable(mw) or not _is_async_callable(mw):
        raise UsageError(f"middleware {name} must be an async callable (handler, record, ctx)")
    try:
        inspect.signature(mw).bind(None, None, None)
    except TypeError:
        raise UsageError(f"middleware {name} must accept (handler, record, ctx)") from None
    except ValueError:  # no signature available: trust it
        pass


def wrap(middlewares: Sequence[Middleware], inner: NextHandler) -> NextHandler:
    """Fold ``middlewares`` around ``inner``; the first one is the outermost."""
    handler = inner
    for mw in reversed(middlewares):
        handler = functools.partial(mw, handler)
    return handler
