"""Test doubles for the event engine: a scripted requester, injected time, record builders.

Imported by the other ``test_events_*`` modules; the few tests here check the doubles themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from fleep_async.errors import FleepError
from fleep_async.events import Checkpoint, MemoryStore

pytestmark = pytest.mark.anyio

Step = dict[str, Any] | BaseException | Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def msg(
    conv: str,
    nr: int,
    text: str = "hello",
    *,
    account: str = "alice",
    flow: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A raw message record as the server sends it."""
    raw: dict[str, Any] = {
        "mk_rec_type": "message",
        "conversation_id": conv,
        "message_nr": nr,
        "account_id": account,
        "message": f"<msg><p>{text}</p></msg>",
        "mk_message_type": "text",
        "mk_message_state": "urn:fleep:message:mk_message_state:plain",
        "posted_time": 1_500_000_000 + nr,
        **extra,
    }
    if flow is not None:
        raw["flow_message_nr"] = flow
    return raw


def conv(cid: str, **fields: Any) -> dict[str, Any]:
    """A (possibly partial) raw conversation header."""
    return {"mk_rec_type": "conv", "conversation_id": cid, **fields}


def contact(aid: str, **fields: Any) -> dict[str, Any]:
    """A raw contact record."""
    return {"mk_rec_type": "contact", "account_id": aid, **fields}


def poll(horizon: int, *records: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A poll answer."""
    return {"event_horizon": horizon, "stream": list(records), **extra}


class FakeTime:
    """An injected clock and sleep: sleeping advances the clock, nothing really waits."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        # A real checkpoint: other tasks run, and cancellation is honoured.
        await anyio.lowlevel.checkpoint()


class ScriptedRequester:
    """Answers ``account/poll`` from a script; records every call.

    Script steps: a dict (the answer), an exception (raised), or an async callable of the body
    (for answers that must wait on the test). When the script is exhausted the ``default`` step
    answers, or, without one, a poll blocks until cancelled, like a long poll with nothing to say.
    """

    def __init__(
        self,
        script: list[Step] | None = None,
        *,
        account_id: str | None = "bot",
        sync_horizon: int = 100,
        positions: dict[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        default: Step | None = None,
    ) -> None:
        self.account_id = account_id
        self.default = default
        self.script: deque[Step] = deque(script or [])
        self.sync_horizon = sync_horizon
        self.conversations: list[dict[str, Any]] = [
            {"conversation_id": c, "last_message_nr": n} for c, n in (positions or {}).items()
        ]
        self.calls: list[tuple[str, dict[str, Any], dict[str, bool]]] = []
        self.poll_bodies: list[dict[str, Any]] = []
        self.poll_times: list[float] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._clock = clock
        self._waiters: list[tuple[int, anyio.Event]] = []

    @property
    def polls(self) -> int:
        return len(self.poll_bodies)

    def add(self, *steps: Step) -> None:
        self.script.extend(steps)

    async def wait_polls(self, count: int) -> None:
        """Wait until ``count`` polls were issued (in total)."""
        if self.polls >= count:
            return
        event = anyio.Event()
        self._waiters.append((count, event))
        await event.wait()

    def _notify(self) -> None:
        for count, event in list(self._waiters):
            if self.polls >= count:
                event.set()
                self._waiters.remove((count, event))

    async def request(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        long_poll: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        body = dict(body or {})
        self.calls.append(
            (path, body, {"idempotent": idempotent, "long_poll": long_poll, "auth": auth})
        )
        await anyio.lowlevel.checkpoint()
        if path == "account/sync":
            return {"event_horizon": self.sync_horizon}
        if path == "conversation/list":
            # One page with the conversations' positions at the start, then an empty one.
            page = [] if body.get("sync_horizon") else self.conversations
            return {"conversations": page, "sync_horizon": len(page)}
        if path.startswith("message/store/"):  # ctx.reply posts through message/store
            self.sent.append((path.removeprefix("message/store/"), body))
            return {"result_message_nr": len(self.sent), "client_req_id": body["client_req_id"]}
        assert path == "account/poll", path
        self.poll_bodies.append(body)
        if self._clock is not None:
            self.poll_times.append(self._clock())
        self._notify()
        if self.script:
            step = self.script.popleft()
        elif self.default is not None:
            step = self.default
        else:
            await anyio.sleep_forever()
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step(body)
        return step


class RecordingStore(MemoryStore):
    """A MemoryStore that keeps every saved checkpoint and lets a test wait for one."""

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        super().__init__(checkpoint)
        self.history: list[Checkpoint] = []
        self._waiters: list[tuple[Callable[[Checkpoint], bool], anyio.Event]] = []

    async def save(self, checkpoint: Checkpoint) -> None:
        await super().save(checkpoint)
        self.history.append(checkpoint)
        for predicate, event in list(self._waiters):
            if predicate(checkpoint):
                event.set()
                self._waiters.remove((predicate, event))

    async def wait_for(self, predicate: Callable[[Checkpoint], bool]) -> Checkpoint:
        """Wait until the stored checkpoint satisfies ``predicate``; return it."""
        if self.checkpoint is None or not predicate(self.checkpoint):
            event = anyio.Event()
            self._waiters.append((predicate, event))
            await event.wait()
        assert self.checkpoint is not None
        return self.checkpoint

    async def wait_horizon(self, horizon: int) -> Checkpoint:
        return await self.wait_for(lambda cp: cp.horizon == horizon)


async def test_recording_store_wakes_waiters() -> None:
    store = RecordingStore()
    got: list[Checkpoint] = []
    with anyio.fail_after(5):
        await _store_waiter_scenario(store, got)
    assert [cp.horizon for cp in got] == [7]
    assert [cp.horizon for cp in store.history] == [3, 7]


async def _store_waiter_scenario(store: RecordingStore, got: list[Checkpoint]) -> None:
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            got.append(await store.wait_horizon(7))

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await store.save(Checkpoint(horizon=3))
        await store.save(Checkpoint(horizon=7))


async def test_scripted_requester_answers_in_order_then_blocks() -> None:
    req = ScriptedRequester([poll(5, msg("c", 1)), FleepError("boom")])
    assert (await req.request("account/poll", {"event_horizon": 0}))["event_horizon"] == 5
    with pytest.raises(FleepError):
        await req.request("account/poll", {"event_horizon": 5})
    with anyio.move_on_after(0.01) as scope:
        await req.request("account/poll", {"event_horizon": 5})
    assert scope.cancelled_caught
    assert req.polls == 3


async def test_fake_time_advances_clock_on_sleep() -> None:
    t = FakeTime(start=10.0)
    await t.sleep(2.5)
    await t.sleep(-1)
    assert t.clock() == 12.5
    assert t.sleeps == [2.5, -1]
