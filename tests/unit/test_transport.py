"""Transport: request shape, errors, retries, size limits, URL rules, pools, files, hooks."""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import respx

from fleep_async._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Transport,
    TransportResult,
    UploadFile,
    parse_retry_after,
)
from fleep_async._http._urls import is_loopback_host
from fleep_async._retry import RetryPolicy
from fleep_async._version import __version__
from fleep_async.errors import (
    AuthenticationError,
    BusinessRuleError,
    ConflictError,
    DecodeError,
    FleepAPIError,
    FleepTimeoutError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    StorageQuotaError,
    TransportError,
    UsageError,
    classify,
)

pytestmark = pytest.mark.anyio

BASE = "https://fleep.test"
TICKET = "d5a9c3c2fc696c4a4b55"
TOKEN = "dd737a29-7819-41dc-ad93-a38aab2c9409"
NEW_TOKEN = "0b5e8a52-1f2c-4d9e-9a7c-2b3c4d5e6f70"
HOOK_KEY = "Z0Ph_W2LTVa8sgicQ5Gruw"
SECRETS = (TICKET, TOKEN, NEW_TOKEN, HOOK_KEY)


class RecordingSleep:
    """A Sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def transport(router: respx.MockRouter, sleep: RecordingSleep) -> AsyncIterator[Transport]:
    async with Transport(
        base_url=BASE,
        transport=httpx.MockTransport(router.async_handler),
        sleep=sleep,
        retry=RetryPolicy(random=lambda: 0.5),
    ) as t:
        yield t


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


# -- request shape ---------------------------------------------------------------------------


async def test_post_json_request_shape(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post("/api/message/send/c1").respond(200, json={"ok": True})
    result = await transport.post_json(
        "message/send/c1", {"message": "hi", "n": 1}, ticket=TICKET, token_id=TOKEN
    )
    assert result == TransportResult(data={"ok": True}, status_code=200, token_id=None)
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/api/message/send/c1"
    assert orjson.loads(request.content) == {"message": "hi", "n": 1, "ticket": TICKET}
    assert request.headers["cookie"] == f"token_id={TOKEN}"
    assert request.headers["user-agent"] == f"fleep-async/{__version__}"
    assert request.headers["accept-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"


async def test_no_ticket_no_cookie_when_not_given(
    router: respx.MockRouter, transport: Transport
) -> None:
    route = router.post("/api/account/login").respond(200, json={})
    await transport.post_json("account/login", {"email": "a@b.c"})
    request = route.calls.last.request
    assert orjson.loads(request.content) == {"email": "a@b.c"}
    assert "cookie" not in request.headers
    await transport.post_json("account/login")
    assert route.calls.last.request.content == b"{}"


async def test_base_url_path_prefix_and_user_agent() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.post("http://127.0.0.1:8000/fleep/api/account/sync").respond(200, json={})
    async with Transport(
        base_url="http://127.0.0.1:8000/fleep/",
        user_agent="my-bot/1.0",
        transport=httpx.MockTransport(router.async_handler),
    ) as t:
        await t.post_json("account/sync", {})
    assert route.calls.last.request.headers["user-agent"] == "my-bot/1.0"


async def test_token_id_from_set_cookie(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/login").respond(
        200,
        json={"ticket": TICKET},
        headers=[
            ("Set-Cookie", "xs_ticket=abc; Path=/"),
            ("Set-Cookie", f"token_id={NEW_TOKEN}; Path=/; HttpOnly; Secure"),
        ],
    )
    result = await transport.post_json("account/login", {})
    assert result.token_id == NEW_TOKEN
    assert NEW_TOKEN not in repr(result)
    assert TICKET not in repr(result)


async def test_cookies_are_strictly_per_call(
    router: respx.MockRouter, transport: Transport
) -> None:
    route = router.post("/api/account/sync").respond(
        200, json={}, headers={"Set-Cookie": f"token_id={NEW_TOKEN}; Path=/"}
    )
    await transport.post_json("account/sync", {}, token_id=TOKEN)
    await transport.post_json("account/sync", {})  # another account: nothing carried over
    await transport.post_json("account/sync", {}, token_id="other-account-token")
    cookies = [call.request.headers.get("cookie") for call in route.calls]
    assert cookies == [f"token_id={TOKEN}", None, "token_id=other-account-token"]


async def test_gzip_response_decoded(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/poll").respond(
        200,
        content=gzip.compress(orjson.dumps({"event_horizon": 5})),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    result = await transport.post_json("account/poll", {}, long_poll=True)
    assert result.data == {"event_horizon": 5}


async def test_empty_success_body_is_empty_dict(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.post("/api/account/logout").respond(200, content=b"")
    assert (await transport.post_json("account/logout", {})).data == {}


@pytest.mark.parametrize(
    ("content", "value"), [(b"[1, 2]", [1, 2]), (b'"text"', "text"), (b"null", None)]
)
async def test_a_2xx_json_value_that_is_not_an_object_is_passed_on(
    router: respx.MockRouter, transport: Transport, content: bytes, value: object
) -> None:
    # search/suggest answers a list, endpoints documented with no output may answer null: the
    # transport hands the value on; the endpoint's result type decides what fits.
    router.post("/api/search/suggest").respond(200, content=content)
    assert (await transport.post_json("search/suggest", {})).data == value


@pytest.mark.parametrize("content", [b"<html>ok</html>", b"{bad json"])
async def test_success_without_json_is_decode_error(
    router: respx.MockRouter, transport: Transport, content: bytes
) -> None:
    router.post("/api/account/sync").respond(200, content=content)
    with pytest.raises(DecodeError) as info:
        await transport.post_json("account/sync", {})
    assert info.value.endpoint == "account/sync"
    assert info.value.status_code == 200


async def test_decode_error_excerpt_is_short_and_redacted(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.post("/api/account/login").respond(
        200, content=b'{"ticket": "' + TICKET.encode() + b'", ' + b"x" * 100_000
    )
    with pytest.raises(DecodeError) as info:
        await transport.post_json("account/login", {})
    assert info.value.excerpt is not None
    assert len(info.value.excerpt) <= 120
    assert_no_secrets(str(info.value), repr(info.value))


async def test_unencodable_body_is_usage_error_before_any_request(
    router: respx.MockRouter, transport: Transport
) -> None:
    route = router.post("/api/message/send/c1").respond(200, json={})
    with pytest.raises(UsageError):
        await transport.post_json("message/send/c1", {"x": object()})
    assert not route.called


@pytest.mark.parametrize(
    "path", ["/account/login", "", "account//login", "a/../b", "a/./b", "a?x=1", "a b", "a#f"]
)
async def test_bad_paths_refused_before_any_request(
    router: respx.MockRouter, transport: Transport, path: str
) -> None:
    with pytest.raises(UsageError):
        await transport.post_json(path, {})
    assert not router.calls.called


async def test_trailing_slash_path_allowed(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post("/api/event/store/").respond(200, json={})
    await transport.post_json("event/store/", {})
    assert route.called


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "error_id"),
    [
        (400, {"error_id": "invalid_call", "error_message": "Bad."}, InvalidRequestError, "invalid_call"),  # noqa: E501
        (401, {"error_id": "unauthorized", "error_message": "Expired token."}, AuthenticationError, "unauthorized"),  # noqa: E501
        (403, {"error_id": "forbidden"}, PermissionDeniedError, "forbidden"),
        (404, {"error_id": "nope"}, NotFoundError, "nope"),
        (409, {"error_id": "conflict"}, ConflictError, "conflict"),
        (429, {"error_id": "velocity"}, RateLimitError, "velocity"),
        (430, {"error_id": "not_found", "error_message": "Not found."}, NotFoundError, "not_found"),
        (430, {"error_id": "fatal"}, BusinessRuleError, "fatal"),
        (431, {"error_id": "invalid_edit"}, BusinessRuleError, "invalid_edit"),
        (500, {"error_id": "internal"}, ServerError, "internal"),
        (503, {}, ServerError, None),
        (507, {"error_id": "quota"}, StorageQuotaError, "quota"),
        (418, {"error_id": "teapot"}, FleepAPIError, "teapot"),
    ],
)  # fmt: skip
async def test_error_statuses(
    router: respx.MockRouter,
    transport: Transport,
    status: int,
    body: dict[str, Any],
    cls: type[FleepAPIError],
    error_id: str | None,
) -> None:
    router.post("/api/message/send/c1").respond(status, json=body)
    with pytest.raises(FleepAPIError) as info:
        await transport.post_json("message/send/c1", {}, ticket=TICKET, token_id=TOKEN)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.error_id == error_id
    assert exc.error_message == body.get("error_message")
    assert exc.endpoint == "message/send/c1"
    assert_no_secrets(str(exc), repr(exc))


async def test_html_502_from_a_proxy(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/sync").respond(
        502,
        content=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"Content-Type": "text/html"},
    )
    with pytest.raises(ServerError) as info:
        await transport.post_json("account/sync", {})
    assert info.value.status_code == 502
    assert info.value.error_id is None
    assert info.value.error_message is None


async def test_huge_error_body_classified_by_status_alone(
    router: respx.MockRouter, transport: Transport
) -> None:
    body = orjson.dumps({"error_id": "x", "pad": "y" * 200_000})
    router.post("/api/account/sync").respond(431, content=body)
    with pytest.raises(BusinessRuleError) as info:
        await transport.post_json("account/sync", {})
    assert info.value.error_id is None


async def test_redirect_on_api_call_is_an_error(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.post("/api/account/sync").respond(302, headers={"Location": "https://evil.test/"})
    with pytest.raises(FleepAPIError) as info:
        await transport.post_json("account/sync", {})
    assert info.value.status_code == 302


async def test_connect_error_wrapped(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/sync").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await transport.post_json("account/sync", {})
    assert not isinstance(info.value, FleepTimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.endpoint == "account/sync"


async def test_timeout_wrapped(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/poll").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(FleepTimeoutError) as info:
        await transport.post_json("account/poll", {}, long_poll=True)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


class ChunkStream(httpx.AsyncByteStream):
    """A raw (undecoded) streamed body: httpx decodes it only while it is read."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def test_corrupt_gzip_is_decode_error(router: respx.MockRouter, transport: Transport) -> None:
    router.post("/api/account/sync").mock(
        return_value=httpx.Response(
            200, stream=ChunkStream(b"not gzip at all"), headers={"Content-Encoding": "gzip"}
        )
    )
    with pytest.raises(DecodeError) as info:
        await transport.post_json("account/sync", {})
    assert isinstance(info.value.__cause__, httpx.DecodingError)


