"""The CLI's commands. Each takes the parsed arguments and returns an exit code.

Prompts and stdin reads happen before the event loop starts; everything else runs in one
``anyio.run`` per command.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import getpass
import importlib.resources
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import anyio

from fleep_async._cli._common import (
    DEFAULT_BASE_URL,
    EXIT_API,
    EXIT_LOCAL,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Options,
    check_base_url,
    check_session_path,
    describe,
    exit_code_for,
    exit_code_for_signal,
    open_client,
    stop_on_signals,
)
from fleep_async._cli._config import SavedSession, delete_file, load_session, save_session
from fleep_async._cli._output import Output, Part, SyncProgress, clean, clock_time
from fleep_async._client import FleepClient
from fleep_async._converter import unstructure
from fleep_async.errors import AuthenticationError, FleepError
from fleep_async.events import Backlog, EventEngine, FileStore
from fleep_async.models import ContactRecord, FileRecord, MessageRecord, RecordKind

if TYPE_CHECKING:
    from fleep_async.testing import FakeFleep

__all__ = [
    "cmd_conversations",
    "cmd_demo",
    "cmd_examples",
    "cmd_fake_server",
    "cmd_listen",
    "cmd_login",
    "cmd_logout",
    "cmd_send",
    "cmd_upload",
    "cmd_whoami",
]

# Never printed, whatever the record: hook keys and URLs post as the hook; tickets log in.
_SECRET_KEYS: Final = frozenset({"hook_key", "hook_url", "ticket", "token_id", "password"})


def _run(func: Callable[..., Awaitable[int]], *args: Any) -> int:
    return anyio.run(func, *args, backend="asyncio")


def _err(message: str) -> None:
    sys.stderr.write(f"fleep-async: {message}\n")
    sys.stderr.flush()


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


# -- login / logout / whoami ----------------------------------------------------------------


def _read_email(args: Any, options: Options, stdin: IO[str]) -> str:
    email: str | None = args.email or options.email
    if email:
        return str(email)
    if stdin.isatty():
        email = input("Email: ").strip()
        if email:
            return email
    raise CliError("no email: pass --email or set FLEEP_EMAIL", EXIT_USAGE)


def _read_password(args: Any, options: Options, stdin: IO[str]) -> str:
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: nothing was read from stdin", EXIT_USAGE)
        return password
    if options.password:
        return options.password
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if password:
            return password
    raise CliError(
        "no password: set FLEEP_PASSWORD, use --password-stdin, or run in a terminal to be asked",
        EXIT_USAGE,
    )


def cmd_login(args: Any, options: Options) -> int:
    """``login``: log in and store the session (never the password)."""
    base_url = check_base_url(
        options.base_url or DEFAULT_BASE_URL, allow_insecure_http=options.allow_insecure_http
    )
    check_session_path(options.session_path)  # before the password is asked for
    email = _read_email(args, options, sys.stdin)
    password = _read_password(args, options, sys.stdin)
    previous = load_session_quietly(options.session_path)

    async def login() -> int:
        async with options.client(base_url, email=email, password=password) as client:
            state = client.session_state
        if state is None:  # pragma: no cover - a successful login always has a state
            raise CliError("the server did not start a session")
        if previous is None or previous.state.account_id != state.account_id:
            # The stored event horizon belongs to the previous account.
            delete_file(options.horizon_path)
        save_session(options.session_path, SavedSession(base_url=base_url, state=state))
        who = state.display_name or state.email or state.account_id
        Output(sys.stdout).line(
            f"Logged in to {base_url} as {who}. Session saved to {options.session_path}"
        )
        return EXIT_OK

    return _run(login)


def load_session_quietly(path: Path) -> SavedSession | None:
    """The saved session, or ``None`` if there is none or the file is unreadable."""
    try:
        return load_session(path)
    except FleepError:
        return None


def cmd_logout(args: Any, options: Options) -> int:
    """``logout``: end the session on the server and delete the local session file."""
    saved = load_session(options.session_path)
    if saved is None:
        Output(sys.stdout).line("Not logged in.")
        return EXIT_OK

    async def logout() -> int:
        client = options.client(saved.base_url, session=saved.state)
        try:
            async with client:
                await client.logout()
        finally:
            # Forget the session locally even when the server could not be told.
            delete_file(options.session_path)
            delete_file(options.horizon_path)
        Output(sys.stdout).line("Logged out.")
        return EXIT_OK

    try:
        return _run(logout)
    except AuthenticationError:  # the session had already ended: nothing left to end
        Output(sys.stdout).line("Logged out (the session had already ended).")
        return EXIT_OK
    except FleepError as exc:
        raise CliError(
            f"the local session was removed, but the server could not be told: {describe(exc)}",
            exit_code_for(exc),
        ) from exc


def cmd_whoami(args: Any, options: Options) -> int:
    """``whoami``: show the logged-in account."""

    async def whoami() -> int:
        async with open_client(options) as client:
            state = client.session_state
            assert state is not None
            info = {
                "account_id": state.account_id,
                "display_name": state.display_name,
                "email": state.email,
                "base_url": client.base_url,
            }
        out = Output(sys.stdout)
        if args.json:
            out.raw(_dump(info))
        else:
            name = clean(state.display_name or "(no name)")
            out.parts([(name, "bold"), (f" <{clean(state.email or '?')}>", "")])
            out.line(f"account {state.account_id} on {client.base_url}", "dim")
        return EXIT_OK

    return _run(whoami)


# -- conversations / send / upload ----------------------------------------------------------


def cmd_conversations(args: Any, options: Options) -> int:
    """``conversations``: list the account's conversations."""

    async def conversations() -> int:
        rows: list[dict[str, Any]] = []
        async with open_client(options) as client:
            async for conv in client.conversation.iter_list():
                rows.append(
                    {
                        "conversation_id": conv.conversation_id,
                        "topic": conv.topic or conv.default_topic or "",
                        "members": len(conv.members or ()),
                        "unread_count": conv.unread_count or 0,
                        "last_message_time": conv.last_message_time,
                    }
                )
                if args.limit and len(rows) >= args.limit:
                    break
        out = Output(sys.stdout)
        if args.json:
            out.raw(_dump(rows))
            return EXIT_OK
        for row in rows:
            unread = f", {row['unread_count']} unread" if row["unread_count"] else ""
            out.parts(
                [
                    (row["conversation_id"], "dim"),
                    ("  ", ""),
                    (clean(row["topic"]) or "(no topic)", "bold"),
                    (f"  ({row['members']} members{unread})", "dim"),
                ]
            )
        if not rows:
            out.line("No conversations.", "dim")
        return EXIT_OK

    return _run(conversations)


