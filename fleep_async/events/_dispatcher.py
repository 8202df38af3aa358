"""The dispatcher: takes one record through a router tree (middleware, filters, handler)."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import anyio

from fleep_async.events._filters import Filter
from fleep_async.events._middleware import wrap
from fleep_async.events._router import HandlerObject, Observer, Router, SkipHandler

if TYPE_CHECKING:
    from fleep_async.events._context import Context, ErrorEvent

__all__ = ["UNHANDLED", "Dispatcher", "HandlerTimeoutError", "TimeoutGuard"]


class _Unhandled:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNHANDLED"

    def __bool__(self) -> bool:
        return False


_INF: Final = math.inf

UNHANDLED: Final = _Unhandled()
"""What :meth:`Dispatcher.feed` returns when no handler took the record."""

# One handler candidate of a prepared plan: its router, observer and handler, whether the
# router skips the bot's own messages (for this kind), whether middlewares wrap the call, the
# handler's timeout (its own or the dispatcher's default), and the handler's filters, callback
# and whether it takes the context (read once per page, not per record).
_Step = tuple[
    Router,
    Observer,
    HandlerObject,
    bool,
    bool,
    float | None,
    tuple[Filter, ...],
    Callable[..., Awaitable[Any]],
    bool,
]


def _is_own(record: Any, ctx: Context[Any]) -> bool:
    # ctx.is_own without its property call and getattr(): a third of a no-op handler's
    # dispatch on CPython 3.11, which does not specialise property reads.
    try:
        author = record.account_id
    except AttributeError:
        return False
    return author is not None and author == ctx.own_account_id


class HandlerTimeoutError(TimeoutError):
    """A handler ran longer than its timeout (``handler_timeout`` or ``timeout=``)."""

    def __init__(self, handler: str, timeout: float) -> None:
        self.handler = handler
        self.timeout = timeout
        super().__init__(f"handler {handler} did not finish within {timeout:g}s")


class TimeoutGuard:
    """Handler timeouts for a caller that runs many handlers in a row under one cancel scope.

    A cancel scope per handler call costs more than a cheap handler (a timer scheduled and
    cancelled each time). The engine's lane worker instead opens one scope per burst of records
    and passes this guard in the context; :meth:`arm` moves the scope's deadline only when it
    must: never before the running handler's time is up, and at most ``slack`` after it
    (a tenth of the timeout, at most a second). When the scope fires, the caller reads
    :attr:`handler` / :attr:`limit` to report a :class:`HandlerTimeoutError` for the record, and
    must not run another handler in that scope.

    Without a guard (``ctx.timeout_guard is None``) the dispatcher uses a scope per call.
    """

    __slots__ = (
        "_clock",
        "_deadline",
        "_fits_limit",
        "_fits_until",
        "attempt",
        "ctx",
        "handler",
        "limit",
        "scope",
        "started",
    )

    def __init__(
        self, scope: anyio.CancelScope, clock: Callable[[], float] = anyio.current_time
    ) -> None:
        self.scope = scope
        self._clock = clock  # the event loop's clock (what scope deadlines are in)
        # The scope's deadline as this guard last set it (the guard is its only writer): read
        # here, not through the scope's property, once per handler.
        self._deadline = scope.deadline
        # That deadline fits a handler with the limit _fits_limit that starts by _fits_until.
        self._fits_until = -math.inf
        self._fits_limit = 0.0
        self.started = math.inf
        """When the running handler with a timeout started; ``inf`` while none is armed."""
        self.handler = ""
        self.limit = 0.0
        self.attempt = 1
        self.ctx: Context[Any] | None = None

    @property
    def expires(self) -> float:
        """When the running handler's time is up (``inf``: it has no timeout)."""
        return self.started + self.limit

    def arm(self, handler: str, limit: float) -> None:
        """A handler with ``limit`` seconds starts now."""
        now = self._clock()
        self.started = now
        self.handler = handler
        self.limit = limit
        # Usually the deadline set for an earlier handler still fits (it is within the slack):
        # the scope is left alone, no timer moved. Tested against a bound computed when the
        # deadline moved: no float arithmetic per handler.
        if now > self._fits_until or limit != self._fits_limit:
            deadline = now + limit + (1.0 if limit >= 10.0 else limit / 10)
            self._deadline = deadline
            self._fits_until = deadline - limit
            self._fits_limit = limit
            self.scope.deadline = deadline

    def disarm(self) -> None:
        """What runs next has no timeout."""
        self.started = math.inf
        if self._deadline != math.inf:
            self._deadline = math.inf
            self._fits_until = -math.inf
            self.scope.deadline = math.inf

    @property
    def fired(self) -> bool:
        """Whether the scope was cancelled by a handler's deadline."""
        return self.scope.cancel_called


