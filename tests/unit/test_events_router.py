"""Routers, filters, middleware and error handlers, through the dispatcher."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest

from fleep_async._converter import parse_record
from fleep_async.errors import UsageError
from fleep_async.events import (
    Command,
    CommandMatch,
    Context,
    ErrorEvent,
    EventEngine,
    Filter,
    FromAccount,
    HandlerTimeoutError,
    InConversation,
    OfMessageType,
    Regex,
    Router,
    SkipHandler,
    Text,
    not_own,
)
from fleep_async.events._context import record_context
from fleep_async.events._dispatcher import UNHANDLED, Dispatcher, TimeoutGuard
from tests.unit.test_events_fakes import ScriptedRequester, contact, conv, msg

pytestmark = pytest.mark.anyio


def ctx_for(raw: dict[str, Any], own: str | None = "bot") -> tuple[Any, Context[Any]]:
    record = parse_record(raw)
    ctx: Context[Any] = Context(
        client=ScriptedRequester(),
        record=record,
        kind=record.mk_rec_type,
        conversation_id=getattr(record, "conversation_id", None),
        own_account_id=own,
    )
    return record, ctx


async def dispatch(router: Router, raw: dict[str, Any], **kw: Any) -> tuple[Any, Context[Any]]:
    record, ctx = ctx_for(raw, **kw)
    result = await Dispatcher(router).feed(record, ctx)
    return result, ctx


async def matches(flt: Any, raw: dict[str, Any]) -> bool:
    router = Router(skip_own=False)

    @router.any(flt)
    async def handler(record: Any) -> str:
        return "hit"

    result, _ = await dispatch(router, raw)
    return result == "hit"


async def test_command_filter_parses_name_and_args() -> None:
    router = Router()
    got: list[CommandMatch] = []

    @router.message(Command("echo", "say"))
    async def echo(record: Any, ctx: Context[Any]) -> None:
        got.append(ctx.data["command"])

    for text in ["/echo hello world", "/SAY  hi ", "/echo", "/echoes x", "echo x", "!echo x"]:
        await dispatch(router, msg("c", 1, text))
    assert [(c.name, c.args) for c in got] == [("echo", "hello world"), ("SAY", "hi"), ("echo", "")]
    assert got[0].argv == ["hello", "world"]
    assert await matches(Command("go", prefix="!/"), msg("c", 1, "!go now"))
    assert not await matches(Command("go", ignore_case=False), msg("c", 1, "/GO"))


def test_command_filter_rejects_bad_definitions() -> None:
    with pytest.raises(UsageError):
        Command()
    with pytest.raises(UsageError):
        Command("two words")
    with pytest.raises(UsageError):
        Command("x", prefix="")


async def test_text_and_regex_filters() -> None:
    assert await matches(Text(startswith="/echo"), msg("c", 1, "/echo x"))
    assert not await matches(Text(startswith="/echo"), msg("c", 1, "say /echo"))
    assert await matches(Text(equals="HELLO", ignore_case=True), msg("c", 1, "hello"))
    assert await matches(Text(contains="ell", endswith="lo"), msg("c", 1, "hello"))
    assert not await matches(Text(contains="zz"), msg("c", 1, "hello"))
    assert not await matches(Text(equals="x"), conv("c"))  # no text: no match

    router = Router()
    matched: list[re.Match[str]] = []

    @router.message(Regex(r"ticket #(\d+)"))
    async def ticket(record: Any, ctx: Context[Any]) -> None:
        matched.append(ctx.data["match"])

    await dispatch(router, msg("c", 1, "see ticket #42 please"))
    await dispatch(router, msg("c", 2, "nothing here"))
    assert [m.group(1) for m in matched] == ["42"]


async def test_conversation_author_type_and_own_filters() -> None:
    assert await matches(InConversation("c1", "c2"), msg("c2", 1))
    assert not await matches(InConversation("c1"), msg("c2", 1))
    assert await matches(FromAccount("alice"), msg("c", 1, account="alice"))
    assert not await matches(FromAccount("alice"), msg("c", 1, account="bob"))
    assert await matches(OfMessageType("text"), msg("c", 1))
    assert not await matches(OfMessageType("topic"), msg("c", 1))
    assert await matches(not_own, msg("c", 1, account="alice"))
    assert not await matches(not_own, msg("c", 1, account="bot"))
    with pytest.raises(UsageError):
        InConversation()


async def test_filters_compose_with_and_or_not() -> None:
    hello = Text(startswith="hello")
    alice = FromAccount("alice")
    both = hello & alice
    either = hello | alice
    assert await matches(both, msg("c", 1, "hello", account="alice"))
    assert not await matches(both, msg("c", 1, "hello", account="bob"))
    assert await matches(either, msg("c", 1, "bye", account="alice"))
    assert not await matches(either, msg("c", 1, "bye", account="bob"))
    assert await matches(~alice, msg("c", 1, account="bob"))
    assert ~~alice is alice
    # plain callables compose too, on either side, with one or two parameters
    assert await matches(alice & (lambda r: r.message_nr == 3), msg("c", 3, account="alice"))
    assert await matches((lambda r, ctx: ctx.kind == "message") | alice, msg("c", 1))

    async def slow_check(record: Any) -> bool:
        await anyio.lowlevel.checkpoint()
        return record.message_nr > 1

    assert await matches(slow_check, msg("c", 2))
    assert not await matches(slow_check, msg("c", 1))


async def test_data_from_filters_reaches_the_handler_only_when_all_pass() -> None:
    router = Router()
    got: list[dict[str, Any]] = []

    @router.message(Command("go") & Regex("fast"))
    async def handler(record: Any, ctx: Context[Any]) -> None:
        got.append(dict(ctx.data))

    await dispatch(router, msg("c", 1, "/go fast"))
    await dispatch(router, msg("c", 2, "/go slow"))
    assert len(got) == 1
    assert set(got[0]) == {"command", "match"}


def test_registration_validates_handlers_and_filters() -> None:
    router = Router()

    def not_async(record: Any, ctx: Any) -> None:
        pass

    with pytest.raises(UsageError, match="not_async must be a coroutine function"):
        router.message.register(not_async)

    async def too_many(a: Any, b: Any, c: Any) -> None:
        pass

    with pytest.raises(UsageError, match="too_many must accept"):
        router.message.register(too_many)
    with pytest.raises(UsageError, match="filter"):
        router.message(42)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="timeout"):
        router.message(timeout=0)
    with pytest.raises(UsageError, match="exception types"):
        router.error("oops")  # type: ignore[arg-type]

    async def ok(record: Any) -> None:
        pass

    assert router.message.register(ok) is ok


def test_include_router_refuses_cycles_and_double_parents() -> None:
    root, child, grandchild = Router(name="root"), Router(name="child"), Router(name="gc")
    root.include_router(child)
    child.include_router(grandchild)
    with pytest.raises(UsageError, match="cycle"):
        grandchild.include_router(root)
    with pytest.raises(UsageError, match="cycle"):
        root.include_router(root)
    with pytest.raises(UsageError, match="already included"):
        Router().include_router(child)
    assert list(root.walk()) == [root, child, grandchild]


async def test_first_match_wins_depth_first_and_skip_handler_passes_on() -> None:
    root, sub, last = Router(name="root"), Router(name="sub"), Router(name="last")
    calls: list[str] = []

    @root.message(Text(equals="root"))
    async def in_root(record: Any) -> str:
        calls.append("root")
        return "root"

    @sub.message()
    async def in_sub(record: Any) -> str:
        calls.append("sub")
        if record.text == "skip":
            raise SkipHandler
        return "sub"

    @last.any()
    async def catch_all(record: Any) -> str:
        calls.append("any")
        return "any"

    root.include_routers(sub, last)
    assert (await dispatch(root, msg("c", 1, "root")))[0] == "root"
    assert (await dispatch(root, msg("c", 1, "other")))[0] == "sub"
    assert (await dispatch(root, msg("c", 1, "skip")))[0] == "any"
    assert (await dispatch(root, contact("u")))[0] == "any"
    assert calls == ["root", "sub", "sub", "any", "any"]
    empty = Router()
    assert (await dispatch(empty, msg("c", 1)))[0] is UNHANDLED


async def test_kind_observers_receive_their_kind_only() -> None:
    router = Router()
    got: list[str] = []

    @router.conversation()
    async def on_conv(record: Any) -> None:
        got.append(f"conv:{record.conversation_id}")

    @router.contact()
    async def on_contact(record: Any) -> None:
        got.append(f"contact:{record.account_id}")

    await dispatch(router, conv("c1"))
    await dispatch(router, contact("u1"))
    assert (await dispatch(router, msg("c1", 1)))[0] is UNHANDLED
    assert got == ["conv:c1", "contact:u1"]
    assert router.wanted_kinds() == frozenset({"conv", "contact"})


def test_wanted_kinds_covers_the_tree_and_any_means_all() -> None:
    root, sub = Router(), Router()
    root.include_router(sub)
    assert root.wanted_kinds() == frozenset()

    @sub.message()
    async def handler(record: Any) -> None:
        pass

    assert root.wanted_kinds() == frozenset({"message"})

    @sub.any()
    async def everything(record: Any) -> None:
        pass

    assert root.wanted_kinds() is None


async def test_middleware_order_outer_before_filters_inner_around_handler() -> None:
    router = Router()
    trail: list[str] = []

    async def outer(handler: Any, record: Any, ctx: Context[Any]) -> Any:
        trail.append("outer>")
        ctx.data["user"] = "u1"
        try:
            return await handler(record, ctx)
        finally:
            trail.append("<outer")

    async def inner_router(handler: Any, record: Any, ctx: Context[Any]) -> Any:
        trail.append("inner-router>")
        return await handler(record, ctx)

    async def inner_observer(handler: Any, record: Any, ctx: Context[Any]) -> Any:
        trail.append("inner-observer>")
        return await handler(record, ctx)

    router.outer_middleware(outer)
    router.middleware(inner_router)
    router.message.middleware(inner_observer)

    @router.message(lambda r, ctx: trail.append(f"filter:{ctx.data['user']}") or True)
    async def handler(record: Any) -> str:
        trail.append("handler")
        return "done"

    result, _ = await dispatch(router, msg("c", 1))
    assert result == "done"
    assert trail == [
        "outer>",
        "filter:u1",
        "inner-router>",
        "inner-observer>",
        "handler",
        "<outer",
    ]
    trail.clear()
    assert (await dispatch(router, conv("c")))[0] is UNHANDLED
    assert trail == ["outer>", "<outer"]  # outer sees every record, inner only matches


async def test_an_outer_middleware_can_drop_a_record() -> None:
    router = Router()
    called = False

    async def drop(handler: Any, record: Any, ctx: Context[Any]) -> Any:
        return None

    router.outer_middleware(drop)

    @router.message()
    async def handler(record: Any) -> None:
        nonlocal called
        called = True

    await dispatch(router, msg("c", 1))
    assert not called


def test_middleware_must_be_async_with_three_arguments() -> None:
    router = Router()

    def sync_mw(handler: Any, record: Any, ctx: Any) -> Any:
        return None

    async def two_args(handler: Any, record: Any) -> Any:
        return None

    with pytest.raises(UsageError, match="async"):
        router.middleware(sync_mw)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="accept"):
        router.outer_middleware(two_args)  # type: ignore[arg-type]


async def test_error_handlers_are_found_from_the_failing_router_upwards() -> None:
    root, sub = Router(name="root"), Router(name="sub")
    root.include_router(sub)
    seen: list[str] = []

    @sub.message(Text(equals="value"))
    async def bad_value(record: Any) -> None:
        raise ValueError("v")

    @sub.message(Text(equals="key"))
    async def bad_key(record: Any) -> None:
        raise KeyError("k")

    @sub.error(ValueError)
    async def sub_errors(event: ErrorEvent, ctx: Context[Any]) -> None:
        seen.append(f"sub:{type(event.exception).__name__}:{ctx.handler.name.rsplit('.', 1)[-1]}")  # type: ignore[union-attr]

    @root.error()
    async def root_errors(event: ErrorEvent) -> None:
        seen.append(f"root:{type(event.exception).__name__}")

    dispatcher = Dispatcher(root)
    for text, exc_type in (("value", ValueError), ("key", KeyError)):
        record, ctx = ctx_for(msg("c", 1, text))
        with pytest.raises(exc_type) as info:
            await dispatcher.feed(record, ctx)
        event = ErrorEvent(record=record, exception=info.value, attempt=1, will_retry=False)
        assert await dispatcher.notify_error(event, ctx)
    assert seen == ["sub:ValueError:bad_value", "root:KeyError"]


async def test_handler_timeout_from_the_dispatcher_default_and_per_handler() -> None:
    router = Router()

    @router.message(Text(equals="slow"))
    async def slow(record: Any) -> None:
        await anyio.sleep_forever()

    @router.message(Text(equals="own-timeout"))
    async def raises_timeout(record: Any) -> None:
        raise TimeoutError("the handler's own")

    @router.message(Text(equals="fast"), timeout=1.0)
    async def fast(record: Any) -> str:
        return "ok"

    dispatcher = Dispatcher(router, handler_timeout=0.01)
    record, ctx = ctx_for(msg("c", 1, "slow"))
    with anyio.fail_after(5), pytest.raises(HandlerTimeoutError, match="slow"):
        await dispatcher.feed(record, ctx)
    record, ctx = ctx_for(msg("c", 1, "own-timeout"))
    with pytest.raises(TimeoutError, match="the handler's own") as info:
        await dispatcher.feed(record, ctx)
    assert not isinstance(info.value, HandlerTimeoutError)
    record, ctx = ctx_for(msg("c", 1, "fast"))
    assert await dispatcher.feed(record, ctx) == "ok"


async def test_the_engines_context_factory_builds_what_the_constructor_builds() -> None:
    raw = msg("c", 3, "hi")
    record = parse_record(raw)
    req = ScriptedRequester()
    guard = TimeoutGuard(anyio.CancelScope())
    values: dict[str, Any] = {
        "client": req,
        "record": record,
        "kind": "message",
        "conversation_id": "c",
        "own_account_id": "bot",
        "cache": None,
        "identity": "m:c:3:3",
        "raw": raw,
        "timeout_guard": guard,
        "attempt": 2,
    }
    built = Context(**values)
    fast = record_context(**values)
    assert type(fast) is Context
    for name in Context.__slots__:
        assert getattr(fast, name) == getattr(built, name), name
    assert fast.data is not built.data  # a dict of its own per context


async def test_the_timeout_guard_moves_the_deadline_only_when_it_must() -> None:
    now = [100.0]
    scope = anyio.CancelScope()
    guard = TimeoutGuard(scope, lambda: now[0])
    guard.arm("h", 300.0)
    assert scope.deadline == 401.0  # the limit plus a second of slack
    now[0] = 100.5
    guard.arm("h", 300.0)  # still within the slack: the scope is left alone
    assert scope.deadline == 401.0
    assert guard.expires == 400.5
    now[0] = 102.0
    guard.arm("h", 300.0)  # past it: moved, never short of the handler's full limit
    assert scope.deadline == 403.0
    guard.arm("quick", 2.0)  # a shorter limit moves it back (slack: a tenth of the limit)
    assert scope.deadline == pytest.approx(104.2)
    assert (guard.handler, guard.limit) == ("quick", 2.0)
    guard.disarm()
    assert scope.deadline == float("inf")
    assert guard.expires == float("inf")


async def test_reply_posts_to_the_conversation_with_a_stable_client_req_id() -> None:
    req = ScriptedRequester()
    record = parse_record(msg("c9", 4, "hi"))

    def context() -> Context[ScriptedRequester]:
        return Context(
            client=req,
            record=record,
            kind="message",
            conversation_id="c9",
            own_account_id="bot",
            raw=msg("c9", 4, "hi"),
        )

    first = context()
    await first.reply("one")
    await first.reply("two", attachments=["u1"])
    again = context()  # the same record delivered again (a retry or a restart)
    await again.reply("one")
    await again.reply("mine", client_req_id="fixed")
    paths = [path for path, _ in req.sent]
    bodies = [body for _, body in req.sent]
    assert paths == ["c9"] * 4
    assert bodies[0]["message"] == "one"
    assert bodies[1]["attachments"] == ["u1"]
    assert bodies[0]["client_req_id"] != bodies[1]["client_req_id"]
    assert bodies[2]["client_req_id"] == bodies[0]["client_req_id"]
    assert bodies[3]["client_req_id"] == "fixed"
    edited = Context(
        client=req,
        record=record,
        kind="message",
        conversation_id="c9",
        own_account_id="bot",
        raw=msg("c9", 4, "hi", flow=9),
    )
    await edited.reply("one")
    assert req.sent[-1][1]["client_req_id"] != bodies[0]["client_req_id"]  # a new revision


async def test_reply_posts_a_new_message_through_the_deduplicated_message_store() -> None:
    # message/store de-duplicates client_req_id (proven by Fleep's server tests); message/send
    # is not known to, so a reply that may be retried never goes there.
    _record, ctx = ctx_for(msg("c9", 4, "hi"))
    req = ctx.client
    await ctx.reply("pong")
    (path, body, flags) = req.calls[-1]
    assert path.startswith("message/store/")
    assert flags["idempotent"]
    assert "message_nr" not in body  # without it message/store makes a new message
    with pytest.raises(UsageError, match="message_nr"):
        await ctx.reply("edit", message_nr=4)  # message/store would edit message 4


async def test_reply_needs_a_conversation() -> None:
    _record, ctx = ctx_for(contact("u1"))
    with pytest.raises(UsageError, match="no conversation"):
        await ctx.reply("hi")


async def test_custom_filter_subclass() -> None:
    class LongText(Filter):
        def check(self, record: Any, ctx: Context[Any]) -> bool:
            return len(getattr(record, "text", "")) > 5

    assert await matches(LongText(), msg("c", 1, "abcdefgh"))
    assert not await matches(LongText(), msg("c", 1, "abc"))
    assert await matches(LongText() & Text(startswith="abc"), msg("c", 1, "abcdefgh"))


async def test_engine_feed_parses_raw_dicts() -> None:
    router = Router()
    got: list[str] = []

    @router.message(Command("ping"))
    async def ping(record: Any, ctx: Context[Any]) -> None:
        got.append(ctx.conversation_id or "")

    engine = EventEngine(ScriptedRequester(), router)
    assert await engine.feed(msg("c1", 1, "/ping"))
    assert not await engine.feed(msg("c1", 2, "pong"))
    assert got == ["c1"]