def cmd_send(args: Any, options: Options) -> int:
    """``send CONV TEXT``: post a message (``-`` reads the text from stdin)."""
    text: str = sys.stdin.read() if args.text == "-" else args.text
    text = text.rstrip("\n")
    if not text.strip():
        raise CliError("nothing to send: the message is empty", EXIT_USAGE)

    async def send() -> int:
        async with open_client(options) as client:
            result = await client.send_text(args.conversation, text)
        _report_sent(args, result.result_message_nr, "Sent")
        return EXIT_OK

    return _run(send)


def _report_sent(args: Any, message_nr: int | None, verb: str, **extra: Any) -> None:
    out = Output(sys.stdout)
    if args.json:
        out.raw(_dump({"conversation_id": args.conversation, "message_nr": message_nr, **extra}))
    else:
        out.line(f"{verb} (message {message_nr}).")


def cmd_upload(args: Any, options: Options) -> int:
    """``upload CONV FILE``: upload a file and post it, with an optional message."""
    path = Path(args.file)
    if path.is_dir():
        raise CliError(f"{path} is a directory: upload takes one file (zip it first)", EXIT_USAGE)
    if not path.exists():
        raise CliError(f"no such file: {path}", EXIT_USAGE)
    if not path.is_file():
        raise CliError(f"{path} is not a regular file", EXIT_USAGE)
    try:
        with path.open("rb"):  # unreadable: say so now, not after logging in
            pass
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_LOCAL) from None

    async def upload() -> int:
        async with open_client(options) as client:
            uploaded = await client.file.upload(str(path))
            result = await client.send_text(
                args.conversation, args.message or "", attachments=uploaded.upload_urls
            )
        size = uploaded.files[0].size if uploaded.files else None
        _report_sent(
            args, result.result_message_nr, f"Uploaded {path.name}", file_name=path.name, size=size
        )
        return EXIT_OK

    return _run(upload)


