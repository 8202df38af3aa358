"""The chaos harness: FakeFleep over loopback, a bot process that is SIGKILLed, and the audit.

One run (:func:`run_chaos`) goes like this:

- FakeFleep is served by uvicorn in the test process (``FakeFleep.serve``), with a bot account,
  a few human accounts and several conversations.
- The bot (``tests/fault/_chaos_bot.py``) runs in a child process, so that it can be SIGKILLed.
- Simulated humans post ``messages`` texts in seeded random bursts across the conversations. They
  stay at most ``window`` messages ahead of the bot's replies (people post while the bot works).
- FakeFleep's seeded chaos faults a share of every request (5xx, HTML 502, 429 with
  Retry-After, drops mid-response, truncated and malformed bodies, delays, duplicated,
  reordered and unknown records). On top of it, at seeded points: polls held past the client's
  read timeout, session expiries (401), server resyncs (horizon 0), one scripted fault of every
  kind (so each kind occurs at least once whatever the timing), and SIGKILLs of the bot, each
  followed by a restart on the same files.
- Then chaos stops, every message must be answered, the bot is stopped gracefully (SIGTERM),
  started once more and given one more message per conversation: a graceful stop must not
  cause a single handler run to repeat.

The audit (:class:`ChaosReport`) reads the bot's effect log and FakeFleep's conversations:
messages lost, effects repeated, replies per message, per-conversation order, dead letters,
repeated handler runs (the honest at-least-once figure), and the faults injected by kind.

Everything is seeded; waits are bounded and wake on FakeFleep's state changes (``wait_for``),
never on sleeps. Timing (how far the bot got when a fault or a kill lands) varies from run to run;
the assertions hold for every interleaving.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc
import attrs
from anyio.streams.text import TextReceiveStream

from fleep_async.events import Checkpoint, Deduplicator
from fleep_async.testing import FakeFleep
from fleep_async.testing._http.faults import CHAOS_KINDS

ROOT = Path(__file__).resolve().parents[2]

BOT_EMAIL = "bot@example.com"
BOT_PASSWORD = "pw"

REQUIRED_FAULTS = (
    "status_500",
    "status_502",
    "status_503",
    "status_429",
    "drop",
    "truncate",
    "malformed",
    "delay",
    "hold_poll",
    "expire_session",
    "force_resync",
    "duplicate",
    "reorder",
    "unknown_record",
)
"""Every fault kind a chaos run must have injected at least once."""


@attrs.frozen(kw_only=True)
class Profile:
    """The shape of one chaos run.

    Attributes:
        name: for the report.
        seed: seeds FakeFleep (ids, chaos) and the run's plan (posts, faults, kills).
        messages: messages the humans post during the chaos.
        conversations: conversations (the bot and all humans are members of each).
        humans: human accounts.
        store: the bot's checkpoint store, ``"file"`` or ``"sqlite"``.
        kills: SIGKILLs of the bot (each followed by a restart).
        chaos_rate: the share of requests FakeFleep's chaos faults.
        hold_polls, expiries, resyncs: scripted occurrences of each.
        window: how many messages the humans may run ahead of the bot's replies.
        burst: the largest burst of messages posted at once.
        hold_seconds: FakeFleep's long-poll hold.
        poll_timeout: the bot's read timeout for long polls (held polls outlast it).
        poll_batch_size: records per poll answer (small: many batches, many checkpoints).
        sync_batch_size: conversations per initial-sync answer (small: a resync takes
            several answers).
        sync_messages: recent messages per conversation in an initial sync (a resync with a
            longer backlog than this must be filled in by the engine).
        stall: seconds one wait (for the bot to catch up, to start) may take before the run
            fails as stuck, with a diagnosis.
        guard: seconds before the whole run fails as a hang.
        defaults: the bot runs with the library's default settings (client ``RetryPolicy``,
            ``retry_budget``, backoffs, poll interval, concurrency) instead of the tuned ones.
    """

    name: str
    seed: int
    messages: int
    conversations: int = 6
    humans: int = 3
    store: str = "sqlite"
    kills: int = 5
    chaos_rate: float = 0.05
    hold_polls: int = 2
    expiries: int = 2
    resyncs: int = 3
    window: int = 60
    burst: int = 12
    hold_seconds: float = 1.0
    poll_timeout: float = 2.5
    poll_batch_size: int = 25
    sync_batch_size: int = 2
    sync_messages: int = 5
    stall: float = 30.0
    guard: float = 110.0
    defaults: bool = False


@attrs.define(kw_only=True)
class ChaosReport:
    """What a chaos run did and what the audit found."""

    profile: str
    seed: int
    store: str
    duration: float = 0.0
    defaults: bool = False
    posted: int = 0
    handled: int = 0
    lost: int = 0
    duplicate_effects: int = 0
    duplicate_effect_rows: int = 0
    replies: int = 0
    unanswered: int = 0
    extra_replies: int = 0
    order_violations: int = 0
    dead_letters: int = 0
    invocations: int = 0
    repeated_invocations: int = 0
    handler_retries: int = 0
    repeated_after_graceful_stop: int = 0
    kills: int = 0
    graceful_stops: int = 0
    starts: int = 0
    startup_failures: int = 0
    backfills: int = 0
    faults: dict[str, int] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return attrs.asdict(self)

    def summary(self) -> str:
        """A few human-readable lines (printed by the tests; visible with ``pytest -s``)."""
        faults = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        return (
            f"chaos[{self.profile}] seed={self.seed} store={self.store} "
            f"settings={'defaults' if self.defaults else 'tuned'} "
            f"duration={self.duration:.1f}s\n"
            f"  posted={self.posted} handled={self.handled} lost={self.lost} "
            f"duplicate_effects (server)={self.duplicate_effects} "
            f"(bot's log)={self.duplicate_effect_rows} replies={self.replies} "
            f"unanswered={self.unanswered} extra_replies={self.extra_replies} "
            f"order_violations={self.order_violations} dead_letters={self.dead_letters}\n"
            f"  handler runs={self.invocations} repeated (at-least-once, after kills)="
            f"{self.repeated_invocations} retries={self.handler_retries} "
            f"repeated after a graceful stop={self.repeated_after_graceful_stop}\n"
            f"  kills={self.kills} graceful_stops={self.graceful_stops} starts={self.starts} "
            f"startup_failures={self.startup_failures} "
            f"conversations backfilled after resyncs={self.backfills}\n"
            f"  faults: {faults}"
        )


# ---------------------------------------------------------------------------- the bot process


class BotCrashedError(AssertionError):
    """The bot process exited when nobody stopped it."""


class BotProcess:
    """Starts, kills and restarts the bot process on the same files.

    A watcher task notices an exit nobody asked for and wakes FakeFleep's waiters, so that a
    crashed bot fails the run at once instead of at the guard timeout.
    """

    def __init__(
        self,
        fake: FakeFleep,
        workdir: Path,
        config: dict[str, Any],
        task_group: anyio.abc.TaskGroup,
    ) -> None:
        self.fake = fake
        self.workdir = workdir
        self.config = config
        self.task_group = task_group
        self.process: anyio.abc.Process | None = None
        self.incarnation = 0
        self.crashed: str | None = None
        self.startup_failures = 0
        self._expect_exit = False
        self._stderr: IO[bytes] | None = None

    def log_path(self, incarnation: int) -> Path:
        """Where the stderr (logging) of one incarnation goes."""
        return self.workdir / f"bot-{incarnation}.log"

    def _tail(self, incarnation: int, lines: int = 30) -> str:
        path = self.log_path(incarnation)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def start(self, *, attempts: int = 5) -> None:
        """Start a new incarnation and wait until it polls.

        A start that dies before ``ready`` (a fault on its login can do that, like a
        supervisor's restart of a real bot) is counted and tried again, up to ``attempts``.
        """
        for _ in range(attempts):
            if await self._start_once():
                return
            self.startup_failures += 1
        raise BotCrashedError(
            f"the bot did not start in {attempts} attempts:\n{self._tail(self.incarnation)}"
        )

    async def _start_once(self) -> bool:
        assert self.process is None
        self.incarnation += 1
        config = {**self.config, "incarnation": self.incarnation}
        config_path = self.workdir / f"bot-{self.incarnation}.json"
        config_path.write_text(json.dumps(config))
        self._stderr = self.log_path(self.incarnation).open("wb")
        self._expect_exit = False
        process = await anyio.open_process(
            [sys.executable, "-m", "tests.fault._chaos_bot", str(config_path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=self._stderr,
        )
        assert process.stdout is not None
        buffered = ""
        async for chunk in TextReceiveStream(process.stdout):
            buffered += chunk
            if "ready" in buffered:
                self.process = process
                self.task_group.start_soon(self._watch, process, self.incarnation)
                return True
        # stdout closed before "ready": the process is exiting.
        await process.wait()
        await process.aclose()
        self._close_log()
        return False

    async def _watch(self, process: anyio.abc.Process, incarnation: int) -> None:
        code = await process.wait()
        if not self._expect_exit and self.process is process:
            self.crashed = f"exit code {code}; log tail:\n{self._tail(incarnation)}"
            self.fake.world.notify()  # wake wait_for so the run fails now

    def check(self) -> None:
        """Raise if the bot exited on its own."""
        if self.crashed is not None:
            raise BotCrashedError(f"the bot died on its own: {self.crashed}")

    async def kill(self) -> None:
        """SIGKILL the bot and reap it."""
        await self._end(signal.SIGKILL)

    async def terminate(self) -> int:
        """SIGTERM the bot (a graceful stop) and return its exit code."""
        return await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> int:
        self.check()
        process = self.process
        assert process is not None
        self._expect_exit = True
        process.send_signal(sig)
        code = await process.wait()
        await process.aclose()
        self.process = None
        self._close_log()
        return code

    async def aclose(self) -> None:
        """Kill whatever still runs (on the way out of a failed run)."""
        process = self.process
        if process is not None:
            self._expect_exit = True
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
            self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


# ---------------------------------------------------------------------------- observing FakeFleep


class ReplyTally:
    """The bot's replies per original text, counted incrementally from FakeFleep's state.

    Cheap enough to be re-checked by ``fake.wait_for`` on every state change: each call only
    looks at the messages posted since the previous one.
    """

    def __init__(self, fake: FakeFleep, bot_id: str, conversation_ids: list[str]) -> None:
        self.fake = fake
        self.bot_id = bot_id
        self.scanned = dict.fromkeys(conversation_ids, 0)
        self.replies: Counter[str] = Counter()
        self.answered_in: set[str] = set()

    def update(self) -> int:
        """Scan new messages; return how many distinct texts have a reply."""
        conversations = self.fake.world.conversations
        for cid, done in self.scanned.items():
            conv = conversations[cid]
            last = conv.last_message_nr
            for nr in range(done + 1, last + 1):
                message = conv.messages.get(nr)
                if message is not None and message.account_id == self.bot_id:
                    self.replies[message.text.removeprefix("ack ")] += 1
                    self.answered_in.add(cid)
            self.scanned[cid] = last
        return len(self.replies)


def known_conversations(config: dict[str, Any]) -> set[str]:
    """The conversations whose position the bot's saved checkpoint holds."""
    path = Path(config["store_path"])
    data: bytes | None = None
    if config["store"] == "sqlite":
        if path.exists():
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT data FROM fleep_checkpoint").fetchone()
            except sqlite3.OperationalError:
                row = None  # the table is not created yet
            finally:
                conn.close()
            data = None if row is None else bytes(row[0])
    elif path.exists():
        data = path.read_bytes()
    if data is None:
        return set()
    checkpoint = Checkpoint.from_json(data)
    dedup = Deduplicator()
    if checkpoint.dedup is not None:
        dedup.restore(checkpoint.dedup)
    return set(dedup.positions()) | set(checkpoint.positions or ())


def final_replies(fake: FakeFleep, bot_id: str, conversation_ids: list[str]) -> Counter[str]:
    """The bot's replies per original text, read through FakeFleep's public records."""
    found: Counter[str] = Counter()
    for cid in conversation_ids:
        for record in fake.messages(cid):
            if record["account_id"] == bot_id and record.get("mk_message_type") == "text":
                text = str(record["message"]).removeprefix("<msg><p>").removesuffix("</p></msg>")
                found[text.removeprefix("ack ")] += 1
    return found


# ---------------------------------------------------------------------------- the run


@attrs.define
class Posted:
    """One human message."""

    text: str
    conversation_id: str
    message_nr: int


def _plan(profile: Profile, rng: random.Random) -> dict[int, list[str]]:
    """Which scripted actions happen after which posted message (1-based)."""
    plan: dict[int, list[str]] = defaultdict(list)
    low, high = max(profile.messages // 20, 1), max(profile.messages * 17 // 20, 2)

    def spread(action: str, count: int) -> None:
        for index in rng.sample(range(low, high), min(count, high - low)):
            plan[index].append(action)

    spread("kill", profile.kills)
    spread("hold_poll", profile.hold_polls)
    spread("expire_session", profile.expiries)
    spread("force_resync", profile.resyncs)
    for kind in CHAOS_KINDS:
        spread(f"scripted:{kind}", 1)
    return plan


def _scripted_fault(fake: FakeFleep, kind: str, rng: random.Random) -> None:
    """One fault of a chaos kind, scripted on the poll or on the bot's replies."""
    faults = fake.faults
    endpoint = rng.choice(["account/poll", "message/store"])  # ctx.reply uses message/store
    if kind.startswith("status_"):
        status = int(kind.removeprefix("status_"))
        faults.fail(endpoint, status, retry_after=1.0 if status == 429 else None)
    elif kind == "delay":
        faults.delay(endpoint, seconds=0.05)
    elif kind == "drop":
        faults.drop(endpoint)
    elif kind == "truncate":
        faults.truncate(endpoint)
    elif kind == "malformed":
        faults.malformed(endpoint)
    elif kind == "duplicate":
        faults.duplicate_records()
    elif kind == "reorder":
        faults.reorder_records()
    else:
        faults.unknown_records()


async def run_chaos(profile: Profile, workdir: Path) -> ChaosReport:
    """Run one chaos profile and audit it (the caller asserts on the report)."""
    rng = random.Random(profile.seed)
    report = ChaosReport(
        profile=profile.name, seed=profile.seed, store=profile.store, defaults=profile.defaults
    )
    started = time.monotonic()
    async with (
        FakeFleep.serve(
            hold_seconds=profile.hold_seconds,
            seed=profile.seed,
            poll_batch_size=profile.poll_batch_size,
            sync_batch_size=profile.sync_batch_size,
            sync_messages=profile.sync_messages,
            # The audit counts the run's own posts: no Fleep Support welcome to answer.
            welcome=False,
        ) as server,
        anyio.create_task_group() as tg,
    ):
        fake = server.fake
        bot = fake.create_account(BOT_EMAIL, BOT_PASSWORD, "Bot")
        humans = [
            fake.create_account(f"human{i}@example.com", "pw", f"Human {i}")
            for i in range(profile.humans)
        ]
        conversations = [
            fake.create_conversation(humans[i % len(humans)], f"topic {i}", [bot, *humans])
            for i in range(profile.conversations)
        ]
        suffix = "db" if profile.store == "sqlite" else "json"
        config = {
            "base_url": server.base_url,
            "email": BOT_EMAIL,
            "password": BOT_PASSWORD,
            "store": profile.store,
            "store_path": str(workdir / f"checkpoint.{suffix}"),
            "effects_path": str(workdir / "effects.db"),
            "timeout": 5.0,
            "poll_timeout": profile.poll_timeout,
            "defaults": profile.defaults,
        }
        runner = BotProcess(fake, workdir, config, tg)
        tally = ReplyTally(fake, bot.account_id, conversations)
        posted: list[Posted] = []
        plan = _plan(profile, rng)
        last_before = 0

        async def until(predicate: Callable[[], bool]) -> None:
            try:
                await fake.wait_for(
                    lambda: runner.crashed is not None or predicate(), timeout=profile.stall
                )
            except TimeoutError:
                tally.update()
                missing = [p.text for p in posted if p.text not in tally.replies]
                raise AssertionError(
                    f"stuck: {len(posted)} posted, {len(tally.replies)} answered; "
                    f"unanswered {missing[:12]}; bot horizon {fake.horizon(bot)}, "
                    f"parked polls {fake.parked_polls}; faults {dict(fake.faults.counts)}; "
                    f"bot log {runner.log_path(runner.incarnation)}"
                ) from None
            runner.check()

        async def post(index: int) -> None:
            cid = rng.choice(conversations)
            text = f"c{conversations.index(cid)}-m{index}"
            nr = await fake.post_as(rng.choice(humans), cid, text)
            posted.append(Posted(text, cid, nr))

        async def act(action: str) -> bool:
            """Do a planned action; False to postpone it to the next message."""
            if action == "kill":
                # Kill mid-stream: once the bot has answered part of what is outstanding.
                outstanding = len(posted) - tally.update()
                target = len(posted) - rng.randint(0, max(outstanding, 0))
                await until(lambda: tally.update() >= target)
                await runner.kill()
                report.kills += 1
                await runner.start()
            elif action == "hold_poll":
                fake.faults.hold_poll(seconds=profile.poll_timeout + 1.0)
            elif action == "expire_session":
                fake.faults.expire_session(BOT_EMAIL)
            elif action == "force_resync":
                # The engine fills a resync's gap in the conversations whose position it knows
                # (the documented precondition): once the saved checkpoint holds a position for
                # every conversation, every later incarnation knows them all.
                if not known_conversations(config) >= set(conversations):
                    return False
                fake.faults.force_resync(BOT_EMAIL)
            else:
                _scripted_fault(fake, action.removeprefix("scripted:"), rng)
            return True

        async def post_and_act() -> None:
            await post(len(posted) + 1)
            for action in plan.pop(len(posted), []):
                if not await act(action):
                    plan[len(posted) + 1].append(action)

        try:
            with anyio.fail_after(profile.guard):
                await runner.start()
                fake.faults.chaos(rate=profile.chaos_rate, delay_seconds=0.05)
                while len(posted) < profile.messages:
                    burst = min(rng.randint(1, profile.burst), profile.messages - len(posted))
                    for _ in range(burst):
                        await post_and_act()
                    # The humans wait while the bot is more than `window` messages behind.
                    await until(lambda: tally.update() >= len(posted) - profile.window)
                # Postponed actions, and scripted stream faults still waiting for a non-empty
                # poll answer: a few more messages.
                while (plan or fake.faults.pending) and len(posted) < profile.messages * 2:
                    await post_and_act()
                    await until(lambda: tally.update() >= len(posted) - profile.burst)
                if plan:
                    report.problems.append(f"planned actions never done: {dict(plan)}")
                fake.faults.clear()
                await until(lambda: tally.update() >= len(posted))

                # A graceful stop writes everything: the next incarnation repeats nothing.
                code = await runner.terminate()
                if code != 0:
                    report.problems.append(f"graceful stop exited with {code}")
                report.graceful_stops += 1
                last_before = runner.incarnation
                await runner.start()
                for index, cid in enumerate(conversations):
                    text = f"c{index}-final"
                    nr = await fake.post_as(humans[0], cid, text)
                    posted.append(Posted(text, cid, nr))
                await until(lambda: tally.update() >= len(posted))
                await runner.terminate()
                report.graceful_stops += 1
        finally:
            await runner.aclose()
            tg.cancel_scope.cancel()

        report.starts = runner.incarnation
        report.startup_failures = runner.startup_failures
        # The engine logs each conversation it fills in after a resync (the bot logs at INFO).
        report.backfills = sum(
            runner.log_path(n).read_text(errors="replace").count("after a resync:")
            for n in range(1, runner.incarnation + 1)
            if runner.log_path(n).exists()
        )
        report.faults = dict(fake.faults.counts)
        audit(report, posted, workdir / "effects.db", last_before)
        judge_effects(report, fake, bot.account_id, posted)
        replies = final_replies(fake, bot.account_id, conversations)
        report.replies = sum(replies.values())
        texts = {p.text for p in posted}
        report.unanswered = sum(1 for t in texts if replies[t] == 0)
        report.extra_replies = sum(n - 1 for t, n in replies.items() if t in texts and n > 1)
        stray = set(replies) - texts
        if stray:
            report.problems.append(f"replies to unknown texts: {sorted(stray)[:5]}")
    report.duration = time.monotonic() - started
    return report


def judge_effects(report: ChaosReport, fake: FakeFleep, bot_id: str, posted: list[Posted]) -> None:
    """Effects repeated, as the server counts them: the bot's text messages per conversation.

    The bot's effect is its reply; FakeFleep's own tally of the messages it stored (not the
    bot's log, whose ``INSERT OR IGNORE`` cannot count a repeat) says how many there are. Every
    bot message beyond one per human message of its conversation is an effect repeated.
    """
    counts = fake.message_counts()
    per_conversation = Counter(p.conversation_id for p in posted)
    report.duplicate_effects = sum(
        max(counts[cid, bot_id] - expected, 0) for cid, expected in per_conversation.items()
    )


def audit(report: ChaosReport, posted: list[Posted], effects_path: Path, last_before: int) -> None:
    """Read the bot's effect log into the report."""
    conn = sqlite3.connect(f"file:{effects_path}?mode=ro", uri=True)
    try:
        effects = conn.execute(
            "SELECT seq, key, conversation_id, message_nr, text FROM effects ORDER BY seq"
        ).fetchall()
        invocations = conn.execute(
            "SELECT key, attempt, applied, incarnation FROM invocations"
        ).fetchall()
        report.dead_letters = conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
    finally:
        conn.close()
    report.posted = len(posted)
    expected = {(p.conversation_id, p.message_nr): p.text for p in posted}
    per_message = Counter((cid, nr) for _, _, cid, nr, _ in effects)
    report.handled = sum(1 for key in expected if per_message[key] >= 1)
    report.lost = len(expected) - report.handled
    report.duplicate_effect_rows = sum(n - 1 for n in per_message.values() if n > 1)
    for _, key, cid, nr, text in effects:
        if expected.get((cid, nr)) != text:
            report.problems.append(f"effect for a message nobody posted: {cid}:{nr} {text!r}")
        if key != f"m:{cid}:{nr}:{nr}":
            report.problems.append(f"unexpected idempotency key {key!r} for {cid}:{nr}")
    last_nr: dict[str, int] = {}
    for _, _, cid, nr, _ in effects:
        if nr <= last_nr.get(cid, 0):
            report.order_violations += 1
        last_nr[cid] = max(nr, last_nr.get(cid, 0))
    report.invocations = len(invocations)
    # A run of the handler for a key whose effect was already applied, as a first attempt: the
    # record came again after a kill (the engine had handled it but not yet saved that).
    repeated = [(attempt, inc) for _, attempt, applied, inc in invocations if not applied]
    report.repeated_invocations = sum(1 for attempt, _ in repeated if attempt == 1)
    report.handler_retries = sum(1 for _, attempt, _, _ in invocations if attempt > 1)
    report.repeated_after_graceful_stop = sum(
        1 for attempt, inc in repeated if attempt == 1 and inc > last_before
    )
