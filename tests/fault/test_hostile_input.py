"""Hostile input: whatever a broken or malicious server (or a careless caller) sends, the client
answers with a typed error or a bounded, correct result, never a crash, a hang or a leak.

Timing is never asserted here. Work that could hang runs under :data:`GUARD` (a hang guard that
fails the test); what is asserted is the output (bounded and right), the bytes read, the memory
peak, the requests sent, and the files written.
"""

from __future__ import annotations

import functools
import gzip
import sys
import tracemalloc
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc
import attrs
import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleep_async import markup
from fleep_async._client import FleepClient
from fleep_async._converter import parse_record, parse_stream, unstructure
from fleep_async._http import DEFAULT_MAX_RESPONSE_BYTES, Transport, parse_retry_after
from fleep_async._retry import RetryPolicy
from fleep_async.endpoints import REGISTRY
from fleep_async.errors import (
    DecodeError,
    InvalidRequestError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UsageError,
)
from fleep_async.events import EventEngine, MemoryStore, Router
from fleep_async.events._poller import Poller
from fleep_async.markup import MAX_DEPTH, MAX_INPUT_CHARS, file_keys, xml_to_text
from fleep_async.models import MessageRecord, UnknownRecord
from fleep_async.models.records import RECORD_TYPES, BaseRecord
from fleep_async.models.results import decode_result
from fleep_async.services._files import safe_file_name
from fleep_async.testing import FakeFleep
from tests.fault.conftest import GUARD, RecordingTransport, Responder

pytestmark = pytest.mark.anyio

_T = TypeVar("_T")
RawServer = Callable[[Responder], AbstractAsyncContextManager[str]]

FUZZ = settings(max_examples=200, deadline=None)
MiB = 1024 * 1024


async def guarded(func: Callable[..., _T], *args: Any) -> _T:
    """Run blocking ``func`` in a thread; a hang fails the test after GUARD seconds."""
    with anyio.fail_after(GUARD):
        return await anyio.to_thread.run_sync(
            functools.partial(func, *args), abandon_on_cancel=True
        )


# ============================================================================================
# Decoding: arbitrary JSON through parse_record / parse_stream / decode_result
# ============================================================================================

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _well_typed(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the field's own type (so that decoding often succeeds and goes deep)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return st.one_of([_well_typed(arg, depth) for arg in typing.get_args(tp)])
    if tp is type(None):
        return st.none()
    if tp is str:
        return st.text(max_size=40)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000)
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(item, type) and issubclass(item, BaseRecord) and depth < 1:
            return st.lists(record_dicts(item, depth + 1, typed=True), max_size=2)
        return st.lists(_well_typed(item, depth + 1) | json_values, max_size=3)
    if typing.get_origin(tp) in (Mapping, dict):
        return st.dictionaries(st.text(max_size=8), json_values, max_size=3)
    return json_values


