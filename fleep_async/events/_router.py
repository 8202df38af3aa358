"""Routers: where handlers are registered, one observer per record kind.

::

    router = Router()

    @router.message(Command("echo"))
    async def echo(message, ctx):
        await ctx.reply(ctx.command.args)

    @router.conversation()
    async def topic_changed(conv, ctx): ...

    @router.error(TimeoutError)
    async def on_timeout(event, ctx): ...

A record goes to the **first** handler whose filters all pass, trying routers depth-first in the
order they were included; within a router the observer of the record's kind comes before
:attr:`Router.any`. A handler can raise :class:`SkipHandler` to let the next one try. Put a
catch-all (``@router.any()`` or a handler without filters) in a router included last.

By default a router does not give the bot's own messages (the server echoes them back) to its
handlers: ``Router(skip_own=False)`` to receive them too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar

from fleep_async.errors import UsageError
from fleep_async.events._filters import Filter, FilterLike, as_filter, evaluate
from fleep_async.events._middleware import Middleware, check_middleware

if TYPE_CHECKING:
    from fleep_async.events._context import Context, ErrorEvent

__all__ = [
    "KIND_OF_OBSERVER",
    "ErrorObserver",
    "HandlerObject",
    "Observer",
    "Router",
    "SkipHandler",
]

HandlerT = TypeVar("HandlerT", bound=Callable[..., Awaitable[Any]])

# An error handler takes the ErrorEvent (not the exception: that is ``event.exception``), so
# that a handler written as ``(exc: Exception, ctx)`` is a type error, not a runtime surprise.
ErrorHandlerT = TypeVar(
    "ErrorHandlerT",
    bound=Callable[["ErrorEvent", "Context[Any]"], Awaitable[Any]]
    | Callable[["ErrorEvent"], Awaitable[Any]],
)

KIND_OF_OBSERVER: Final[dict[str, str]] = {
    "message": "message",
    "conversation": "conv",
    "contact": "contact",
    "activity": "activity",
    "hook": "hook",
    "request": "request",
}
"""Observer attribute name -> the ``mk_rec_type`` it receives."""


class SkipHandler(Exception):
    """Raise in a handler to pass the record on to the next matching handler."""


def _callable_name(func: object) -> str:
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if name is None:
        name = type(func).__qualname__
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def _is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - want the bound method itself
    return call is not None and inspect.iscoroutinefunction(call)


def _positional_arity(func: object, what: str, first: str) -> int:
    """1 if ``func`` takes ``(first)``, 2 if it takes ``(first, ctx)``; else UsageError."""
    name = _callable_name(func)
    if not callable(func) or not _is_async_callable(func):
        short = getattr(func, "__name__", "handler")
        raise UsageError(
            f"{what} {name} must be a coroutine function (async def {short}({first}, ctx)), "
            f"got {type(func).__name__}"
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return 2
    for count in (2, 1):
        try:
            signature.bind(*([None] * count))
        except TypeError:
            continue
        return count
    raise UsageError(f"{what} {name} must accept ({first}, ctx) or ({first})")


class HandlerObject:
    """A registered handler: the callback, its filters and its timeout."""

    __slots__ = ("callback", "filters", "name", "router", "timeout", "with_ctx")

    def __init__(
        self,
        callback: Callable[..., Awaitable[Any]],
        filters: tuple[Filter, ...],
        *,
        timeout: float | None,
        router: Router,
    ) -> None:
        self.callback = callback
        self.filters = filters
        self.timeout = timeout
        self.router = router
        self.name = _callable_name(callback)
        self.with_ctx = _positional_arity(callback, "handler", "record") == 2

    def __repr__(self) -> str:
        return f"HandlerObject({self.name})"

    async def match(self, record: Any, ctx: Context[Any]) -> dict[str, Any] | None:
        """Run the filters; ``None`` if one fails, else the data they add."""
        data: dict[str, Any] = {}
        for flt in self.filters:
            got = await evaluate(flt, record, ctx)
            if got is None:
                return None
            if got:
                data.update(got)
        return data

    async def call(self, record: Any, ctx: Context[Any]) -> Any:
        """Invoke the callback with the right arguments."""
        if self.with_ctx:
            return await self.callback(record, ctx)
        return await self.callback(record)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout must be > 0 or None, got {timeout!r}")


class Observer:
    """The handlers of one record kind in one router (``router.message`` ...).

    Use as a decorator, ``@router.message(filter, ...)``, or call :meth:`register`.
    """

    def __init__(self, router: Router, kind: str | None) -> None:
        self.router = router
        self.kind = kind
        """The ``mk_rec_type`` observed, or ``None`` for :attr:`Router.any`."""
        self.handlers: list[HandlerObject] = []
        self.middlewares: list[Middleware] = []

    def __repr__(self) -> str:
        return f"Observer({self.kind or 'any'}, handlers={len(self.handlers)})"

    def register(
        self,
        callback: HandlerT,
        *filters: FilterLike,
        timeout: float | None = None,
    ) -> HandlerT:
        """Register ``callback`` for records passing all ``filters``; return it.

        Args:
            callback: ``async def handler(record, ctx)`` (or ``(record)``).
            *filters: :class:`Filter` objects or callables; all must pass.
            timeout: seconds the handler may run (overrides the engine's ``handler_timeout``).

        Raises:
            UsageError: the callback is not a coroutine function of the right arity, a filter
                is not filter-like, or the timeout is not positive.
        """
        _check_timeout(timeout)
        handler = HandlerObject(
            callback, tuple(as_filter(f) for f in filters), timeout=timeout, router=self.router
        )
        self.handlers.append(handler)
        return callback

    def __call__(
        self, *filters: FilterLike, timeout: float | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator form of :meth:`register`."""
        # Validate eagerly so that a mistake points at the decorator line.
        _check_timeout(timeout)
        checked = tuple(as_filter(f) for f in filters)

        def decorator(callback: HandlerT) -> HandlerT:
            return self.register(callback, *checked, timeout=timeout)

        return decorator

    def middleware(self, mw: Middleware) -> Middleware:
        """Add an inner middleware around this observer's handlers (after filters)."""
        check_middleware(mw)
        self.middlewares.append(mw)
        return mw


ErrorHandler = Callable[..., Awaitable[Any]]


class ErrorObserver:
    """Error handlers of a router: ``@router.error()`` or ``@router.error(ValueError, ...)``.

    An error handler receives ``(event: ErrorEvent, ctx)``. When a handler fails, the first error
    handler whose exception types match is called, looking in the failing handler's router first
    and then in its parents.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.handlers: list[tuple[ErrorHandler, tuple[type[BaseException], ...], bool]] = []

    def __repr__(self) -> str:
        return f"ErrorObserver(handlers={len(self.handlers)})"

    def register(
        self, callback: ErrorHandlerT, *exception_types: type[BaseException]
    ) -> ErrorHandlerT:
        """Register ``callback`` for failures of the given types (all if none are given).

        ``callback`` is ``async def on_error(event: ErrorEvent, ctx: Context[...])`` (or
        ``(event)``); the exception is ``event.exception``.
        """
        for exc_type in exception_types:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise UsageError(f"router.error() takes exception types, got {exc_type!r}")
        with_ctx = _positional_arity(callback, "error handler", "event") == 2
        self.handlers.append((callback, exception_types or (Exception,), with_ctx))
        return callback

    def __call__(
        self, *exception_types: type[BaseException]
    ) -> Callable[[ErrorHandlerT], ErrorHandlerT]:
        """Decorator form of :meth:`register`."""
        for exc_type in exception_types:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise UsageError(f"router.error() takes exception types, got {exc_type!r}")

        def decorator(callback: ErrorHandlerT) -> ErrorHandlerT:
            return self.register(callback, *exception_types)

        return decorator

    def find(self, exc: BaseException) -> tuple[ErrorHandler, bool] | None:
        """The first handler registered for ``exc``'s type, with its ``with_ctx`` flag."""
        for callback, types, with_ctx in self.handlers:
            if isinstance(exc, types):
                return callback, with_ctx
        return None


class Router:
    """A set of handlers, one observer per record kind, nestable with :meth:`include_router`.

    Args:
        name: a label for logs and reprs.
        skip_own: do not give the bot's own messages to this router's handlers (the server
            echoes every sent message back to the sender). Sub-routers decide for themselves.

    Attributes:
        message: handlers of :class:`~fleep_async.models.MessageRecord`.
        conversation: handlers of conversation headers (``conv``).
        contact: handlers of contacts.
        activity: handlers of activity (typing, read position).
        hook: handlers of hook records.
        request: handlers of request confirmations (``client_req_id`` processed).
        any: handlers of any record, tried after the kind's own observer (catch-alls, record
            types without an observer of their own such as ``file`` or ``label``).
        error: error handlers.
    """

    def __init__(self, *, name: str | None = None, skip_own: bool = True) -> None:
        self.name = name or f"router-{id(self):x}"
        self.skip_own = skip_own
        self.message = Observer(self, "message")
        self.conversation = Observer(self, "conv")
        self.contact = Observer(self, "contact")
        self.activity = Observer(self, "activity")
        self.hook = Observer(self, "hook")
        self.request = Observer(self, "request")
        self.any = Observer(self, None)
        self.error = ErrorObserver(self)
        self.observers: dict[str, Observer] = {
            observer.kind: observer
            for observer in (
                self.message,
                self.conversation,
                self.contact,
                self.activity,
                self.hook,
                self.request,
            )
            if observer.kind is not None
        }
        self.parent: Router | None = None
        self.sub_routers: list[Router] = []
        self.outer_middlewares: list[Middleware] = []
        self.inner_middlewares: list[Middleware] = []

    def __repr__(self) -> str:
        return f"Router({self.name!r})"

    def include_router(self, router: Router) -> Router:
        """Add ``router`` as a sub-router (tried after this router's own handlers); return it.

        Raises:
            UsageError: the router is this one, already included elsewhere, or an ancestor.
        """
        if not isinstance(router, Router):
            raise UsageError(f"include_router() takes a Router, got {type(router).__name__}")
        if router.parent is not None:
            raise UsageError(f"{router!r} is already included in {router.parent!r}")
        node: Router | None = self
        while node is not None:
            if node is router:
                raise UsageError(f"including {router!r} in {self!r} would make a cycle")
            node = node.parent
        router.parent = self
        self.sub_routers.append(router)
        return router

    def include_routers(self, *routers: Router) -> None:
        """Include several routers, in order."""
        for router in routers:
            self.include_router(router)

    def outer_middleware(self, mw: Middleware) -> Middleware:
        """Add a middleware run for every record entering this router, before any filter."""
        check_middleware(mw)
        self.outer_middlewares.append(mw)
        return mw

    def middleware(self, mw: Middleware) -> Middleware:
        """Add a middleware around every handler of this router that matched (after filters)."""
        check_middleware(mw)
        self.inner_middlewares.append(mw)
        return mw

    def walk(self) -> Iterator[Router]:
        """This router and all its sub-routers, depth-first."""
        yield self
        for sub in self.sub_routers:
            yield from sub.walk()

    def wanted_kinds(self) -> frozenset[str] | None:
        """The ``mk_rec_type`` values some handler of the tree wants; ``None`` means all.

        Records of other kinds are not even decoded by the engine.
        """
        kinds: set[str] = set()
        for router in self.walk():
            if router.any.handlers or router.outer_middlewares:
                return None
            kinds.update(kind for kind, obs in router.observers.items() if obs.handlers)
        return frozenset(kinds)

    def find_error_handler(self, exc: BaseException) -> tuple[ErrorHandler, bool] | None:
        """The error handler for ``exc``: this router's first, then its parents'."""
        node: Router | None = self
        while node is not None:
            found = node.error.find(exc)
            if found is not None:
                return found
            node = node.parent
        return None

    async def notify_error(self, event: ErrorEvent, ctx: Context[Any]) -> bool:
        """Call the matching error handler; return whether there was one."""
        found = self.find_error_handler(event.exception)
        if found is None:
            return False
        callback, with_ctx = found
        if with_ctx:
            await callback(event, ctx)
        else:
            await callback(event)
        return True