# -- retries ---------------------------------------------------------------------------------


async def test_idempotent_call_retried_on_5xx_with_backoff(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    route = router.post("/api/account/sync").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(500, json={"error_id": "internal"}),
            httpx.Response(200, json={"ok": 1}),
        ]
    )
    result = await transport.post_json("account/sync", {}, idempotent=True)
    assert result.data == {"ok": 1}
    assert route.call_count == 3
    # random() == 0.5: half of the 0.5 s and 1 s ceilings
    assert sleep.delays == [0.25, 0.5]


async def test_retries_stop_after_max_attempts(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    route = router.post("/api/account/sync").respond(503)
    with pytest.raises(ServerError):
        await transport.post_json("account/sync", {}, idempotent=True)
    assert route.call_count == 4
    assert sleep.delays == [0.25, 0.5, 1.0]


@pytest.mark.parametrize(
    "effect",
    [httpx.Response(503), httpx.Response(429), httpx.ConnectError("x"), httpx.ReadTimeout("x")],
    ids=["503", "429", "connect", "timeout"],
)
async def test_non_idempotent_never_retried(
    router: respx.MockRouter,
    transport: Transport,
    sleep: RecordingSleep,
    effect: httpx.Response | Exception,
) -> None:
    route = router.post("/api/message/send/c1").mock(side_effect=[effect, httpx.Response(200)])
    with pytest.raises((ServerError, RateLimitError, TransportError)):
        await transport.post_json("message/send/c1", {"message": "hi"})
    assert route.call_count == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 430, 431, 507])