def record_dicts(
    cls: type[BaseRecord], depth: int = 0, *, typed: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like ``cls``: right-typed, wrong-typed (unless ``typed``), missing and extra
    fields mixed."""
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: _well_typed(hints[f.name], depth)
        if typed
        else st.one_of(_well_typed(hints[f.name], depth), json_values)
        for f in attrs.fields(cls)
        if f.name != "mk_rec_type"
    }

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = draw(st.lists(st.sampled_from(sorted(fields)), max_size=12, unique=True))
        raw = {name: draw(fields[name]) for name in names}
        raw.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
        raw["mk_rec_type"] = cls.REC_TYPE
        return raw

    return build()


# Half of the items are well-typed with their required fields filled in, so that every record
# class is decoded successfully (and its properties run) often, not only by chance.
@st.composite
def records(draw: st.DrawFn) -> Any:
    """A stream item: mostly record-shaped, sometimes anything at all."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(json_values)
    if choice == 1:
        raw = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
        raw["mk_rec_type"] = draw(json_values | st.text(max_size=10))
        return raw
    cls = draw(st.sampled_from([RECORD_TYPES[k] for k in sorted(RECORD_TYPES)]))
    raw = draw(record_dicts(cls, typed=choice >= 5))
    if choice >= 5:
        hints = typing.get_type_hints(cls)
        for f in attrs.fields(cls):
            if f.default is attrs.NOTHING and f.name not in raw:
                raw[f.name] = draw(_well_typed(hints[f.name]).filter(lambda v: v is not None))
    return raw


def exercise(record: BaseRecord) -> None:
    """Everything a handler may touch on a decoded record: repr, every property, the wire form."""
    assert isinstance(record, BaseRecord)
    repr(record)
    str(record)
    for name in dir(type(record)):
        if isinstance(getattr(type(record), name, None), property):
            getattr(record, name)
    wire = unstructure(record)
    assert isinstance(wire, dict)
    orjson.dumps(wire, option=orjson.OPT_NON_STR_KEYS)
    if isinstance(record, MessageRecord):
        assert isinstance(record.text, str)
        assert len(record.text) <= len(record.message or "") + 4096


@FUZZ
@given(raw=records())
def test_any_json_decodes_to_a_record_or_a_decode_error(raw: Any) -> None:
    for strict in (False, True):
        try:
            record = parse_record(raw, strict=strict)
        except DecodeError:
            continue  # a typed error: nothing else may escape
        exercise(record)
        if isinstance(raw, dict) and raw.get("mk_rec_type") not in RECORD_TYPES:
            assert isinstance(record, UnknownRecord)


@FUZZ
@given(stream=st.lists(records(), max_size=8) | json_values)
def test_any_stream_decodes_whole_or_raises_decode_error(stream: Any) -> None:
    try:
        decoded = parse_stream(stream)
    except DecodeError:
        return
    assert isinstance(stream, list)
    assert len(decoded) == len(stream)
    for record in decoded:
        exercise(record)


_RESULT_TYPES = sorted({spec.RESULT for spec in REGISTRY.values()}, key=lambda t: t.__name__)


@FUZZ
@given(
    result_type=st.sampled_from(_RESULT_TYPES),
    raw=json_values
    | st.dictionaries(
        st.sampled_from(["stream", "header", "hook_info", "files", "team", "result_message_nr"])
        | st.text(max_size=8),
        json_values | st.lists(records(), max_size=3),
        max_size=4,
    ),
)
def test_any_response_decodes_to_its_result_or_a_decode_error(
    result_type: type[Any], raw: Any
) -> None:
    try:
        result = decode_result(result_type, raw)
    except DecodeError:
        return
    repr(result)


# --- poison records through the event engine ---------------------------------------------------


class PoisonRequester:
    """Answers ``account/poll`` with one batch of poison, then one good message, then waits."""

    account_id = "bot"

    def __init__(self, poison: list[Any], good: dict[str, Any]) -> None:
        self.answers = [
            {"event_horizon": 101, "stream": poison},
            {"event_horizon": 102, "stream": [good]},
        ]

    async def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        if path == "account/sync":
            return {"event_horizon": 100}
        if path == "conversation/list":  # the engine's starting positions: none
            return {"conversations": []}
        assert path == "account/poll"
        if self.answers:
            return self.answers.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def _no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


async def _run_engine_over(poison: list[Any], dedup: bool) -> None:
    good = {
        "mk_rec_type": "message",
        "conversation_id": str(uuid.UUID(int=1)),
        "message_nr": 7,
        "account_id": "someone",
        "message": "<msg><p>still alive</p></msg>",
    }
    router = Router(skip_own=False)
    handled: list[Any] = []
    dead: list[tuple[Any, BaseException]] = []
    alive = anyio.Event()

    @router.any()
    async def catch_all(record: Any) -> None:
        exercise(record)
        handled.append(record)
        if isinstance(record, MessageRecord) and record.text == "still alive":
            alive.set()

    store = MemoryStore()
    engine = EventEngine(
        PoisonRequester(poison, good),
        router,
        store=store,
        backlog="skip",
        dedup=dedup,
        retry_budget=0,
        min_poll_interval=0,
        sleep=_no_sleep,
        random=lambda: 0.0,
        on_dead_letter=lambda record, exc: dead.append((record, exc)),
    )
    with anyio.fail_after(GUARD):
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            await alive.wait()
            await engine.shutdown()
    objects = [raw for raw in poison if isinstance(raw, dict)]
    # Every object in the stream was either handled as a typed record or dead-lettered with a
    # DecodeError and its raw dict; none stopped the loop, and the good record came through.
    # (With dedup, a repeat of an identical record within the batch is skipped, and counted.)
    assert len(handled) + len(dead) + engine.health.deduplicated == len(objects) + 1
    assert dedup or engine.health.deduplicated == 0
    for raw, exc in dead:
        assert isinstance(exc, DecodeError)
        assert isinstance(raw, dict)
    assert store.checkpoint is not None
    assert store.checkpoint.horizon == 102
    assert engine.health.dead_lettered == len(dead)


@settings(max_examples=40, deadline=None)
@given(poison=st.lists(records(), min_size=1, max_size=12), dedup=st.booleans())
def test_poison_records_never_stop_the_event_engine(poison: list[Any], dedup: bool) -> None:
    anyio.run(_run_engine_over, poison, dedup)


# ============================================================================================
# Markup: XML bombs, external entities, deep nesting, huge bodies
# ============================================================================================

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">'
        for i in range(1, 10)
    )
    + "]><msg><p>&lol9;</p></msg>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<msg><p>before &e; after</p></msg>"
)