# -- listen ----------------------------------------------------------------------------------


class _Names:
    """Display names for account ids: the engine's cache, else one lookup per unknown id."""

    def __init__(self, client: FleepClient, engine: EventEngine[FleepClient]) -> None:
        self.client = client
        self.engine = engine
        self.known: dict[str, str] = {}

    async def name(self, account_id: str | None) -> str:
        if not account_id:
            return "someone"
        found = self.known.get(account_id)
        if found is not None:
            return found
        contact = self.engine.cache.contact(account_id)
        if contact is None:
            try:
                contact = await self.client.contact.sync(contact_id=account_id)
            except FleepError:
                contact = None
        name = _contact_name(contact) or account_id[:8]
        self.known[account_id] = name
        return name

    async def topic(self, conversation_id: str) -> str:
        conv = self.engine.cache.conversation(conversation_id)
        topic = (conv.topic or conv.default_topic) if conv is not None else None
        if topic:
            return topic
        found = self.known.get(conversation_id)
        if found is None:
            # Not seen in the stream yet (a resumed or --skip-backlog run): ask once.
            try:
                header = (await self.client.conversation.sync(conversation_id)).header
            except FleepError:
                header = None
            found = (header.topic or header.default_topic) if header is not None else None
            found = found or conversation_id[:8]
            self.known[conversation_id] = found
        return found


def _contact_name(contact: ContactRecord | None) -> str | None:
    if contact is None:
        return None
    return contact.display_name or contact.contact_name or contact.email


async def _readable(record: Any, names: _Names) -> list[Part] | None:
    """The line for a record, or ``None`` to show nothing."""
    if isinstance(record, FileRecord):
        if record.is_deleted:
            return None
        who = record.sender_name or await names.name(record.account_id)
        size = f" ({record.file_size} bytes)" if record.file_size is not None else ""
        return [
            (f"[{clock_time(record.posted_time)}] ", "dim"),
            (f"#{clean(await names.topic(record.conversation_id))} ", "blue"),
            (clean(who), "bold"),
            (" shared ", "dim"),
            (clean(f"{record.file_name}{size}"), "underline"),
        ]
    if not isinstance(record, MessageRecord) or record.is_deleted:
        return None
    if record.is_revision and not record.is_edit:
        return None  # pins, task state and other re-sends of a message already shown
    text = record.text
    if not text:
        return None
    who = (
        record.sender_name
        if record.hook_key is not None and record.sender_name
        else await names.name(record.account_id)
    )
    head: list[Part] = [
        (f"[{clock_time(record.posted_time)}] ", "dim"),
        (f"#{clean(await names.topic(record.conversation_id))} ", "blue"),
    ]
    if record.is_system:
        return [*head, (f"{clean(who)} {clean(text)}", "dim italic")]
    edited = " (edited)" if record.is_revision else ""
    return [*head, (clean(who), "bold"), (f"{edited}: ", ""), (clean(text), "")]


async def _as_json(record: Any, names: _Names) -> str:
    data = _scrub(unstructure(record))
    if not isinstance(data, dict):  # pragma: no cover - records unstructure to dicts
        data = {"record": data}
    if isinstance(record, MessageRecord):
        data["text"] = record.text
        data["sender"] = (
            record.sender_name
            if record.hook_key is not None and record.sender_name
            else await names.name(record.account_id)
        )
    return _dump(data)


_BACKLOG_NOTE: Final = {
    "full": "initial sync",
    "resume": "resuming from the stored horizon",
    "skip": "new events only",
}


def _me(client: FleepClient) -> str:
    state = client.session_state
    if state is None:
        return "?"
    return clean(state.display_name or state.email or state.account_id)