async def test_final_statuses_not_retried(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep, status: int
) -> None:
    route = router.post("/api/account/sync").respond(status, json={})
    with pytest.raises(FleepAPIError) as info:
        await transport.post_json("account/sync", {}, idempotent=True)
    assert type(info.value) is classify(status, {}, endpoint="account/sync").__class__
    assert not isinstance(info.value, (ServerError, RateLimitError))
    assert route.call_count == 1
    assert sleep.delays == []


async def test_transport_errors_retried_when_idempotent(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    route = router.post("/api/account/poll").mock(
        side_effect=[httpx.ConnectError("x"), httpx.ReadTimeout("y"), httpx.Response(200, json={})]
    )
    await transport.post_json("account/poll", {}, idempotent=True, long_poll=True)
    assert route.call_count == 3
    assert len(sleep.delays) == 2


async def test_retry_after_seconds_honoured(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    router.post("/api/account/sync").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={}),
        ]
    )
    await transport.post_json("account/sync", {}, idempotent=True)
    assert sleep.delays == [7.0]


async def test_retry_after_capped(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    router.post("/api/account/sync").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={}),
        ]
    )
    await transport.post_json("account/sync", {}, idempotent=True)
    assert sleep.delays == [60.0]


async def test_rate_limit_error_carries_retry_after(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.post("/api/message/send/c1").respond(429, headers={"Retry-After": "12"})
    with pytest.raises(RateLimitError) as info:
        await transport.post_json("message/send/c1", {})
    assert info.value.retry_after == 12.0


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z

    def clock() -> float:
        return now

    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("5", now=clock) == 5.0
    assert parse_retry_after(" 1.5 ", now=clock) == 1.5
    assert parse_retry_after("-3", now=clock) == 0.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now=clock) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=clock) == 0.0
    assert parse_retry_after("soon", now=clock) is None
    assert parse_retry_after("nan", now=clock) is None
    assert parse_retry_after("inf", now=clock) is None