async def test_billion_laughs_is_not_expanded() -> None:
    text = await guarded(xml_to_text, BILLION_LAUGHS)
    # The reference is kept as written: nothing was expanded, and the DTD is gone.
    assert text == "&lol9;\n"
    assert "lollol" not in text


async def test_external_entities_are_never_resolved() -> None:
    text = await guarded(xml_to_text, EXTERNAL_ENTITY)
    assert text == "before &e; after\n"
    assert "root:" not in text
    assert await guarded(file_keys, EXTERNAL_ENTITY) == []


async def test_hundred_thousand_deep_nesting_gives_the_text() -> None:
    depth = 100_000
    xml = "<msg><p>" + "<b>" * depth + "deep" + "</b>" * depth + "</p></msg>"
    assert len(xml) < MAX_INPUT_CHARS  # the whole document is parsed, not truncated
    assert await guarded(xml_to_text, xml) == "deep\n"
    # Unclosed, with text at every level: every word kept, in order.
    xml = "<i>w" * depth
    assert await guarded(xml_to_text, xml) == "w" * depth + "\n"


async def test_deep_markup_keeps_the_typed_markup_of_the_outer_levels() -> None:
    inner = "<msg><p>" + '<b flp="*" fls="*">' * (MAX_DEPTH + 50) + "x" + "</b>" * (MAX_DEPTH + 50)
    text = await guarded(xml_to_text, inner + "</p></msg>")
    # Elements beyond MAX_DEPTH are transparent: their prefixes are kept, their suffixes are not
    # tracked, so the output stays bounded by the input.
    # (<msg> and <p> take two of the MAX_DEPTH places.)
    assert text == "*" * (MAX_DEPTH + 50) + "x" + "*" * (MAX_DEPTH - 2) + "\n"


