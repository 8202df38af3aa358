"""The dispatcher: takes one record through a router tree (middleware, filters, handler)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

import anyio

from fleep_async.events._middleware import wrap
from fleep_async.events._router import HandlerObject, Observer, Router, SkipHandler

if TYPE_CHECKING:
    from fleep_async.events._context import Context, ErrorEvent

__all__ = ["UNHANDLED", "Dispatcher", "HandlerTimeoutError"]


class _Unhandled:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNHANDLED"

    def __bool__(self) -> bool:
        return False


UNHANDLED: Final = _Unhandled()
"""What :meth:`Dispatcher.feed` returns when no handler took the record."""


class HandlerTimeoutError(TimeoutError):
    """A handler ran longer than its timeout (``handler_timeout`` or ``timeout=``)."""

    def __init__(self, handler: str, timeout: float) -> None:
        self.handler = handler
        self.timeout = timeout
        super().__init__(f"handler {handler} did not finish within {timeout:g}s")


class Dispatcher:
    """Feeds records to the first matching handler of a router tree.

    Args:
        router: the root router.
        handler_timeout: the default handler timeout in seconds (``None``: no limit).
    """

    def __init__(self, router: Router, *, handler_timeout: float | None = None) -> None:
        self.router = router
        self.handler_timeout = handler_timeout

    async def feed(self, record: Any, ctx: Context[Any]) -> Any:
        """Dispatch ``record``; return the handler's result, or :data:`UNHANDLED`.

        Exceptions from handlers and middleware propagate (``ctx.router`` tells whose).
        """
        # Every await level costs per record; skip the ones that would only pass through.
        if self.router.outer_middlewares:
            return await self._propagate(self.router, record, ctx)
        return await self._inside(self.router, record, ctx)

    async def _propagate(self, router: Router, record: Any, ctx: Context[Any]) -> Any:
        if router.outer_middlewares:
            inner = functools.partial(self._inside, router)
            return await wrap(router.outer_middlewares, inner)(record, ctx)
        return await self._inside(router, record, ctx)

    async def _inside(self, router: Router, record: Any, ctx: Context[Any]) -> Any:
        if not (router.skip_own and ctx.kind == "message" and ctx.is_own):
            observer = router.observers.get(ctx.kind)
            for obs in (observer, router.any):
                if obs is None or not obs.handlers:
                    continue
                for handler in obs.handlers:
                    # A handler without filters matches: no coroutine to run for it.
                    if handler.filters:
                        data = await handler.match(record, ctx)
                        if data is None:
                            continue
                        if data:
                            ctx.data.update(data)
                    try:
                        return await self._call(router, obs, handler, record, ctx)
                    except SkipHandler:
                        continue
        for sub in router.sub_routers:
            result = await self._propagate(sub, record, ctx)
            if result is not UNHANDLED:
                return result
        return UNHANDLED

    async def _call(
        self,
        router: Router,
        observer: Observer,
        handler: HandlerObject,
        record: Any,
        ctx: Context[Any],
    ) -> Any:
        ctx.router = router
        ctx.handler = handler
        timeout = handler.timeout if handler.timeout is not None else self.handler_timeout
        middlewares = router.inner_middlewares or observer.middlewares
        if timeout is None and not middlewares:
            # The common case: the callback itself, without the wrappers' await levels.
            if handler.with_ctx:
                return await handler.callback(record, ctx)
            return await handler.callback(record)
        call = handler.call
        if timeout is not None:
            call = functools.partial(self._call_with_timeout, handler, timeout)
        if middlewares:
            return await wrap(router.inner_middlewares + observer.middlewares, call)(record, ctx)
        return await call(record, ctx)

    @staticmethod
    async def _call_with_timeout(
        handler: HandlerObject, limit: float, record: Any, ctx: Context[Any]
    ) -> Any:
        # move_on_after, not fail_after: a TimeoutError the handler raises itself stays its own.
        with anyio.move_on_after(limit):
            return await handler.call(record, ctx)
        raise HandlerTimeoutError(handler.name, limit)

    async def notify_error(self, event: ErrorEvent, ctx: Context[Any]) -> bool:
        """Call the error handler for ``event``, starting at the failing handler's router."""
        origin = ctx.router or self.router
        return await origin.notify_error(event, ctx)
