"""RetryPolicy: pure delays (full jitter, caps, Retry-After floor) and retry decisions."""

from __future__ import annotations

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleep_async._retry import RetryPolicy, Sleep, default_sleep
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
)


def fixed(value: float) -> RetryPolicy:
    return RetryPolicy(random=lambda: value)


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 4
    assert policy.base_delay == 0.5
    assert policy.max_delay == 30.0
    assert policy.max_retry_after == 60.0
    assert RetryPolicy.none().max_attempts == 1


def test_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().max_attempts = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": -1.0},
        {"max_delay": float("nan")},
        {"max_retry_after": -0.1},
    ],
)
def test_invalid_settings_raise_usage_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_delay_ceiling_doubles_and_caps() -> None:
    policy = fixed(1.0)  # the top of the jitter range shows the ceiling
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_full_jitter_spans_zero_to_ceiling() -> None:
    assert fixed(0.0).delay(3) == 0.0
    assert fixed(0.25).delay(3) == 0.5  # a quarter of the 2 s ceiling
    draws = iter([0.1, 0.9])
    policy = RetryPolicy(random=lambda: next(draws))
    assert policy.delay(2) == pytest.approx(0.1)
    assert policy.delay(2) == pytest.approx(0.9)


def test_huge_attempt_number_does_not_overflow() -> None:
    assert fixed(1.0).delay(10_000) == 30.0


def test_retry_after_is_the_floor() -> None:
    policy = fixed(0.0)
    assert policy.delay(1, retry_after=5.0) == 5.0
    # jitter above Retry-After wins
    assert fixed(1.0).delay(5, retry_after=2.0) == 8.0


def test_retry_after_is_capped() -> None:
    assert fixed(0.0).delay(1, retry_after=3600.0) == 60.0
    assert RetryPolicy(max_retry_after=10.0, random=lambda: 0.0).delay(1, 99.0) == 10.0


@pytest.mark.parametrize("retry_after", [None, 0.0, -5.0])
def test_missing_or_non_positive_retry_after_ignored(retry_after: float | None) -> None:
    assert fixed(0.5).delay(1, retry_after=retry_after) == 0.25


@given(
    attempt=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0.0, max_value=0.999999),
    retry_after=st.none() | st.floats(min_value=0.0, max_value=1e6),
)
def test_delay_is_bounded(attempt: int, draw: float, retry_after: float | None) -> None:
    policy = fixed(draw)
    wait = policy.delay(attempt, retry_after)
    bound = max(policy.max_delay, policy.max_retry_after)
    assert 0.0 <= wait <= bound
    if retry_after is not None:
        assert wait >= min(retry_after, policy.max_retry_after)


RETRIED = [
    TransportError("reset"),
    FleepTimeoutError("read timeout"),
    ServerError(status_code=500),
    ServerError(status_code=503),
    RateLimitError(status_code=429, retry_after=1.0),
]

FINAL = [
    AuthenticationError(status_code=401),
    PermissionDeniedError(status_code=403),
    NotFoundError(status_code=404),
    InvalidRequestError(status_code=400),
    ConflictError(status_code=409),
    BusinessRuleError(status_code=431),
    StorageQuotaError(status_code=507),
    FleepAPIError(status_code=418),
    DecodeError("bad"),
    ResponseTooLargeError(limit=1),
    UsageError("bad"),
    ValueError("not ours"),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("exc", RETRIED, ids=repr)
def test_retryable_failures_retried_only_when_idempotent(exc: BaseException) -> None:
    policy = RetryPolicy()
    assert policy.should_retry(exc, idempotent=True)
    assert not policy.should_retry(exc, idempotent=False)


@pytest.mark.parametrize("exc", FINAL, ids=repr)
def test_final_failures_never_retried(exc: BaseException) -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(exc, idempotent=True)
    assert not policy.should_retry(exc, idempotent=False)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.mark.anyio
async def test_sleep_protocol() -> None:
    recorder: Sleep = RecordingSleep()
    await recorder(1.5)
    assert isinstance(recorder, RecordingSleep)
    assert recorder.delays == [1.5]
    assert default_sleep is anyio.sleep
    with anyio.fail_after(1):
        await default_sleep(0)
