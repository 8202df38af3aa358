"""The demo: a real bot on the public API, against a local FakeFleep. No Fleep account needed.

``fleep-async demo`` (or ``python -m fleep_async demo``) starts FakeFleep on loopback, creates
DemoBot, two simulated people (Alice and Bob) and a conversation, then runs the bot exactly as
you would run yours: a :class:`~fleep_async.FleepClient`, handlers on routers with filters
(:func:`build_router`, included in ``client.router``) and ``client.run()``. A short scripted
exchange follows (commands, a file each way, a webhook post) and the conversation is printed as
Alice's own client receives it (``client.events()``). It ends by itself; the result says whether
every expected reply arrived.

The bot's code is :func:`build_router`: read it as a sample.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import attrs

from fleep_async._cli._output import Output, Part, clean, clock_time
from fleep_async._client import FleepClient
from fleep_async.events import Command, Context, OfMessageType, Router, not_own
from fleep_async.models import FileRecord, MessageRecord

if TYPE_CHECKING:
    from fleep_async.testing import Account, FakeFleep

__all__ = ["DemoResult", "Line", "build_router", "run_demo", "transcript"]

BOT_NAME: Final = "DemoBot"
TOPIC: Final = "fleep-async demo"
PEOPLE: Final = {
    # key: (email, password, display name); throwaway accounts of a local in-memory server.
    "bot": ("demobot@example.com", "demo-bot", BOT_NAME),
    "alice": ("alice@example.com", "demo-alice", "Alice"),
    "bob": ("bob@example.com", "demo-bob", "Bob"),
}
HOOK_NAME: Final = "CI"

HELP_TEXT: Final = (
    "I am DemoBot, a fleep-async bot. Commands:\n"
    "/help - this list\n"
    "/echo TEXT - I say TEXT back\n"
    "/roll [NdM] - roll dice, e.g. /roll 2d6\n"
    "/report - I send you a file\n"
    "Send me a file and I will look at it; post to my webhook and I will react."
)

_DICE: Final = re.compile(r"^(\d{0,2})d(\d{1,4})$", re.IGNORECASE)

Ctx = Context[FleepClient]


def build_router(*, rng: random.Random | None = None) -> Router:
    """DemoBot's handlers: ``/help``, ``/echo``, ``/roll``, ``/report``, files and hook posts.

    Args:
        rng: the dice (inject a seeded ``random.Random`` for repeatable rolls).
    """
    dice = rng if rng is not None else random.Random()
    root = Router(name="demo-bot")
    commands = root.include_router(Router(name="commands"))
    files = root.include_router(Router(name="files"))
    # Hook posts carry the account id of whoever created the hook, here the bot itself, so this
    # router must not skip the bot's "own" messages. Its filter keeps it to hook posts.
    hooks = root.include_router(Router(name="hooks", skip_own=False))

    @commands.message(Command("help", "start"))
    async def show_help(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply(HELP_TEXT)

    @commands.message(Command("echo"))
    async def echo(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply(ctx.command.args or "Usage: /echo TEXT")

    @commands.message(Command("roll"))
    async def roll(message: MessageRecord, ctx: Ctx) -> None:
        spec = ctx.command.args or "1d6"
        found = _DICE.match(spec)
        count = int(found.group(1) or 1) if found else 0
        sides = int(found.group(2)) if found else 0
        if not (1 <= count <= 20 and 2 <= sides <= 1000):
            await ctx.reply("Usage: /roll NdM, e.g. /roll 2d6 (up to 20 dice of up to 1000 sides)")
            return
        rolls = [dice.randint(1, sides) for _ in range(count)]
        detail = " + ".join(map(str, rolls)) + (f" = {sum(rolls)}" if count > 1 else "")
        await ctx.reply(f"rolled {count}d{sides}: {detail}")

    @commands.message(Command("report"))
    async def report(message: MessageRecord, ctx: Ctx) -> None:
        contact = ctx.contact(message.account_id) if message.account_id else None
        who = contact.display_name if contact is not None and contact.display_name else "you"
        body = (
            "fleep-async demo report\n"
            f"requested by: {who}\n"
            f"conversation: {ctx.conversation_id}\n"
            f"generated at: {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        uploaded = await ctx.client.file.upload(("report.txt", body.encode()))
        await ctx.reply("Here is your report.", attachments=uploaded.upload_urls)

    def is_live_file(record: Any) -> bool:
        return isinstance(record, FileRecord) and not record.is_deleted and bool(record.file_url)

    @files.any(is_live_file, not_own)
    async def look_at_file(file: FileRecord, ctx: Ctx) -> None:
        data = await ctx.client.file.download(file.file_url or "")
        digest = hashlib.sha256(data).hexdigest()[:12]
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        await ctx.reply(
            f"Got {file.file_name}: {len(data)} bytes, {lines} lines, sha256 {digest}..."
        )

    def from_hook(message: MessageRecord) -> bool:
        return message.hook_key is not None

    @hooks.message(from_hook, OfMessageType("text"))
    async def hook_post(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply(f"Thanks {message.sender_name or 'webhook'}, noted: {message.text}")

    return root


@attrs.frozen(kw_only=True)
class Line:
    """One line of the conversation as the demo shows it.

    Attributes:
        posted_time: unix time of the message (or file).
        author_id: the account that posted it (for a hook post: the hook's owner).
        author: the name shown.
        text: the text shown after the name.
        kind: ``"message"``, ``"system"`` (created, added a webhook, ...) or ``"file"``.
        via_hook: posted through a webhook.
        file_name: the file's name (``kind == "file"``).
    """

    posted_time: float | None
    author_id: str | None
    author: str
    text: str
    kind: str
    via_hook: bool = False
    file_name: str | None = None

    def plain(self) -> str:
        """The line as plain text: ``[12:00:01] Alice: /echo hi``."""
        return "".join(text for text, _ in _render(self, {}))


@attrs.frozen(kw_only=True)
class DemoResult:
    """What happened: the expected replies missing (none when it worked), the transcript.

    Attributes:
        expected: how many replies the script waited for.
        missing: a description of each one that did not arrive in time.
        lines: the conversation as shown.
        elapsed: seconds the scripted exchange took.
        base_url: where FakeFleep was served.
    """

    expected: int
    missing: tuple[str, ...]
    lines: tuple[Line, ...]
    elapsed: float
    base_url: str

    @property
    def ok(self) -> bool:
        """Every expected reply arrived."""
        return not self.missing


_STYLES: Final = {
    BOT_NAME: "bold green",
    "Alice": "bold cyan",
    "Bob": "bold magenta",
    HOOK_NAME: "bold yellow",
}


def _render(line: Line, styles: dict[str, str]) -> list[Part]:
    stamp = (f"[{clock_time(line.posted_time)}] ", "dim")
    name_style = styles.get(line.author, "bold")
    author = clean(line.author)
    text = clean(line.text)
    if line.kind == "system":
        return [stamp, (f"{author} {text}", "dim italic")]
    if line.kind == "file":
        return [stamp, (author, name_style), (" shared ", "dim"), (text, "underline")]
    label = f"{author} (webhook)" if line.via_hook else author
    prefix = len(stamp[0]) + len(label) + 2
    # Continuation lines of a multi-line message line up under its first line.
    text = text.replace("\n", "\n" + " " * prefix)
    return [stamp, (label, name_style), (": ", ""), (text, "")]


@attrs.frozen
class _Step:
    actor: str
    text: str
    expect: str
    check: Callable[[Line], bool]
    attachment: tuple[str, bytes] | None = None


NOTES: Final = b"shopping list\nmilk\neggs\ncoffee, lots of coffee\n"


class _Demo:
    def __init__(
        self, out: Output, fake: FakeFleep, base_url: str, chat_url: str, rng: random.Random
    ) -> None:
        self.out = out
        self.fake = fake
        self.base_url = base_url
        self.chat_url = chat_url
        self.rng = rng
        self.accounts: dict[str, Account] = {
            key: fake.create_account(email, password, name)
            for key, (email, password, name) in PEOPLE.items()
        }
        self.bot_id = self.accounts["bot"].account_id
        self.names = {acc.account_id: PEOPLE[key][2] for key, acc in self.accounts.items()}
        self.conversation_id = fake.create_conversation(
            self.accounts["alice"], TOPIC, [self.accounts["bob"], self.accounts["bot"]]
        )
        self.lines: list[Line] = []
        self._changed = anyio.Event()
        self.hook_url = ""

    def client(self, key: str | None = None) -> FleepClient:
        if key is None:  # posting to a hook needs no account
            return FleepClient(base_url=self.base_url)
        email, password, _ = PEOPLE[key]
        return FleepClient(email, password, base_url=self.base_url)

    # -- the transcript ----------------------------------------------------------------------

    def _add(self, line: Line) -> None:
        self.lines.append(line)
        self.out.parts(_render(line, _STYLES))
        self._changed.set()
        self._changed = anyio.Event()

    def show(self, record: Any) -> None:
        if isinstance(record, FileRecord):
            if record.is_deleted:
                return
            author = self.names.get(record.account_id or "", "someone")
            if record.sender_name:
                author = record.sender_name
            size = f" ({record.file_size} bytes)" if record.file_size is not None else ""
            self._add(
                Line(
                    posted_time=record.posted_time,
                    author_id=record.account_id,
                    author=author,
                    text=f"{record.file_name}{size}",
                    kind="file",
                    file_name=record.file_name,
                )
            )
            return
        if not isinstance(record, MessageRecord) or record.is_revision or record.is_deleted:
            return
        text = record.text
        if not text:  # a message that is only a file: the file's own line follows
            return
        via_hook = record.hook_key is not None
        author = self.names.get(record.account_id or "", "someone")
        if via_hook:
            author = record.sender_name or HOOK_NAME
        self._add(
            Line(
                posted_time=record.posted_time,
                author_id=record.account_id,
                author=author,
                text=text,
                kind="system" if record.is_system else "message",
                via_hook=via_hook,
            )
        )

    async def watch(
        self,
        client: FleepClient,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Print the conversation as Alice's client receives it (an event stream, no handlers)."""
        events = client.events(kinds=["message", "file"], backlog="skip", min_poll_interval=0.05)
        async with events as stream:  # entered: the starting point is fixed, nothing is missed
            task_status.started()
            async for record in stream:
                self.show(record)

    async def wait_for(self, check: Callable[[Line], bool], since: int) -> None:
        while True:
            changed = self._changed
            if any(check(line) for line in self.lines[since:]):
                return
            await changed.wait()

    # -- the script --------------------------------------------------------------------------

    def from_bot(self, predicate: Callable[[str], bool]) -> Callable[[Line], bool]:
        def check(line: Line) -> bool:
            return (
                line.author_id == self.bot_id
                and line.kind == "message"
                and not line.via_hook
                and predicate(line.text)
            )

        return check

    def steps(self) -> list[_Step]:
        def bot_file(line: Line) -> bool:
            return (
                line.kind == "file"
                and line.author_id == self.bot_id
                and line.file_name == "report.txt"
            )

        return [
            _Step("alice", "/help", "the command list", self.from_bot(lambda t: "/echo" in t)),
            _Step(
                "bob",
                "/echo Hello from Bob!",
                "'Hello from Bob!'",
                self.from_bot(lambda t: t == "Hello from Bob!"),
            ),
            _Step(
                "alice",
                "/roll 2d6",
                "'rolled 2d6: ...'",
                self.from_bot(lambda t: t.startswith("rolled 2d6: ")),
            ),
            _Step(
                "bob",
                "Here are my notes",
                "'Got notes.txt: ...'",
                self.from_bot(lambda t: t.startswith("Got notes.txt: ")),
                attachment=("notes.txt", NOTES),
            ),
            _Step("alice", "/report", "the file report.txt", bot_file),
            _Step(
                "ci",
                "Build #42 passed",
                "'Thanks CI, noted: Build #42 passed'",
                self.from_bot(lambda t: "Build #42 passed" in t),
            ),
        ]

    async def act(self, step: _Step, hook_client: FleepClient) -> None:
        if step.actor == "ci":
            # An outside system posting through the bot's webhook: no login, just the URL.
            await hook_client.hook.post(self.hook_url, step.text, user=HOOK_NAME)
            return
        who = self.accounts[step.actor]
        attachments: list[str] = []
        if step.attachment is not None:
            name, data = step.attachment
            attachments.append(self.fake.upload_as(who, name, data, "text/plain"))
        await self.fake.post_as(who, self.conversation_id, step.text, attachments=attachments)

    async def play(
        self, hook_client: FleepClient, *, budget: float, step_timeout: float, pace: float
    ) -> list[str]:
        missing: list[str] = []
        deadline = anyio.current_time() + budget
        for step in self.steps():
            who = PEOPLE[step.actor][2] if step.actor in PEOPLE else HOOK_NAME
            what = f"{BOT_NAME}'s answer to {who}'s {step.text!r} (expected {step.expect})"
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                missing.append(what + ": not tried, out of time")
                continue
            if pace > 0:
                await anyio.sleep(pace)  # only so that a person can follow; not a wait for state
            since = len(self.lines)
            await self.act(step, hook_client)
            with anyio.move_on_after(min(remaining, step_timeout)):
                await self.wait_for(step.check, since)
                continue
            missing.append(what)
        return missing


def _header(out: Output, demo: _Demo) -> None:
    out.line("fleep-async demo", "bold")
    out.line(
        f"FakeFleep, a local stand-in for the Fleep server, is running at {demo.base_url}; "
        "nothing leaves this machine.",
        "dim",
    )
    out.line(
        f"{BOT_NAME} runs on the public API (FleepClient, routers and filters, client.run()) "
        f"in the conversation {TOPIC!r} with Alice and Bob. As Alice's client sees it:",
        "dim",
    )
    out.line()


def _summary(out: Output, result: DemoResult, *, keep_running: bool) -> None:
    out.line()
    if result.ok:
        out.parts(
            [
                ("OK: ", "bold green"),
                (
                    f"all {result.expected} expected replies arrived in {result.elapsed:.1f} s.",
                    "",
                ),
            ]
        )
        if not keep_running:
            out.line(
                "Next: read the bot's code (fleep_async/demo.py; `fleep-async examples` copies "
                "out more bots to start from), or run "
                "`fleep-async demo --keep-running` and talk to DemoBot from another terminal.",
                "dim",
            )
        return
    out.parts(
        [
            ("FAILED: ", "bold red"),
            (
                f"{len(result.missing)} of {result.expected} expected replies did not arrive:",
                "",
            ),
        ]
    )
    for what in result.missing:
        out.line(f"  - {what}")


def _keep_running_help(out: Output, demo: _Demo) -> None:
    email, password, _ = PEOPLE["alice"]
    bob_email, bob_password, _ = PEOPLE["bob"]
    out.line()
    out.line("The server and DemoBot keep running until Ctrl-C.")
    out.line()
    out.line(f"Chat with {BOT_NAME} in your browser: {demo.chat_url}", "bold")
    out.line(f"  log in as {email} (password {password}) or {bob_email} (password {bob_password}),")
    out.line(f"  open {TOPIC!r} and send /help; or make your own account there.")
    out.line()
    out.line("Or from another terminal, as Alice:")
    out.line(
        f"  export FLEEP_BASE_URL={demo.base_url} FLEEP_EMAIL={email} FLEEP_PASSWORD={password}"
    )
    out.line(f'  fleep-async send {demo.conversation_id} "/roll 3d6"')
    out.line("  fleep-async conversations")
    out.line()


async def run_demo(
    out: Output | None = None,
    *,
    keep_running: bool = False,
    wait_until_stopped: Callable[[], Awaitable[None]] | None = None,
    # The bounds are the demo's own contract ("every reply within N s"), not a cancellation
    # knob the caller could replace with fail_after.
    timeout: float = 30.0,  # noqa: ASYNC109
    step_timeout: float = 10.0,
    pace: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
) -> DemoResult:
    """Run the demo and return what happened (asyncio only: FakeFleep is served by uvicorn).

    Args:
        out: where the conversation is printed (default: stdout).
        keep_running: after the script, keep the server and the bot running until
            ``wait_until_stopped`` returns (default: until cancelled).
        wait_until_stopped: awaited when ``keep_running`` (the CLI waits for Ctrl-C).
        timeout: seconds the whole script may take.
        step_timeout: seconds to wait for each expected reply.
        pace: seconds between steps, so that a person can follow (0: as fast as it goes).
        host: the loopback address to serve FakeFleep on.
        port: the port (0: a free one).
        seed: seeds the dice and FakeFleep's ids (``None``: random dice).

    Raises:
        ImportError: the ``server`` extra (starlette, uvicorn, python-multipart) is missing.
        OSError: the address cannot be bound.
    """
    from fleep_async.testing import FakeFleep

    out = out if out is not None else Output()
    rng = random.Random(seed)
    async with FakeFleep.serve(host, port, hold_seconds=10.0, seed=seed or 0) as server:
        demo = _Demo(out, server.fake, server.base_url, server.chat_url, rng)
        _header(out, demo)
        async with (
            demo.client("alice") as alice,
            demo.client("bot") as bot,
            demo.client() as hook_client,
            anyio.create_task_group() as tg,
        ):
            await tg.start(demo.watch, alice)
            bot.router.include_router(build_router(rng=rng))
            run = functools.partial(
                bot.run,
                backlog="skip",
                dedup=True,
                handler_timeout=step_timeout,
                min_poll_interval=0.05,
            )
            await tg.start(run)  # returns once the bot listens
            created = await bot.conversation.create_hook(demo.conversation_id, hook_name=HOOK_NAME)
            hook = created.hook_info
            if hook is None or hook.hook_url is None:
                raise RuntimeError("conversation/create_hook returned no hook URL")
            demo.hook_url = hook.hook_url
            started = anyio.current_time()
            missing = await demo.play(
                hook_client, budget=timeout, step_timeout=step_timeout, pace=pace
            )
            result = DemoResult(
                expected=len(demo.steps()),
                missing=tuple(missing),
                lines=tuple(demo.lines),
                elapsed=anyio.current_time() - started,
                base_url=demo.base_url,
            )
            _summary(out, result, keep_running=keep_running)
            if keep_running:
                _keep_running_help(out, demo)
                await (wait_until_stopped or anyio.sleep_forever)()
                result = attrs.evolve(result, lines=tuple(demo.lines))
            bot.stop(deadline=2.0)
            tg.cancel_scope.cancel()
    return result


def transcript(result: DemoResult) -> Sequence[str]:
    """The demo's conversation as plain lines."""
    return [line.plain() for line in result.lines]