async def test_retry_none_policy(router: respx.MockRouter, sleep: RecordingSleep) -> None:
    route = router.post("/api/account/sync").respond(503)
    async with Transport(
        base_url=BASE,
        transport=httpx.MockTransport(router.async_handler),
        retry=RetryPolicy.none(),
        sleep=sleep,
    ) as t:
        with pytest.raises(ServerError):
            await t.post_json("account/sync", {}, idempotent=True)
    assert route.call_count == 1


async def test_logs_are_redacted(
    router: respx.MockRouter,
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    router.post("/api/account/sync").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"ticket": TICKET})]
    )
    router.post("/api/file/upload").respond(200, json={"files": []})
    router.post(f"/hook/{HOOK_KEY}").mock(side_effect=[httpx.Response(503)])
    await transport.post_json("account/sync", {}, ticket=TICKET, token_id=TOKEN, idempotent=True)
    await transport.upload(
        "file/upload", [UploadFile(name="a.txt", content=b"x")], ticket=TICKET, token_id=TOKEN
    )
    with pytest.raises(ServerError) as info:
        await transport.post_hook(f"{BASE}/hook/{HOOK_KEY}", {"message": "hi"})
    texts = log_texts(caplog)
    assert any("retrying account/sync" in text for text in texts)
    assert any("HTTP Request" in text for text in texts)  # httpx's own line, cleaned
    assert_no_secrets(*texts, str(info.value), repr(info.value))


# -- size limit ------------------------------------------------------------------------------