def cmd_listen(args: Any, options: Options) -> int:
    """``listen`` / ``tail``: print events as they arrive, resuming from the stored horizon."""
    wanted = set(args.conversation or ())

    async def listen() -> int:
        interrupted: list[int] = []
        out = Output(sys.stdout)
        async with open_client(options) as client:
            store = FileStore(options.horizon_path)
            options.horizon_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            checkpoint = await store.load()
            if checkpoint is not None and checkpoint.account_id not in (None, client.account_id):
                delete_file(options.horizon_path)  # another account's horizon: start over
                checkpoint = None
            backlog: Backlog
            if args.skip_backlog:
                backlog = "skip"
            elif checkpoint is None or not checkpoint.horizon:
                backlog = "full"  # first run: the initial sync shows recent history
            else:
                backlog = "resume"
            with SyncProgress(sys.stderr, description="Initial sync") as progress:
                engine: EventEngine[FleepClient] = EventEngine(
                    client,
                    store=store,
                    backlog=backlog,
                    dedup=True,
                    on_sync_progress=progress.update,
                )
                names = _Names(client, engine)

                def on_signal(signum: int) -> None:
                    interrupted.append(signum)
                    engine.stop(deadline=0)

                kinds: list[RecordKind] | None = None if args.all_kinds else ["message", "file"]
                shown = 0
                async with stop_on_signals(on_signal), engine.events(kinds=kinds) as stream:
                    _err(f"listening as {_me(client)} ({_BACKLOG_NOTE[backlog]}); Ctrl-C to stop")
                    async for record in stream:
                        if wanted and getattr(record, "conversation_id", None) not in wanted:
                            continue
                        if args.json:
                            out.raw(await _as_json(record, names))
                        else:
                            parts = await _readable(record, names)
                            if parts is None:
                                continue
                            progress.close()
                            out.parts(parts)
                        shown += 1
                        if args.limit and shown >= args.limit:
                            # Ask once more so this record counts as handled (checkpointed).
                            engine.stop(deadline=0)
                            with contextlib.suppress(StopAsyncIteration):
                                await stream.__anext__()
                            break
        return exit_code_for_signal(interrupted[0]) if interrupted else EXIT_OK

    return _run(listen)


# -- demo / fake-server ---------------------------------------------------------------------


def _need_server_extra(what: str) -> None:
    """Fail with an install hint when FakeFleep's dependencies are missing."""
    try:
        import uvicorn  # noqa: F401

        import fleep_async.testing._fake  # noqa: F401 - Starlette and friends
    except ImportError as exc:
        raise CliError(
            f"{what} needs the server extra: pip install 'fleep-async[server]' ({exc})"
        ) from exc


def cmd_demo(args: Any, options: Options) -> int:
    """``demo``: the scripted bot demo against a local FakeFleep."""
    _need_server_extra("the demo")
    from fleep_async.demo import run_demo

    out = Output(sys.stdout, color=False if args.no_color else None)
    pace = args.pace if args.pace is not None else (0.5 if out.is_tty else 0.0)

    async def demo() -> int:
        got: list[int] = []
        stopped = anyio.Event()
        waiting = False

        async def until_signal() -> None:
            nonlocal waiting
            waiting = True
            await stopped.wait()

        # Signals are caught for the whole run (a SIGTERM right after the "keep running" line
        # must not find the default handler): while the script runs one cancels it, while the
        # demo waits for it one ends the wait cleanly.
        with anyio.CancelScope() as scope:

            def on_signal(signum: int) -> None:
                got.append(signum)
                stopped.set()
                if not waiting:
                    scope.cancel()

            async with stop_on_signals(on_signal):
                try:
                    result = await run_demo(
                        out,
                        keep_running=args.keep_running,
                        wait_until_stopped=until_signal,
                        timeout=args.demo_timeout,
                        pace=pace,
                        port=args.port,
                        seed=args.seed,
                    )
                except OSError as exc:
                    raise _cannot_serve("127.0.0.1", args.port, exc) from None
        if got:
            return exit_code_for_signal(got[0])
        return EXIT_OK if result.ok else EXIT_API

    return _run(demo)