def _line_events(func: Callable[[], object]) -> int:
    """How many lines of fleep_async.markup run during ``func()`` (a measure of work, not time)."""
    count = 0
    target = markup.__file__

    def tracer(frame: types.FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename != target:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        func()
    finally:
        sys.settrace(None)
    return count


def test_stray_end_tags_under_a_deep_stack_cost_constant_work_each() -> None:
    # Regression: every stray end tag used to scan the whole open-element stack (MAX_DEPTH
    # entries), so a 1 MB body of them took ~5 s of CPU. Work per token is now constant.
    deep = "<a>" * MAX_DEPTH
    few = _line_events(lambda: xml_to_text(deep + "</z>" * 100))
    many = _line_events(lambda: xml_to_text(deep + "</z>" * 1100))
    per_tag = (many - few) / 1000
    assert per_tag < 20, per_tag  # the old scan ran > 2 * MAX_DEPTH lines per tag
    assert xml_to_text(deep + "x" + "</z>" * 1000) == "x\n"


def test_end_tags_still_close_the_innermost_open_element() -> None:
    xml = '<msg><p><b flp="*" fls="*"><i flp="_" fls="_">x</b>y</i></p></msg>'
    # </b> closes <i> (left open inside it) and <b>; the stray </i> is ignored.
    assert xml_to_text(xml) == "*_x_*y\n"


async def test_ten_megabyte_message_body_is_cut_to_the_input_bound() -> None:
    body = "<msg><p>" + "a" * (10 * MiB) + "</p></msg>"
    text = await guarded(xml_to_text, body)
    assert text == "a" * (MAX_INPUT_CHARS - len("<msg><p>")) + "\n"
    record = parse_record(
        {"mk_rec_type": "message", "conversation_id": "c", "message_nr": 1, "message": body}
    )
    assert isinstance(record, MessageRecord)
    assert await guarded(lambda: record.text) == text.rstrip("\n")


async def test_ten_megabyte_json_wrapped_and_system_bodies_are_bounded() -> None:
    inner = "<msg><p>" + "<b>x</b>" * (10 * MiB // 8) + "</p></msg>"
    wrapped = orjson.dumps({"message": inner}).decode()
    record = parse_record(
        {"mk_rec_type": "message", "conversation_id": "c", "message_nr": 1, "message": wrapped}
    )
    assert isinstance(record, MessageRecord)
    text = await guarded(lambda: record.text)
    assert set(text) == {"x"}
    assert len(text) < MAX_INPUT_CHARS
    # A system body nested 100k deep is not JSON orjson will take: no data, no crash.
    system = parse_record(
        {
            "mk_rec_type": "message",
            "conversation_id": "c",
            "message_nr": 2,
            "mk_message_type": "topic",
            "mk_message_state": "urn:fleep:message:mk_message_state:system",
            "message": '{"topic":' + "[" * 100_000 + "]" * 100_000 + "}",
        }
    )
    assert isinstance(system, MessageRecord)
    assert system.system is None
    assert await guarded(lambda: system.text) == "changed the topic to ''"


@FUZZ
@given(xml=st.text(alphabet=st.sampled_from(list("<>/!?[]-&#;x=\"' pbqfile")), max_size=400))
def test_tag_soup_never_raises_and_stays_bounded(xml: str) -> None:
    text = xml_to_text(xml)
    # Entities only shrink, and a flp/fls attribute is emitted at most twice per element.
    assert len(text) <= 3 * len(xml) + 1
    file_keys(xml)
    xml_to_text(xml, skip_quote=True, no_markup=True)


# ============================================================================================
# Responses: size limits, decompression bombs, broken bodies, broken headers
# ============================================================================================


class Sent:
    """Counts the body bytes a raw server managed to hand to the kernel."""

    def __init__(self) -> None:
        self.bytes = 0
        self.done = anyio.Event()


def streaming_body(sent: Sent, *, total: int, declare: bool, head: bytes = b"") -> Responder:
    chunk = b"x" * (64 * 1024)

    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        try:
            length = f"content-length: {total}\r\n" if declare else ""
            await stream.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + head
                + length.encode()
                + (b"" if declare else b"transfer-encoding: chunked\r\n")
                + b"\r\n"
            )
            while sent.bytes < total:
                if declare:
                    await stream.send(chunk)
                else:
                    await stream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent.bytes += len(chunk)
        finally:
            sent.done.set()

    return respond


async def _refused(base_url: str, limit: int) -> tuple[ResponseTooLargeError, int]:
    """POST once; return the refusal and the peak of memory traced meanwhile."""
    transport = Transport(base_url=base_url, max_response_bytes=limit, retry=RetryPolicy.none())
    tracemalloc.start()
    try:
        with anyio.fail_after(GUARD), pytest.raises(ResponseTooLargeError) as info:
            await transport.post_json("account/sync", {}, idempotent=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await transport.aclose()
    return info.value, peak


@pytest.mark.parametrize("declare", [False, True], ids=["chunked", "content-length"])
async def test_hundred_megabyte_response_is_refused_without_reading_it(
    raw_server: RawServer, declare: bool
) -> None:
    sent = Sent()
    async with raw_server(streaming_body(sent, total=100 * MiB, declare=declare)) as url:
        error, peak = await _refused(url, 1 * MiB)
        with anyio.fail_after(GUARD):
            await sent.done.wait()  # the server gave up: the client hung up on it
    assert error.limit == 1 * MiB
    if declare:
        assert error.size == 100 * MiB  # refused on the announced size, before the body
    else:
        assert 1 * MiB < error.size <= 1 * MiB + 64 * 1024 + 16
    # What the server got rid of is what the client read plus the kernel's socket buffers.
    assert sent.bytes < 24 * MiB, sent.bytes
    assert peak < 8 * MiB, peak


async def test_default_limit_refuses_a_hundred_megabyte_response(raw_server: RawServer) -> None:
    sent = Sent()
    async with raw_server(streaming_body(sent, total=100 * MiB, declare=False)) as url:
        transport = Transport(base_url=url, retry=RetryPolicy.none())
        try:
            with anyio.fail_after(GUARD), pytest.raises(ResponseTooLargeError) as info:
                await transport.post_json("account/sync", {})
        finally:
            await transport.aclose()
        with anyio.fail_after(GUARD):
            await sent.done.wait()
    assert info.value.limit == DEFAULT_MAX_RESPONSE_BYTES
    assert sent.bytes < DEFAULT_MAX_RESPONSE_BYTES + 24 * MiB < 100 * MiB


@functools.cache
def _gzip_zeros(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


def gzip_bomb_body(status: bytes, inflated: int = 100 * MiB) -> Responder:
    bomb = _gzip_zeros(inflated)

    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"content-encoding: gzip\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(bomb) + bomb
        )

    return respond


async def test_gzip_bomb_is_refused_without_inflating_it(raw_server: RawServer) -> None:
    # Regression: httpx inflates each 64 KiB network chunk whole (to ~64 MiB) before anyone can
    # count it; a 100 KB body peaked at ~150 MB even with a 1 MiB limit. Now the transport
    # inflates at most the bytes still allowed.
    async with raw_server(gzip_bomb_body(b"200 OK")) as url:
        error, peak = await _refused(url, 1 * MiB)
    assert error.size == 1 * MiB + 1
    assert peak < 8 * MiB, peak


async def test_gzip_bomb_error_page_is_classified_by_status_without_inflating_it(
    raw_server: RawServer,
) -> None:
    # 60 MiB of zeros is ~60 KB of gzip: under the 64 KiB read for error bodies, so it is read.
    async with raw_server(gzip_bomb_body(b"502 Bad Gateway", 60 * MiB)) as url:
        transport = Transport(base_url=url, retry=RetryPolicy.none())
        tracemalloc.start()
        try:
            with anyio.fail_after(GUARD), pytest.raises(ServerError) as info:
                await transport.post_json("account/sync", {})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await transport.aclose()
    assert info.value.status_code == 502
    assert peak < 8 * MiB, peak


async def test_deflate_bodies_with_and_without_zlib_header_are_decoded() -> None:
    import zlib

    payload = orjson.dumps({"event_horizon": 5})
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = [zlib.compress(payload), raw_deflate.compress(payload) + raw_deflate.flush()]

    class Chunks(httpx.AsyncByteStream):
        def __init__(self, data: bytes) -> None:
            self.data = data

        async def __aiter__(self) -> Any:
            yield self.data[:3]
            yield self.data[3:]

    for body in bodies:

        def handler(request: httpx.Request, body: bytes = body) -> httpx.Response:
            return httpx.Response(200, headers={"content-encoding": "deflate"}, stream=Chunks(body))

        async with Transport(
            base_url="https://fleep.test", transport=httpx.MockTransport(handler)
        ) as t:
            assert (await t.post_json("account/sync", {})).data == {"event_horizon": 5}


def _mock_transport(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Transport:
    return Transport(
        base_url="https://fleep.test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.none(),
        **kwargs,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\xfd",
        b'{"ticket": "\xff\xfe"}',
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
        b'{"a": "\xc0\xae"}',  # an overlong encoding of "."
        b'{"a": 1',
        b"<html>502</html>",
    ],
)
async def test_invalid_utf8_or_json_is_a_decode_error(body: bytes) -> None:
    async with _mock_transport(lambda request: httpx.Response(200, content=body)) as t:
        with pytest.raises(DecodeError) as info:
            await t.post_json("account/sync", {})
    assert info.value.status_code == 200
    assert "\xff" not in str(info.value)


@pytest.mark.parametrize(
    "body", [b"[]", b'"text"', b"1", b"null", b"true", b'[{"ticket": "abc"}]', b"1e400"]
)
async def test_a_body_that_is_not_a_json_object_is_a_decode_error(body: bytes) -> None:
    # The transport passes any JSON value on (a few endpoints answer null or a list); the
    # result type of an endpoint that answers an object refuses anything else, typed.
    from fleep_async.models.results import AccountSyncResult, decode_result

    async with _mock_transport(lambda request: httpx.Response(200, content=body)) as t:
        try:
            data = (await t.post_json("account/sync", {})).data
        except DecodeError:
            return  # not JSON at all (1e400): refused by the transport already
    with pytest.raises(DecodeError):
        decode_result(AccountSyncResult, data)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
async def test_json_nested_a_hundred_thousand_deep_is_a_decode_error(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * 100_000 + "1" + closer * 100_000).encode()
    async with _mock_transport(lambda request: httpx.Response(200, content=body)) as t:
        with pytest.raises(DecodeError):
            await t.post_json("account/sync", {})
    # The same body on an error status: classified by the status alone.
    async with _mock_transport(lambda request: httpx.Response(400, content=body)) as t:
        with pytest.raises(InvalidRequestError) as info:
            await t.post_json("account/sync", {})
    assert info.value.error_id is None


async def test_oversized_response_headers_are_a_transport_error(raw_server: RawServer) -> None:
    async def respond(stream: anyio.abc.SocketStream, _request: bytes) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\nx-junk: " + b"a" * (4 * MiB) + b"\r\ncontent-length: 2\r\n\r\n{}"
        )

    async with raw_server(respond) as url, Transport(base_url=url, retry=RetryPolicy.none()) as t:
        with anyio.fail_after(GUARD), pytest.raises(TransportError) as info:
            await t.post_json("account/sync", {})
    assert "aaaa" not in str(info.value)


async def test_many_and_long_set_cookie_headers_are_handled() -> None:
    headers = [("set-cookie", f"junk{i}=v; Path=/") for i in range(5000)]
    headers.append(("set-cookie", "token_id=" + "t" * 100_000 + "; Path=/"))
    headers.append(("retry-after", "9" * 100_000))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True}, headers=headers)

    async with _mock_transport(handler) as t:
        # A 100 KB token_id is past the cookie length cap: refused, typed, and not quoted.
        with pytest.raises(DecodeError, match="token_id cookie that is not valid") as info:
            await t.post_json("account/sync", {})
        assert "t" * 10 not in repr(info.value) + str(info.value)
        # The junk cookies and the long Retry-After alone are fine.
        headers.pop(-2)
        result = await t.post_json("account/sync", {})
    assert result.data == {"ok": True}
    assert result.token_id is None