class CountingStream(httpx.AsyncByteStream):
    """A response body of ``chunks`` chunks that records how many were read."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.read = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += 1
            yield self.chunk

    async def aclose(self) -> None:
        self.closed = True


def limited_transport(handler: Any, limit: int, sleep: RecordingSleep) -> Transport:
    return Transport(
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        max_response_bytes=limit,
        sleep=sleep,
    )


async def test_declared_content_length_over_limit_refused_unread(
    sleep: RecordingSleep,
) -> None:
    stream = CountingStream(b"x" * 100, 10)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "1000"}, stream=stream)

    async with limited_transport(handler, 999, sleep) as t:
        with pytest.raises(ResponseTooLargeError) as info:
            await t.post_json("account/sync", {}, idempotent=True)
    assert info.value.size == 1000
    assert info.value.limit == 999
    assert stream.read == 0
    assert stream.closed
    assert sleep.delays == []  # never retried


async def test_streamed_body_over_limit_refused_early(sleep: RecordingSleep) -> None:
    # No Content-Length: 1 GiB announced by nothing, refused after the first chunk past 1 KiB.
    stream = CountingStream(b"x" * 512, 2 * 1024 * 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    async with limited_transport(handler, 1024, sleep) as t:
        with pytest.raises(ResponseTooLargeError) as info:
            await t.post_json("account/sync", {})
    assert stream.read == 3
    assert stream.closed
    assert info.value.size == 1536


async def test_gzip_bomb_refused_by_decoded_size(sleep: RecordingSleep) -> None:
    body = gzip.compress(b"{" + b" " * 200_000 + b"}")
    assert len(body) < 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=ChunkStream(body), headers={"Content-Encoding": "gzip"})

    async with limited_transport(handler, 10_000, sleep) as t:
        with pytest.raises(ResponseTooLargeError):
            await t.post_json("account/sync", {})


async def test_body_at_limit_accepted(sleep: RecordingSleep) -> None:
    body = orjson.dumps({"a": "x" * 100})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with limited_transport(handler, len(body), sleep) as t:
        assert (await t.post_json("account/sync", {})).data == {"a": "x" * 100}
    assert DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024


# -- base_url rules --------------------------------------------------------------------------


# The plain-http rule, spelled out. Python 3.13 changed ipaddress's is_loopback for IPv4-mapped
# IPv6 addresses (False on 3.11, True on 3.13); the rule does not use it, so this table holds on
# both (run it with either interpreter).
LOOPBACK_RULE = {
    "localhost": True,
    "LOCALHOST.": True,
    "127.0.0.1": True,
    "127.255.0.9": True,
    "[::1]": True,
    "[::ffff:127.0.0.1]": True,  # IPv4-mapped: judged as 127.0.0.1 (3.11 said no, 3.13 yes)
    "[::ffff:7f00:2]": True,  # the same, in hex
    "[::ffff:10.0.0.1]": False,  # mapped, but not loopback
    "[::127.0.0.1]": False,  # IPv4-compatible (deprecated): not a loopback address
    "[0:0:0:0:0:0:0:1]": True,
    "x.localhost": False,  # a name is not trusted on its spelling: it may resolve anywhere
    "localhost.evil.example": False,
    "127.0.0.1.nip.io": False,
    "0.0.0.0": False,  # noqa: S104 (a host to judge, not to bind)
    "[::]": False,
    "10.0.0.1": False,
}


@pytest.mark.parametrize(("host", "loopback"), LOOPBACK_RULE.items())
def test_the_plain_http_rule_is_explicit_and_version_independent(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    if loopback:
        Transport(base_url=f"http://{host}:8080")
    else:
        with pytest.raises(UsageError, match="plain http is only allowed to a loopback host"):
            Transport(base_url=f"http://{host}:8080")


@pytest.mark.parametrize(
    "url",
    [
        "http://fleep.io",
        "http://10.0.0.1:8000",
        "http://example.localhost.evil.com",
        "ftp://fleep.io",
        "fleep.io",
        "/api",
        "https://fleep.io/?x=1",
    ],
)
def test_bad_base_urls_refused(url: str) -> None:
    with pytest.raises(UsageError):
        Transport(base_url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://fleep.io/", "https://fleep.io"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.8.9.10", "http://127.8.9.10"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://LOCALHOST", "http://localhost"),
    ],
)
async def test_good_base_urls_accepted(url: str, expected: str) -> None:
    async with Transport(base_url=url) as t:
        assert t.base_url == expected


async def test_insecure_http_with_opt_in() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.post("http://fleep.lan:8000/api/account/sync").respond(200, json={})
    async with Transport(
        base_url="http://fleep.lan:8000",
        allow_insecure_http=True,
        transport=httpx.MockTransport(router.async_handler),
    ) as t:
        await t.post_json("account/sync", {})
    assert route.called


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"poll_timeout": -1}, {"max_response_bytes": 0}]
)
def test_bad_limits_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        Transport(**kwargs)  # type: ignore[arg-type]


def test_repr_shows_base_url_only() -> None:
    t = Transport(base_url="http://127.0.0.1:9")
    assert repr(t) == "Transport(base_url='http://127.0.0.1:9')"


# -- two pools -------------------------------------------------------------------------------


async def test_long_poll_uses_its_own_client_and_timeout() -> None:
    normal = respx.MockRouter(base_url=BASE, assert_all_called=False)
    poll = respx.MockRouter(base_url=BASE, assert_all_called=False)
    normal_send = normal.post("/api/message/send/c1").respond(200, json={})
    normal_poll = normal.post("/api/account/poll").respond(200, json={})
    poll_poll = poll.post("/api/account/poll").respond(200, json={})
    async with Transport(
        base_url=BASE,
        timeout=30.0,
        poll_timeout=120.0,
        transport=httpx.MockTransport(normal.async_handler),
        poll_transport=httpx.MockTransport(poll.async_handler),
    ) as t:
        await t.post_json("account/poll", {"wait": True}, long_poll=True)
        await t.post_json("message/send/c1", {})
    assert poll_poll.call_count == 1
    assert normal_poll.call_count == 0
    assert normal_send.call_count == 1
    assert poll_poll.calls.last.request.extensions["timeout"]["read"] == 120.0
    assert poll_poll.calls.last.request.extensions["timeout"]["connect"] == 30.0
    assert normal_send.calls.last.request.extensions["timeout"]["read"] == 30.0


class OneAtATime(httpx.AsyncBaseTransport):
    """A pool with a single connection: a second request waits until the first is done."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.lock = anyio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.lock:
            return await self.handler(request)