class Dispatcher:
    """Feeds records to the first matching handler of a router tree.

    Args:
        router: the root router.
        handler_timeout: the default handler timeout in seconds (``None``: no limit).
    """

    def __init__(self, router: Router, *, handler_timeout: float | None = None) -> None:
        self.router = router
        self.handler_timeout = handler_timeout
        # kind -> the handler candidates in dispatch order (see _Step), built by prepare();
        # None: walk the tree per record (outer middlewares, or not prepared).
        self._plans: dict[str, tuple[_Step, ...]] | None = None
        # kind -> its plan's only step when begin() may call it directly (one handler, no
        # filters, no middlewares), () for a plan with no step, None otherwise.
        self._direct: dict[str, _Step | tuple[()] | None] = {}

    def prepare(self) -> None:
        """Take the router tree as it is now: later records skip the tree walk.

        A caller that dispatches many records (the engine, once per poll page) calls this
        before them; handlers, filters, middlewares and timeouts registered afterwards are seen
        at the next call. Trees with outer middlewares (which wrap the walk itself) are always
        walked.
        """
        if any(router.outer_middlewares for router in self.router.walk()):
            self._plans = None
        else:
            self._plans = {}
        self._direct = {}

    def _plan(self, kind: str) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        default = self.handler_timeout
        for router in self.router.walk():
            skip_own = router.skip_own and kind == "message"
            for obs in (router.observers.get(kind), router.any):
                if obs is None:
                    continue
                wrapped = bool(router.inner_middlewares or obs.middlewares)
                for handler in obs.handlers:
                    timeout = handler.timeout if handler.timeout is not None else default
                    steps.append(
                        (
                            router,
                            obs,
                            handler,
                            skip_own,
                            wrapped,
                            timeout,
                            handler.filters,
                            handler.callback,
                            handler.with_ctx,
                        )
                    )
        plan = tuple(steps)
        assert self._plans is not None
        self._plans[kind] = plan
        if not plan:
            self._direct[kind] = ()
        elif len(plan) == 1 and not plan[0][4] and not plan[0][6]:  # not wrapped, no filters
            self._direct[kind] = plan[0]
        else:
            self._direct[kind] = None
        return plan

    def begin(self, record: Any, ctx: Context[Any]) -> Awaitable[Any] | _Unhandled | None:
        """Start dispatching ``record`` without a coroutine of the dispatcher's own.

        For a prepared kind whose plan is one handler without filters or middlewares (a bot's
        usual tree), returns the handler's call, not yet awaited, with the context and the
        timeout guard set as :meth:`feed` sets them; :data:`UNHANDLED` when no handler takes
        the record; ``None`` when the record needs :meth:`feed`. The caller awaits the call and
        treats a :class:`SkipHandler` it raises as :data:`UNHANDLED` (the handler was the
        only one). This saves the engine's lane worker an await level per record.
        """
        plans = self._plans
        if plans is None:
            return None
        kind = ctx.kind
        try:
            direct = self._direct[kind]
        except KeyError:
            self._plan(kind)
            direct = self._direct[kind]
        if not direct:
            return None if direct is None else UNHANDLED
        router, _, handler, skip_own, _, timeout, _, callback, with_ctx = direct
        if skip_own:
            try:  # _is_own(), inline: a call costs as much as the test
                author = record.account_id
            except AttributeError:
                author = None
            if author is not None and author == ctx.own_account_id:
                return UNHANDLED
        guard = ctx.timeout_guard
        if guard is not None:
            if timeout is not None:
                guard.arm(handler.name, timeout)
            elif guard.started != _INF:
                guard.disarm()
        elif timeout is not None:
            return None  # a scope of its own: feed() makes it
        ctx.router = router
        ctx.handler = handler
        if with_ctx:
            return callback(record, ctx)
        return callback(record)

    async def feed(self, record: Any, ctx: Context[Any]) -> Any:
        """Dispatch ``record``; return the handler's result, or :data:`UNHANDLED`.

        Exceptions from handlers and middleware propagate (``ctx.router`` tells whose).
        """
        plans = self._plans
        if plans is None:
            if self.router.outer_middlewares:
                return await self._propagate(self.router, record, ctx)
            return await self._inside(self.router, record, ctx)
        # The prepared path: the same order as the walk (each router's own handlers, then its
        # sub-routers, depth-first), without an await level per router.
        kind = ctx.kind
        plan = plans.get(kind)
        if plan is None:
            plan = self._plan(kind)
        own: bool | None = None  # whether the record is the bot's own message, once asked
        for (
            router,
            observer,
            handler,
            skip_own,
            wrapped,
            timeout,
            filters,
            callback,
            with_ctx,
        ) in plan:
            if skip_own:
                if own is None:
                    own = _is_own(record, ctx)
                if own:
                    continue
            if filters:
                data = await handler.match(record, ctx)
                if data is None:
                    continue
                if data:
                    ctx.data.update(data)
            guard = ctx.timeout_guard
            try:
                if not wrapped and (guard is not None or timeout is None):
                    # The common case: the callback itself, without the wrappers' await levels;
                    # a timeout is the caller's guard's (no cancel scope per call).
                    ctx.router = router
                    ctx.handler = handler
                    if guard is not None:
                        if timeout is not None:
                            guard.arm(handler.name, timeout)
                        elif guard.started != _INF:
                            guard.disarm()
                    if with_ctx:
                        return await callback(record, ctx)
                    return await callback(record)
                return await self._call(router, observer, handler, record, ctx)
            except SkipHandler:
                continue
        return UNHANDLED

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
        guard = ctx.timeout_guard
        if guard is not None:
            # The caller's scope enforces it (see TimeoutGuard): no scope of our own.
            if timeout is not None:
                guard.arm(handler.name, timeout)
                timeout = None
            elif guard.started != _INF:
                guard.disarm()
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