RETRY_AFTER_CASES = {
    "negative": ("-5", 0.0),
    "overflowing float": ("1e400", None),
    "5000 digits": ("9" * 5000, None),
    "nan": ("nan", None),
    "infinity": ("inf", None),
    "garbage": ("soon, please", None),
    "empty": ("", None),
    "date in the past": ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    "huge": ("1e300", 1e300),
    "date far ahead": ("Fri, 31 Dec 9999 23:59:59 GMT", "large"),
}


@pytest.mark.parametrize(("value", "expected"), RETRY_AFTER_CASES.values(), ids=RETRY_AFTER_CASES)
def test_retry_after_values_are_finite_and_never_negative(value: str, expected: Any) -> None:
    seconds = parse_retry_after(value, now=lambda: 1_700_000_000.0)
    if expected == "large":
        assert seconds is not None
        assert seconds > 1e11
    else:
        assert seconds == expected


@pytest.mark.parametrize(("value", "_expected"), RETRY_AFTER_CASES.values(), ids=RETRY_AFTER_CASES)
async def test_hostile_retry_after_never_makes_a_retry_wait_beyond_the_cap(
    value: str, _expected: Any
) -> None:
    answers = [httpx.Response(429, headers={"retry-after": value}), httpx.Response(200, json={})]
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    transport = Transport(
        base_url="https://fleep.test",
        transport=httpx.MockTransport(lambda request: answers.pop(0)),
        retry=RetryPolicy(max_attempts=2, random=lambda: 0.0, max_retry_after=60.0),
        sleep=sleep,
    )
    async with transport:
        assert (await transport.post_json("account/sync", {}, idempotent=True)).data == {}
    assert len(delays) == 1
    assert 0.0 <= delays[0] <= 60.0