async def test_send_completes_while_a_poll_is_parked() -> None:
    poll_parked = anyio.Event()
    release_poll = anyio.Event()
    order: list[str] = []
    router = respx.MockRouter(base_url=BASE, assert_all_called=False)

    @router.post("/api/account/poll")
    async def parked_poll(request: httpx.Request) -> httpx.Response:
        poll_parked.set()
        await release_poll.wait()
        order.append("poll")
        return httpx.Response(200, json={"event_horizon": 1})

    router.post("/api/message/send/c1").respond(200, json={"sent": True})

    async with Transport(
        base_url=BASE,
        transport=OneAtATime(router.async_handler),
        poll_transport=OneAtATime(router.async_handler),
    ) as t:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def poll() -> None:
                    await t.post_json("account/poll", {"wait": True}, long_poll=True)

                tg.start_soon(poll)
                await poll_parked.wait()
                sent = await t.post_json("message/send/c1", {"message": "hi"})
                order.append("send")
                release_poll.set()
    assert sent.data == {"sent": True}
    assert order == ["send", "poll"]


# -- lifecycle -------------------------------------------------------------------------------


async def test_closed_transport_refuses_calls(router: respx.MockRouter) -> None:
    t = Transport(base_url=BASE, transport=httpx.MockTransport(router.async_handler))
    await t.aclose()
    await t.aclose()  # twice is fine
    with pytest.raises(UsageError):
        await t.post_json("account/sync", {})
    with pytest.raises(UsageError):
        await t.post_hook(f"{BASE}/hook/x", {})


# -- uploads ---------------------------------------------------------------------------------


def parse_multipart(request: httpx.Request) -> list[EmailMessage]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        head + request.content
    )
    assert isinstance(message, EmailMessage)
    return list(message.iter_parts())  # type: ignore[arg-type]


