"""The exception tree, classification by error_id then status, and redaction."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleep_async.errors import (
    AuthenticationError,
    BusinessRuleError,
    ConflictError,
    DecodeError,
    FleepAPIError,
    FleepError,
    FleepTimeoutError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Redactor,
    ResponseTooLargeError,
    ServerError,
    StorageQuotaError,
    TransportError,
    UsageError,
    classify,
    redact,
)

TICKET = "d5a9c3c2fc696c4a4b55"
TOKEN = "dd737a29-7819-41dc-ad93-a38aab2c9409"
HOOK_KEY = "Z0Ph_W2LTVa8sgicQ5Gruw"


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (TransportError, FleepError),
        (FleepTimeoutError, TransportError),
        (FleepAPIError, FleepError),
        (AuthenticationError, FleepAPIError),
        (PermissionDeniedError, FleepAPIError),
        (NotFoundError, FleepAPIError),
        (InvalidRequestError, FleepAPIError),
        (ConflictError, FleepAPIError),
        (RateLimitError, FleepAPIError),
        (BusinessRuleError, FleepAPIError),
        (ServerError, FleepAPIError),
        (StorageQuotaError, FleepAPIError),
        (ResponseTooLargeError, FleepError),
        (DecodeError, FleepError),
        (UsageError, FleepError),
        (UsageError, ValueError),
    ],
)
def test_tree(child: type[BaseException], parent: type[BaseException]) -> None:
    assert issubclass(child, parent)


def test_storage_quota_is_not_a_server_error() -> None:
    # A full quota must not be retried like a 5xx.
    assert not issubclass(StorageQuotaError, ServerError)
    assert not issubclass(FleepAPIError, TransportError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (430, BusinessRuleError),
        (431, BusinessRuleError),
        (439, BusinessRuleError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (599, ServerError),
        (507, StorageQuotaError),
        (402, FleepAPIError),
        (418, FleepAPIError),
        (440, FleepAPIError),
        (302, FleepAPIError),
    ],
)
def test_classify_by_status(status: int, cls: type[FleepAPIError]) -> None:
    body = {"error_id": "something_new", "error_message": "Words."}
    exc = classify(status, body, endpoint="message/send/c1")
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.error_id == "something_new"
    assert exc.error_message == "Words."
    assert exc.endpoint == "message/send/c1"


@pytest.mark.parametrize(
    ("status", "error_id", "cls"),
    [
        (430, "not_found", NotFoundError),
        (431, "not_found", NotFoundError),
        (400, "invalid_call", InvalidRequestError),
        (431, "invalid_edit", BusinessRuleError),
    ],
)
def test_error_id_wins_over_status(status: int, error_id: str, cls: type[FleepAPIError]) -> None:
    exc = classify(status, {"error_id": error_id}, endpoint=None)
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.error_id == error_id
    assert exc.error_message is None


@pytest.mark.parametrize(
    ("status", "error_id", "cls"),
    [
        (500, "not_found", ServerError),
        (503, "not_found", ServerError),
        (502, "invalid_call", ServerError),
        (429, "not_found", RateLimitError),
        (507, "not_found", StorageQuotaError),
    ],
)
def test_a_retryable_status_wins_over_the_error_id(
    status: int, error_id: str, cls: type[FleepAPIError]
) -> None:
    # A proxy or a failing server may put any error_id in a 5xx body: the answer stays a
    # server error (retried), never a NotFoundError that ends a poll loop.
    exc = classify(status, {"error_id": error_id}, endpoint="account/poll")
    assert type(exc) is cls
    assert exc.error_id == error_id


@pytest.mark.parametrize(
    "body",
    [None, "<html>Bad Gateway</html>", b"\x00", [1, 2], {"error_id": 5, "error_message": None}, {}],
)
def test_classify_tolerates_any_body(body: object) -> None:
    exc = classify(502, body, endpoint="account/poll")
    assert type(exc) is ServerError
    assert exc.error_id is None
    assert exc.error_message is None


def test_retry_after_kept_on_rate_limit_only() -> None:
    limited = classify(429, None, endpoint="x", retry_after=7.5)
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 7.5
    other = classify(503, None, endpoint="x", retry_after=7.5)
    assert not hasattr(other, "retry_after")


def test_str_and_repr_of_api_error() -> None:
    exc = classify(
        430, {"error_id": "not_found", "error_message": "Message not found."}, endpoint="m/s/c1"
    )
    assert str(exc) == "HTTP 430 on m/s/c1: not_found: Message not found."
    assert repr(exc) == (
        "NotFoundError(status_code=430, error_id='not_found', "
        "error_message='Message not found.', endpoint='m/s/c1')"
    )
    assert str(FleepAPIError(status_code=500)) == "HTTP 500"
    custom = AuthenticationError("login refused", status_code=431, error_message="Bad password")
    assert str(custom) == "HTTP 431: login refused"
    assert custom.error_message == "Bad password"


def test_secrets_never_in_str_or_repr() -> None:
    exc = classify(
        431,
        {
            "error_id": "bad",
            "error_message": f"ticket={TICKET} cookie token_id={TOKEN}; see /hook/{HOOK_KEY}",
        },
        endpoint=f"hook/{HOOK_KEY}",
    )
    for text in (str(exc), repr(exc), str(exc.args)):
        assert TICKET not in text
        assert TOKEN not in text
        assert HOOK_KEY not in text
    assert exc.endpoint == "hook/***"


def test_transport_error_message_redacted() -> None:
    exc = FleepTimeoutError(
        f"ReadTimeout on https://fleep.io/hook/{HOOK_KEY}?ticket={TICKET}", endpoint="hook"
    )
    assert HOOK_KEY not in str(exc)
    assert TICKET not in repr(exc)
    assert exc.endpoint == "hook"


def test_decode_error_keeps_a_short_redacted_excerpt() -> None:
    body = ('{"ticket": "' + TICKET + '", ' + "x" * 5000).encode()
    exc = DecodeError("bad JSON", excerpt=body, endpoint="account/login", status_code=200)
    assert exc.excerpt is not None
    assert len(exc.excerpt) <= 120
    assert TICKET not in str(exc)
    assert TICKET not in repr(exc)
    assert "x" * 200 not in str(exc)
    assert exc.status_code == 200
    assert "account/login" in str(exc)
    plain = DecodeError("record did not decode")
    assert str(plain) == "record did not decode"
    assert plain.excerpt is None


def test_response_too_large_message() -> None:
    exc = ResponseTooLargeError(limit=10, size=11, endpoint="account/poll")
    assert exc.limit == 10
    assert exc.size == 11
    assert "10 bytes" in str(exc)
    assert "account/poll" in str(exc)


@pytest.mark.parametrize(
    "exc",
    [
        classify(430, {"error_id": "not_found"}, endpoint="a/b"),
        classify(429, None, endpoint="a", retry_after=3.0),
        TransportError("boom", endpoint="a"),
        DecodeError("bad", excerpt="{", endpoint="a"),
        ResponseTooLargeError(limit=1, size=2),
        UsageError("nope"),
    ],
)
def test_exceptions_pickle(exc: FleepError) -> None:
    clone = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own data
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    assert repr(clone) == repr(exc)
    assert getattr(clone, "retry_after", None) == getattr(exc, "retry_after", None)


def test_usage_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise UsageError("bad argument")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://fleep.io/hook/{HOOK_KEY}", "https://fleep.io/hook/***"),
        (f"POST /hook/{HOOK_KEY}?x=1", "POST /hook/***?x=1"),
        (f"hook/{HOOK_KEY}", "hook/***"),
        (f"/api/file/upload?ticket={TICKET}&x=1", "/api/file/upload?ticket=***&x=1"),
        (f"Cookie: token_id={TOKEN}; other=1", "Cookie: token_id=***; other=1"),
        (f'{{"ticket": "{TICKET}", "a": 1}}', '{"ticket": "***", "a": 1}'),
        ("{'password': 'hunter22'}", "{'password': '***'}"),
        ('{"hook_url": "https://x/y"}', '{"hook_url": "***"}'),
        ("conversation/create_hook/c1", "conversation/create_hook/c1"),
        ("message/send/c1", "message/send/c1"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redactor_scrubs_known_values() -> None:
    redactor = Redactor([TICKET, None, "ab"])
    redactor.add(TOKEN)
    text = f"ticket {TICKET} and token {TOKEN} and ab"
    assert redactor(text) == "ticket *** and token *** and ab"  # too-short secrets are kept
    redactor.discard(TOKEN)
    assert TOKEN in redactor(text)
    assert TICKET not in repr(redactor)


def test_redactor_replaces_longest_first() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor("xabcdefghx") == "x***x"


@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=4, max_size=40),
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
)
def test_redact_removes_any_known_secret(secret: str, prefix: str, suffix: str) -> None:
    assert secret not in redact(prefix + secret + suffix, [secret])