async def test_hostile_retry_after_never_stalls_the_poller_beyond_its_cap() -> None:
    delays: list[float] = []
    failures = [RateLimitError(retry_after=1e300), RateLimitError(retry_after=-1.0)]

    class Requester:
        account_id = "bot"

        async def request(self, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
            if failures:
                raise failures.pop(0)
            return {"event_horizon": 5, "stream": []}

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    poller = Poller(Requester(), sleep=sleep, clock=lambda: 0.0, min_interval=0.5)
    poller.horizon = 4
    with anyio.fail_after(GUARD):
        batch = await poller.poll()
    assert batch.horizon == 5
    assert len(delays) == 2
    assert all(0.5 <= d <= poller.backoff.max_retry_after for d in delays), delays


# ============================================================================================
# Paths: ids crafted to walk the URL somewhere else are refused before any request
# ============================================================================================

GOOD_ID = "2f1e8c4a-6b0d-4c3e-9a57-1d2b3c4d5e6f"
INJECTED_IDS = {
    "dot-dot": "../account/close",
    "encoded dot-dot": "%2e%2e/account/close",
    "nested walk": "x/../../y",
    "uuid then dot-dot": GOOD_ID + "/..",
    "uuid then query": GOOD_ID + "?x=1",
    "uuid then newline": GOOD_ID + "\n",
    "fullwidth digits": "\uff12f1e8c4a-6b0d-4c3e-9a57-1d2b3c4d5e6f",
    "arabic-indic digits": "\u0660" * 32,
    "cyrillic a": GOOD_ID.replace("a", "\u0430"),
    "unicode hyphens": GOOD_ID.replace("-", "\u2010"),
    "one dot leader": "\u2024\u2024/account/close",
    "int() tricks": "+" + "0" * 31,
    "empty": "",
}


@pytest.fixture
async def recorded_client(fake: FakeFleep) -> Any:
    fake.create_account("alice@example.com", "pw-alice", "Alice")
    recorder = RecordingTransport(fake.transport())
    client = FleepClient(
        "alice@example.com",
        "pw-alice",
        base_url=fake.base_url,
        transport=recorder,
        allow_insecure_http=True,
    )
    with anyio.fail_after(GUARD):
        async with client:
            recorder.requests.clear()
            yield client, recorder


@pytest.mark.parametrize("bad_id", INJECTED_IDS.values(), ids=INJECTED_IDS)
async def test_injected_conversation_ids_are_refused_before_any_request(
    recorded_client: tuple[FleepClient, RecordingTransport], bad_id: str
) -> None:
    client, recorder = recorded_client
    calls = [
        lambda: client.message.send(bad_id, message="x"),
        lambda: client.send_text(bad_id, "x"),
        lambda: client.conversation.create_hook(bad_id, hook_name="x"),
        lambda: client.message.delete(bad_id, message_nr=1),
    ]
    if bad_id:
        # The raw call takes a path, not an id: "message/send/" is a path like "file/upload/",
        # so only the ids that would change where the path leads are the raw call's business.
        calls += [
            lambda: client.request(f"message/send/{bad_id}", {"message": "x"}),
            lambda: client.request(f"conversation/sync/{bad_id}"),
        ]
    for call in calls:
        with pytest.raises(UsageError):
            await call()
    assert recorder.requests == []


async def test_a_bad_path_is_refused_before_the_login_it_would_need(fake: FakeFleep) -> None:
    # Regression: a client not yet logged in used to log in first and only then refuse the path.
    fake.create_account("alice@example.com", "pw-alice", "Alice")
    recorder = RecordingTransport(fake.transport())
    client = FleepClient(
        "alice@example.com",
        "pw-alice",
        base_url=fake.base_url,
        transport=recorder,
        allow_insecure_http=True,
    )
    try:
        for path in ("../account/close", "message/send/%2e%2e", ""):
            with pytest.raises(UsageError):
                await client.request(path)
            with pytest.raises(UsageError):
                await client.upload(path, [])
    finally:
        await client.aclose()
    assert recorder.requests == []


@pytest.mark.parametrize(
    "lookalike",
    ["\uff12f1e8c4a-6b0d-4c3e-9a57-1d2b3c4d5e6f", "\u0660" * 32, "+" + "0" * 31, " " + "0" * 31],
)
def test_uuid_lookalikes_do_not_name_another_conversation(lookalike: str) -> None:
    # Regression: uuid.UUID() hands the text to int(), which reads non-ASCII digits, "+" and
    # spaces, so these silently became the id of some other conversation.
    with pytest.raises(UsageError):
        REGISTRY["message/send/{conversation_id}"](conversation_id=lookalike)


@pytest.mark.parametrize(
    "spelling",
    [
        GOOD_ID,
        GOOD_ID.upper(),
        "{" + GOOD_ID + "}",
        "urn:uuid:" + GOOD_ID,
        GOOD_ID.replace("-", ""),
    ],
)
def test_documented_uuid_spellings_are_still_accepted(spelling: str) -> None:
    request = REGISTRY["message/send/{conversation_id}"](conversation_id=spelling)
    assert request.path() == f"message/send/{GOOD_ID}"


# ============================================================================================
# Downloads: file names from the server never leave the destination directory
# ============================================================================================

TRAVERSAL_NAMES = {
    "dot-dot slash": ("..%2F..%2Fetc%2Fpasswd", "passwd"),
    "absolute": ("%2Fetc%2Fpasswd", "passwd"),
    "backslashes": ("..%5C..%5Cwindows%5Csystem32", "system32"),
    "drive letter": ("C%3A%5Cwindows%5Cwin.ini", "win.ini"),
    "nul byte": ("evil%00.txt", "evil_.txt"),
    "only dots": ("..%2E", "download"),
    "hidden": (".bashrc", "bashrc"),
    "overlong utf-8 dots": ("%C0%AE%C0%AE%2Fx", "x"),
    "empty": ("", "download"),
}


@pytest.mark.parametrize(("segment", "expected"), TRAVERSAL_NAMES.values(), ids=TRAVERSAL_NAMES)
async def test_download_names_with_traversal_end_inside_the_destination(
    tmp_path: Path, segment: str, expected: str
) -> None:
    dest = tmp_path / "downloads"
    dest.mkdir()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=b"payload")

    async with FleepClient(
        base_url="https://fleep.test", transport=httpx.MockTransport(handler)
    ) as client:
        written = await client.file.download(f"/file/c/1/k/{segment}", dest)
    assert written == dest / expected
    assert written.read_bytes() == b"payload"
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["downloads", expected])
    assert len(requests) == 1