async def test_upload_bytes_and_path(
    router: respx.MockRouter, transport: Transport, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 data")
    route = router.post("/api/file/upload").respond(
        200, json={"files": [{"file_id": "f1"}, {"file_id": "f2"}]}
    )
    result = await transport.upload(
        "file/upload",
        [
            UploadFile(name='quo"te.png', content=b"\x89PNG bytes", content_type="image/png"),
            UploadFile(name="report.pdf", content=path),
        ],
        ticket=TICKET,
        token_id=TOKEN,
    )
    assert result.data == {"files": [{"file_id": "f1"}, {"file_id": "f2"}]}
    request = route.calls.last.request
    assert request.url.params["ticket"] == TICKET
    assert request.headers["cookie"] == f"token_id={TOKEN}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(request.headers["content-length"]) == len(request.content)
    parts = parse_multipart(request)
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["files"] * 2
    assert [p.get_filename() for p in parts] == ["quo%22te.png", "report.pdf"]
    assert [p.get_content_type() for p in parts] == ["image/png", "application/pdf"]
    assert [p.get_payload(decode=True) for p in parts] == [b"\x89PNG bytes", b"%PDF-1.4 data"]
    assert b"ticket" not in request.content


async def test_upload_streams_an_async_iterator_once(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    route = router.post("/api/file/upload").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    with pytest.raises(ServerError):
        await transport.upload(
            "file/upload",
            [UploadFile(name="a.txt", content=chunks())],
            ticket=TICKET,
            token_id=TOKEN,
        )
    assert route.call_count == 1  # an iterator cannot be replayed: no retry
    request = route.calls.last.request
    assert request.headers.get("transfer-encoding") == "chunked"
    (part,) = parse_multipart(request)
    assert part.get_payload(decode=True) == b"hello world"
    assert part.get_content_type() == "text/plain"
    assert sleep.delays == []


async def test_replayable_upload_retried(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    route = router.post("/api/file/upload").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"files": []})]
    )
    await transport.upload(
        "file/upload", [UploadFile(name="a.bin", content=b"abc")], ticket=TICKET, token_id=None
    )
    assert route.call_count == 2
    bodies = [call.request.content for call in route.calls]
    first, second = (parse_multipart(call.request)[0] for call in route.calls)
    assert first.get_payload(decode=True) == second.get_payload(decode=True) == b"abc"
    assert len(bodies[0]) == len(bodies[1])
    assert first.get_content_type() == "application/octet-stream"


def test_upload_file_validation() -> None:
    with pytest.raises(UsageError):
        UploadFile(name="a", content="a string is ambiguous")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        UploadFile(name="a", content=123)  # type: ignore[arg-type]
    f = UploadFile(name="x.jpg", content=b"secret bytes")
    assert f.resolved_content_type == "image/jpeg"
    assert "secret bytes" not in repr(f)


async def test_upload_needs_files(transport: Transport) -> None:
    with pytest.raises(UsageError):
        await transport.upload("file/upload", [], ticket=TICKET, token_id=TOKEN)


