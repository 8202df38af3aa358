"""The poll loop: pacing, backoff, Retry-After, resync, initial sync; asyncio and trio."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from fleep_async._retry import RetryPolicy
from fleep_async.errors import (
    DecodeError,
    FleepTimeoutError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from fleep_async.events import Checkpoint, EventEngine, MemoryStore, Poller, Router
from tests.unit.test_events_fakes import FakeTime, ScriptedRequester, msg, poll

pytestmark = pytest.mark.anyio

WAIT = 5.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_poller(req: ScriptedRequester, time: FakeTime, **kwargs: Any) -> Poller:
    kwargs.setdefault("backoff", RetryPolicy(base_delay=1.0, max_delay=60.0, random=lambda: 0.5))
    kwargs.setdefault("min_interval", 0.5)
    return Poller(req, sleep=time.sleep, clock=time.clock, **kwargs)


async def test_transient_failures_back_off_with_jitter_and_honour_retry_after() -> None:
    time = FakeTime()
    req = ScriptedRequester(
        [
            ServerError(status_code=502, endpoint="account/poll"),
            RateLimitError(endpoint="account/poll", retry_after=7.0),
            TransportError("connection reset", endpoint="account/poll"),
            FleepTimeoutError("read timeout", endpoint="account/poll"),
            DecodeError("not json", endpoint="account/poll"),
            poll(11, msg("a", 1)),
            ServerError(status_code=500, endpoint="account/poll"),
            poll(12),
        ]
    )
    poller = make_poller(req, time)
    poller.horizon = 10
    with anyio.fail_after(WAIT):
        first = await poller.poll()
        second = await poller.poll()
    assert (first.horizon, len(first.stream)) == (11, 1)
    assert second.horizon == 12
    # random()=0.5: ceilings 1, 2, 4, 8, 16 -> 0.5, 1 (raised to Retry-After 7), 2, 4, 8;
    # then the success resets the backoff: the next failure waits 0.5 again.
    assert time.sleeps == [0.5, 7.0, 2.0, 4.0, 8.0, 0.5]
    assert dict(poller.retries) == {
        "server": 2,
        "rate_limit": 1,
        "transport": 1,
        "timeout": 1,
        "decode": 1,
    }
    assert [b["event_horizon"] for b in req.poll_bodies] == [10] * 6 + [11, 11]
    assert all(flags["idempotent"] and flags["long_poll"] for _, _, flags in req.calls)


async def test_backoff_is_capped_and_never_shorter_than_the_min_interval() -> None:
    time = FakeTime()
    failures = [ServerError(status_code=503) for _ in range(12)]
    req = ScriptedRequester([*failures, poll(2)])
    poller = make_poller(
        req,
        time,
        backoff=RetryPolicy(base_delay=0.01, max_delay=3.0, random=lambda: 0.999),
        min_interval=0.25,
    )
    poller.horizon = 1
    with anyio.fail_after(WAIT):
        await poller.poll()
    assert len(time.sleeps) == 12
    assert min(time.sleeps) == 0.25  # tiny jittered delays are raised to the min interval
    assert max(time.sleeps) <= 3.0
    assert time.sleeps[-1] == pytest.approx(3.0 * 0.999)


async def test_retry_after_is_honoured_up_to_its_cap() -> None:
    time = FakeTime()
    req = ScriptedRequester([RateLimitError(retry_after=10_000.0), poll(2)])
    poller = make_poller(req, time, backoff=RetryPolicy(max_retry_after=120.0, random=lambda: 0.0))
    poller.horizon = 1
    with anyio.fail_after(WAIT):
        await poller.poll()
    assert time.sleeps == [120.0]


async def test_instant_empty_answers_cannot_become_a_tight_loop() -> None:
    time = FakeTime(start=0.0)
    req = ScriptedRequester(default=poll(5), clock=time.clock)
    poller = make_poller(req, time, min_interval=0.5)
    poller.horizon = 5
    with anyio.fail_after(WAIT):
        while time.now < 30.0:
            batch = await poller.poll()
            assert not batch.progressed
    # 30 s of injected time: at most one poll per min interval (plus the first).
    assert req.polls <= 30.0 / 0.5 + 1
    gaps = [b - a for a, b in zip(req.poll_times, req.poll_times[1:], strict=False)]
    assert gaps
    assert min(gaps) >= 0.5


async def test_instant_errors_cannot_become_a_tight_loop() -> None:
    time = FakeTime(start=0.0)
    req = ScriptedRequester(default=ServerError(status_code=500), clock=time.clock)
    engine = EventEngine(
        req,
        Router(),
        backlog="full",
        sleep=time.sleep,
        clock=time.clock,
        random=lambda: 0.0,  # the worst case: jitter of zero
        min_poll_interval=0.5,
    )

    async def stop_after_a_minute() -> None:
        while time.now < 60.0:
            await req.wait_polls(req.polls + 1)
        engine.stop()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_after_a_minute)
            await engine.run()
    assert req.polls <= 60.0 / 0.5 + 2
    assert engine.health.retries["server"] == req.polls


async def test_answers_that_move_the_horizon_are_followed_at_once() -> None:
    time = FakeTime()
    req = ScriptedRequester(
        [poll(6, msg("a", 1)), poll(7, msg("a", 2)), poll(7), poll(8, msg("a", 3)), poll(9)]
    )
    poller = make_poller(req, time)
    poller.horizon = 5
    with anyio.fail_after(WAIT):
        for _ in range(5):
            await poller.poll()
    # Only the answer that brought nothing (7 -> 7) makes the next poll wait.
    assert time.sleeps == [0.5]


def creeping_horizon(step: int) -> Any:
    """A server that answers every poll at once, empty, with the horizon moved by ``step``."""

    async def answer(body: dict[str, Any]) -> dict[str, Any]:
        sent = int(body["event_horizon"])
        return poll(sent + step if sent > 0 or step > 0 else sent - 1)

    return answer


@pytest.mark.parametrize(
    ("start", "step"),
    [(5, 1), (5, 1000), (-1, -1)],
    ids=["plus-one", "plus-thousand", "new-negative-cursor"],
)
async def test_empty_answers_are_paced_whatever_their_horizon(start: int, step: int) -> None:
    # Before: only an unmoved horizon was paced, and a server that moved it on every empty
    # answer (or handed out a new negative sync cursor each time) drove 110-220 polls/s.
    time = FakeTime(start=0.0)
    req = ScriptedRequester(default=creeping_horizon(step), clock=time.clock)
    engine = EventEngine(
        req,
        Router(),
        backlog="full" if start <= 0 else "resume",
        store=MemoryStore(Checkpoint(horizon=start)) if start > 0 else None,
        sleep=time.sleep,
        clock=time.clock,
        min_poll_interval=0.5,
    )

    async def stop_after_a_minute() -> None:
        # Bounded both ways: an unpaced loop never advances the injected clock.
        while time.now < 60.0 and req.polls < 1000:
            await req.wait_polls(req.polls + 1)
        engine.stop()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_after_a_minute)
            await engine.run()
    # The server's count over 60 s of injected time: one poll per min interval, plus the first.
    assert (req.polls, time.now >= 60.0) <= (60.0 / 0.5 + 2, True)
    gaps = [b - a for a, b in zip(req.poll_times, req.poll_times[1:], strict=False)]
    assert min(gaps) >= 0.5


async def test_a_horizon_that_goes_backwards_is_kept_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    req = ScriptedRequester([poll(200, msg("a", 1)), poll(150, msg("a", 2)), poll(50), poll(201)])
    poller = make_poller(req, time)
    poller.horizon = 100
    with anyio.fail_after(WAIT):
        batches = [await poller.poll() for _ in range(4)]
    # The records of the rewinding answer are delivered; its horizon is not taken.
    assert [b.horizon for b in batches] == [200, 200, 200, 201]
    assert [len(b.stream) for b in batches] == [1, 1, 0, 0]
    assert [b["event_horizon"] for b in req.poll_bodies] == [100, 200, 200, 200]
    assert poller.rewinds == 2
    assert "horizon 150 after 200" in caplog.text
    assert "horizon 50 after 200" in caplog.text


async def test_a_zero_horizon_is_a_resync_and_restarts_from_scratch() -> None:
    time = FakeTime()
    req = ScriptedRequester([poll(0), poll(-1, sync_progress=0.5), poll(40, sync_progress=1.0)])
    poller = make_poller(req, time, poll_flags=["skip_hidden"])
    poller.horizon = 30
    with anyio.fail_after(WAIT):
        resync = await poller.poll()
        middle = await poller.poll()
        done = await poller.poll()
    assert resync.resync
    assert resync.syncing
    assert resync.sync_progress == 0.0
    assert poller.resyncs == 1
    assert middle.syncing
    assert middle.sync_progress == 0.5
    assert done.syncing
    assert done.sync_progress == 1.0
    assert req.poll_bodies == [
        {"event_horizon": 30, "wait": True},
        {"event_horizon": 0, "wait": False, "poll_flags": ["skip_hidden"]},
        {"event_horizon": -1, "wait": False, "poll_flags": ["skip_hidden"]},
    ]
    assert poller.horizon == 40


@pytest.mark.parametrize(
    "error",
    [
        PermissionDeniedError(status_code=403, endpoint="account/poll"),
        InvalidRequestError(status_code=400, endpoint="account/poll"),
    ],
)
async def test_other_api_errors_are_not_retried(error: Exception) -> None:
    time = FakeTime()
    req = ScriptedRequester([error])
    engine = EventEngine(req, Router(), backlog="full", sleep=time.sleep, clock=time.clock)
    with anyio.fail_after(WAIT), pytest.raises(type(error)):
        await engine.run()
    assert req.polls == 1
    assert time.sleeps == []


async def test_malformed_answers_are_retried_as_decode_errors() -> None:
    time = FakeTime()
    req = ScriptedRequester(
        [
            {"stream": []},  # no horizon
            {"event_horizon": "7", "stream": []},  # not an int
            {"event_horizon": 7, "stream": {"a": 1}},  # not a list
            {"event_horizon": 7, "stream": [msg("a", 1), "junk", 3]},
        ]
    )
    poller = make_poller(req, time)
    poller.horizon = 6
    with anyio.fail_after(WAIT):
        batch = await poller.poll()
    assert poller.retries["decode"] == 3
    assert [r["message_nr"] for r in batch.stream] == [1]  # junk items dropped


async def test_a_stalled_request_is_cut_by_the_watchdog() -> None:
    time = FakeTime()

    async def hang(body: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    req = ScriptedRequester([hang, poll(3)])
    poller = make_poller(req, time, poll_timeout=0.01)
    poller.horizon = 2
    with anyio.fail_after(WAIT):
        batch = await poller.poll()
    assert batch.horizon == 3
    assert poller.retries["stall"] == 1


async def test_account_sync_is_retried_too() -> None:
    time = FakeTime()
    req = ScriptedRequester(sync_horizon=9)
    calls = 0
    original = req.request

    async def flaky(path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        nonlocal calls
        if path == "account/sync":
            calls += 1
            if calls == 1:
                raise TransportError("refused")
        return await original(path, body, **kw)

    req.request = flaky  # type: ignore[method-assign]
    poller = make_poller(req, time)
    with anyio.fail_after(WAIT):
        assert await poller.current_horizon() == 9
    assert calls == 2
    assert poller.retries["transport"] == 1