@pytest.mark.parametrize(
    "file_url", ["/file/../../etc/passwd", "/file/%2e%2e/x", "/file/c/1/k/%2E%2E", "file/x", ""]
)
async def test_download_urls_that_walk_off_the_file_tree_are_refused(file_url: str) -> None:
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(200))
    async with FleepClient(base_url="https://fleep.test", transport=transport) as client:
        with pytest.raises(UsageError):
            await client.file.download(file_url)
    assert requests == []


@pytest.fixture(scope="module")
def names_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for all the examples (hypothesis runs them inside one test call)."""
    return tmp_path_factory.mktemp("names")


@FUZZ
@given(name=st.text(max_size=300), encode=st.booleans())
def test_any_server_file_name_becomes_one_creatable_name_in_the_directory(
    names_dir: Path, name: str, encode: bool
) -> None:
    from urllib.parse import quote

    segment = quote(name, safe="") if encode else name.replace("/", "").replace("?", "")
    safe = safe_file_name("/file/c/1/k/" + segment.replace("#", ""))
    assert safe
    assert safe not in (".", "..")
    assert not set(safe) & set("/\\\x00")
    assert len(safe.encode("utf-8")) <= 200
    target = names_dir / safe
    assert target.parent == names_dir
    # Creatable, with the temporary ".part" name beside it (Regression: a long multi-byte name
    # exceeded the file system's 255-byte limit and download died with a raw OSError).
    partial = names_dir / f".{safe}.0123456789ab.part"
    partial.write_bytes(b"x")
    partial.replace(target)
    target.unlink()


def test_long_multibyte_file_names_are_cut_to_a_creatable_length(tmp_path: Path) -> None:
    name = safe_file_name("/file/c/1/k/" + "日" * 300 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= 200
    (tmp_path / f".{name}.0123456789ab.part").write_bytes(b"x")
    assert safe_file_name("/file/c/1/k/" + "é" * 300) == "é" * 100


async def test_traversal_in_a_records_file_url_is_harmless_end_to_end(
    fake: FakeFleep, tmp_path: Path
) -> None:
    # A real upload through FakeFleep, then the file_url tampered with as a hostile server would.
    alice = fake.create_account("alice@example.com", "pw-alice", "Alice")
    cid = fake.create_conversation(alice, "files")
    async with FleepClient(
        "alice@example.com",
        "pw-alice",
        base_url=fake.base_url,
        transport=fake.transport(),
        allow_insecure_http=True,
    ) as client:
        upload = await client.file.upload([("report.txt", b"real bytes")])
        sent = await client.message.send(cid, message="f", attachments=upload.upload_urls)
        (path,) = [r.file_url for r in sent.stream if getattr(r, "file_url", None)]
        written = await client.file.download(path, tmp_path)
        assert written == tmp_path / "report.txt"
        assert written.read_bytes() == b"real bytes"
        # FakeFleep finds the file by its id and serves it whatever the name says: the name
        # decides only where the bytes land.
        hostile = path.rsplit("/", 1)[0] + "/..%2F..%2Fetc%2Fpasswd"
        assert await client.file.download(hostile, tmp_path) == tmp_path / "passwd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd", "report.txt"]
    assert (tmp_path / "passwd").read_bytes() == b"real bytes"