async def test_upload_missing_path_is_usage_error(transport: Transport, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        await transport.upload(
            "file/upload",
            [UploadFile(name="gone", content=tmp_path / "gone")],
            ticket=TICKET,
            token_id=TOKEN,
        )


# -- downloads -------------------------------------------------------------------------------


async def test_stream_get_relative_path_gets_the_cookie(
    router: respx.MockRouter, transport: Transport
) -> None:
    route = router.get("/file/c1/f1/a.txt").respond(200, content=b"file body")
    async with transport.stream_get("/file/c1/f1/a.txt", token_id=TOKEN) as response:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == b"file body"
    assert route.calls.last.request.headers["cookie"] == f"token_id={TOKEN}"


async def test_stream_get_foreign_host_gets_no_cookie(
    router: respx.MockRouter, transport: Transport
) -> None:
    route = router.get("https://cdn.other.test/f").respond(200, content=b"x")
    async with transport.stream_get("https://cdn.other.test/f", token_id=TOKEN) as response:
        await response.aread()
    assert "cookie" not in route.calls.last.request.headers


async def test_stream_get_redirect_to_foreign_host_drops_cookie(
    router: respx.MockRouter, transport: Transport
) -> None:
    own = router.get("/file/a").respond(302, headers={"Location": "/file/b"})
    own2 = router.get("/file/b").respond(302, headers={"Location": "https://cdn.other.test/signed"})
    foreign = router.get("https://cdn.other.test/signed").respond(200, content=b"data")
    async with transport.stream_get("/file/a", token_id=TOKEN) as response:
        assert await response.aread() == b"data"
    assert own.calls.last.request.headers["cookie"] == f"token_id={TOKEN}"
    assert own2.calls.last.request.headers["cookie"] == f"token_id={TOKEN}"
    assert "cookie" not in foreign.calls.last.request.headers


async def test_stream_get_redirect_loop_stops(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.get("/file/loop").respond(302, headers={"Location": "/file/loop"})
    with pytest.raises(TransportError, match="too many redirects"):
        async with transport.stream_get("/file/loop"):
            pass


async def test_stream_get_redirect_to_plain_http_refused(
    router: respx.MockRouter, transport: Transport
) -> None:
    router.get("/file/a").respond(302, headers={"Location": "http://cdn.other.test/x"})
    with pytest.raises(UsageError):
        async with transport.stream_get("/file/a", token_id=TOKEN):
            pass


async def test_stream_get_error_status(router: respx.MockRouter, transport: Transport) -> None:
    router.get("/file/missing").respond(404, json={"error_id": "not_found"})
    with pytest.raises(NotFoundError):
        async with transport.stream_get("/file/missing", token_id=TOKEN):
            pytest.fail("must not enter")


async def test_stream_get_read_error_wrapped(
    transport: Transport, router: respx.MockRouter
) -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"part"
            raise httpx.ReadError("connection reset")

    router.get("/file/broken").mock(return_value=httpx.Response(200, stream=Broken()))
    chunks: list[bytes] = []

    async def read_all() -> None:
        async with transport.stream_get("/file/broken") as response:
            chunks.extend([chunk async for chunk in response.aiter_bytes()])

    with pytest.raises(TransportError) as info:
        await read_all()
    assert isinstance(info.value.__cause__, httpx.ReadError)


async def test_stream_get_refuses_relative_without_slash(transport: Transport) -> None:
    with pytest.raises(UsageError):
        async with transport.stream_get("file/x"):
            pass


# -- hooks -----------------------------------------------------------------------------------


async def test_post_hook_json(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post(f"/hook/{HOOK_KEY}").respond(200, content=b"")
    await transport.post_hook(f"{BASE}/hook/{HOOK_KEY}", {"message": "hi", "user": "CI"})
    request = route.calls.last.request
    assert orjson.loads(request.content) == {"message": "hi", "user": "CI"}
    assert "cookie" not in request.headers
    assert request.headers["content-type"] == "application/json"


async def test_post_hook_relative_url(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post(f"/hook/{HOOK_KEY}").respond(200, text="OK")
    await transport.post_hook(f"/hook/{HOOK_KEY}", {"message": "hi"})
    assert route.called


async def test_post_hook_with_files(router: respx.MockRouter, transport: Transport) -> None:
    route = router.post(f"/hook/{HOOK_KEY}").respond(200)
    await transport.post_hook(
        f"{BASE}/hook/{HOOK_KEY}",
        {"message": "see file"},
        files=[UploadFile(name="log.txt", content=b"lines")],
    )
    parts = parse_multipart(route.calls.last.request)
    assert parts[0].get_param("name", header="content-disposition") == "message"
    assert parts[0].get_content() == "see file"
    assert parts[1].get_filename() == "log.txt"
    assert parts[1].get_payload(decode=True) == b"lines"


async def test_post_hook_not_retried_and_key_kept_secret(
    router: respx.MockRouter, transport: Transport, sleep: RecordingSleep
) -> None:
    route = router.post(f"/hook/{HOOK_KEY}").respond(404, json={"error_id": "not_found"})
    with pytest.raises(NotFoundError) as info:
        await transport.post_hook(f"{BASE}/hook/{HOOK_KEY}", {"message": "hi"})
    assert route.call_count == 1
    assert info.value.endpoint == "hook"
    assert_no_secrets(str(info.value), repr(info.value))
    router.post(f"/hook/{HOOK_KEY}x").mock(side_effect=httpx.ConnectError(f"/hook/{HOOK_KEY}x"))
    with pytest.raises(TransportError) as info2:
        await transport.post_hook(f"{BASE}/hook/{HOOK_KEY}x", {"message": "hi"})
    assert_no_secrets(str(info2.value), repr(info2.value))
    assert sleep.delays == []


async def test_post_hook_plain_http_refused(transport: Transport) -> None:
    with pytest.raises(UsageError) as info:
        await transport.post_hook(f"http://fleep.io/hook/{HOOK_KEY}", {"message": "hi"})
    assert_no_secrets(str(info.value))


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any request that escapes the injected transports would try a real socket: forbid it.
    async def refuse(self: object, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"real network used: {request.url}")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)