def cmd_fake_server(args: Any, options: Options) -> int:
    """``fake-server``: serve FakeFleep until Ctrl-C."""
    _need_server_extra("fake-server")
    from fleep_async.testing import FakeFleep

    host: str = args.host
    if host not in ("127.0.0.1", "::1", "localhost"):
        _err(
            f"warning: serving FakeFleep on {host}: it has no real security (test accounts, "
            "unauthenticated /_fakefleep admin routes). Keep it on a trusted network."
        )

    async def serve() -> int:
        got: list[int] = []
        stopped = anyio.Event()

        def on_signal(signum: int) -> None:
            got.append(signum)
            stopped.set()

        async with contextlib.AsyncExitStack() as stack:
            try:
                # Bound before the signal relay's task group: a busy port is a plain OSError.
                server = await stack.enter_async_context(
                    FakeFleep.serve(host, args.port, hold_seconds=args.hold, seed=args.seed)
                )
            except OSError as exc:
                raise _cannot_serve(host, args.port, exc) from None
            await stack.enter_async_context(stop_on_signals(on_signal))
            out = Output(sys.stdout)
            out.line(f"FakeFleep listening on {server.base_url}")
            out.line(f"Web chat: {server.chat_url}")
            if args.seed_demo:
                _seed_demo(out, server.fake, server.base_url)
            out.line("Ctrl-C to stop.", "dim")
            await stopped.wait()
        return exit_code_for_signal(got[0]) if got else EXIT_OK

    return _run(serve)


def _cannot_serve(host: str, port: int, exc: OSError) -> CliError:
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = f" (another program uses port {port}: pick another with --port, or 0 for any)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = f" ({host} is not an address of this machine)"
    return CliError(f"cannot serve on {host}:{port}: {exc.strerror}{hint}", EXIT_LOCAL)


def _seed_demo(out: Output, fake: FakeFleep, base_url: str) -> None:
    from fleep_async.demo import PEOPLE, TOPIC

    accounts = {
        key: fake.create_account(email, password, name)
        for key, (email, password, name) in PEOPLE.items()
    }
    conversation_id = fake.create_conversation(
        accounts["alice"], TOPIC, [accounts["bob"], accounts["bot"]]
    )
    out.line("Demo accounts (throwaway, on this local fake only):")
    for email, password, name in PEOPLE.values():
        out.line(f"  {name:<8} {email:<22} password {password}")
    out.line(f"Conversation {TOPIC!r}: {conversation_id}")
    email, password, _ = PEOPLE["alice"]
    out.line(
        f"Try: FLEEP_BASE_URL={base_url} FLEEP_EMAIL={email} FLEEP_PASSWORD={password} "
        "fleep-async conversations"
    )


# -- examples --------------------------------------------------------------------------------


def _examples() -> list[tuple[str, str, Traversable]]:
    """``(name, first docstring line, resource)`` for each shipped example, sorted by name."""
    found: list[tuple[str, str, Traversable]] = []
    for entry in importlib.resources.files("fleep_async.examples").iterdir():
        name = entry.name
        if not name.endswith(".py") or name.startswith("_"):
            continue
        source = entry.read_text(encoding="utf-8")
        summary = ast.get_docstring(ast.parse(source)) or ""
        found.append((name, summary.strip().splitlines()[0] if summary else "", entry))
    return sorted(found, key=lambda item: item[0])


def cmd_examples(args: Any, options: Options) -> int:
    """``examples``: list the shipped examples, or copy them into a directory."""
    examples = _examples()
    out = Output(sys.stdout)
    if args.copy is None:
        for name, summary, _ in examples:
            out.parts([(f"{name:<20}", "bold"), (summary, "")])
        out.line()
        out.line("Run one: python -m fleep_async.examples.echo_bot", "dim")
        out.line("Copy them here to edit: fleep-async examples --copy .", "dim")
        return EXIT_OK
    target = Path(args.copy)
    try:
        target.mkdir(parents=True, exist_ok=True)
        copied, kept = [], []
        for name, _, entry in examples:
            destination = target / name
            try:
                with destination.open("x", encoding="utf-8") as handle:
                    handle.write(entry.read_text(encoding="utf-8"))
            except FileExistsError:
                kept.append(name)
            else:
                copied.append(name)
    except OSError as exc:
        raise CliError(
            f"cannot copy the examples to {target}: {describe(exc)}", EXIT_LOCAL
        ) from None
    if copied:
        out.line(f"Copied to {target}: {', '.join(copied)}")
    if kept:
        out.line(f"Already there, left as they are: {', '.join(kept)}", "dim")
    return EXIT_OK
