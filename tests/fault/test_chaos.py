"""The chaos suite: a bot process under random faults and SIGKILLs loses nothing, repeats no effect.

FakeFleep is served over loopback in the test process; the bot (``FleepClient`` +
``client.run(store=..., dedup=True)``, see ``_chaos_bot.py``) runs in a child process that is
SIGKILLed and restarted at seeded random points while simulated humans post across several
conversations and FakeFleep injects every fault it has (see ``_chaos.py`` for the plan).

At the end:

- **0 lost**: every human message has its effect in the bot's durable effect log;
- **0 repeated effects, as the server counts them**: FakeFleep's own tally of the bot's
  messages per conversation (``fake.message_counts()``) has one reply per human message. The
  reply's ``client_req_id`` derives from ``ctx.idempotency_key``, so a handler that runs again
  after a kill changes nothing; the bot's own effect log (``INSERT OR IGNORE`` by the same key)
  is reported too, but it could not see a repeat;
- **order per conversation**: effects were first applied in message order;
- **no dead letters**, and a graceful stop (SIGTERM) makes the next start repeat nothing.

Repeated handler runs after kills are reported, not forbidden: delivery is at-least-once, and a
SIGKILL between a handler's end and the next checkpoint write runs that handler again.

The short profiles (one per checkpoint store with tuned settings, one with the library's
defaults) run with the normal suite; the long profiles (10,000 messages; per store, tuned and
defaults) run with ``pytest tests/fault --chaos-long``. The figures are printed (see
them with ``pytest -s``), attached to the report (``record_property("chaos", ...)``) and written
to ``chaos-report.json`` in the test's tmp dir.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fleep_async.testing import FakeFleep
from tests.fault._chaos import (
    REQUIRED_FAULTS,
    ChaosReport,
    Posted,
    Profile,
    judge_effects,
    run_chaos,
)

RecordProperty = Callable[[str, object], None]

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

SHORT = {
    "sqlite": Profile(name="short", seed=20240611, messages=400, store="sqlite"),
    "file": Profile(name="short", seed=20240612, messages=400, store="file"),
    # The library's default settings: what a user gets, not what makes the run fast.
    "sqlite-defaults": Profile(
        name="short-defaults", seed=20240613, messages=400, store="sqlite", defaults=True
    ),
}
LONG = {
    f"{store}{'-defaults' if defaults else ''}": Profile(
        name="long-defaults" if defaults else "long",
        seed=1_000_000 + index + (10 if defaults else 0),
        messages=10_000,
        store=store,
        kills=25,
        hold_polls=10,
        expiries=10,
        resyncs=10,
        stall=60.0,
        guard=3600.0,
        defaults=defaults,
    )
    for defaults in (False, True)
    for index, store in enumerate(("sqlite", "file"))
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves FakeFleep on asyncio only


def publish(report: ChaosReport, tmp_path: Path, record_property: RecordProperty) -> None:
    """Print the figures and attach them to the test report."""
    data = report.as_dict()
    (tmp_path / "chaos-report.json").write_text(json.dumps(data, indent=2, sort_keys=True))
    record_property("chaos", json.dumps(data, sort_keys=True))
    print()  # the figures, on their own lines under the test name with `pytest -s`
    print(report.summary())


def check(report: ChaosReport, profile: Profile) -> None:
    """The guarantees, asserted on the audit."""
    assert report.problems == []
    assert report.posted >= profile.messages
    assert report.lost == 0
    assert report.handled == report.posted
    assert report.duplicate_effects == 0  # counted by the server
    assert report.duplicate_effect_rows == 0
    assert report.unanswered == 0
    assert report.extra_replies == 0
    assert report.replies == report.posted
    assert report.order_violations == 0
    assert report.dead_letters == 0
    assert report.repeated_after_graceful_stop == 0
    assert report.kills >= profile.kills >= 5
    assert report.graceful_stops == 2
    missing = [kind for kind in REQUIRED_FAULTS if report.faults.get(kind, 0) < 1]
    assert missing == [], f"fault kinds never injected: {missing}"
    assert report.faults["expire_session"] >= profile.expiries
    assert report.faults["force_resync"] >= profile.resyncs
    assert report.faults["hold_poll"] >= profile.hold_polls


@pytest.mark.parametrize("store", sorted(SHORT))
async def test_chaos_short_profile_loses_nothing_and_repeats_no_effect(
    store: str, tmp_path: Path, record_property: RecordProperty
) -> None:
    profile = SHORT[store]
    report = await run_chaos(profile, tmp_path)
    publish(report, tmp_path, record_property)
    check(report, profile)


@pytest.mark.chaos_long
@pytest.mark.parametrize("store", sorted(LONG))
async def test_chaos_long_profile_loses_nothing_and_repeats_no_effect(
    store: str, tmp_path: Path, record_property: RecordProperty
) -> None:
    profile = LONG[store]
    report = await run_chaos(profile, tmp_path)
    publish(report, tmp_path, record_property)
    check(report, profile)


async def test_the_server_side_judge_sees_a_repeated_reply() -> None:
    # The audit can fail: a reply posted twice (say, with a client_req_id that changed between
    # two runs of the handler) is counted by FakeFleep, whatever the bot's own log says.
    fake = FakeFleep(hold_seconds=0.2, seed=2)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    nr = await fake.post_as(human, cid, "hello")
    report = ChaosReport(profile="judge", seed=0, store="none")
    posted = [Posted("hello", cid, nr)]
    await fake.post_as(bot, cid, "ack hello")
    judge_effects(report, fake, bot.account_id, posted)
    assert report.duplicate_effects == 0
    await fake.post_as(bot, cid, "ack hello")
    judge_effects(report, fake, bot.account_id, posted)
    assert report.duplicate_effects == 1
    assert fake.message_counts(cid)[cid, bot.account_id] == 2
