"""The ``fleep-async`` command (also ``python -m fleep_async``).

::

    fleep-async demo                      # a bot against a local fake server; no account needed
    fleep-async fake-server --seed-demo   # serve FakeFleep for your own experiments
    fleep-async login --email me@example.com
    fleep-async whoami
    fleep-async conversations [--json]
    fleep-async send CONV "hello"          # or: echo hello | fleep-async send CONV -
    fleep-async upload CONV report.pdf --message "the report"
    fleep-async listen [--json] [--skip-backlog]

Exit codes: 0 ok, 1 API error, 2 bad arguments, 3 authentication failed (or not logged in),
4 network error (cannot reach the server), 130 interrupted (Ctrl-C).

Environment: ``FLEEP_BASE_URL``, ``FLEEP_EMAIL``, ``FLEEP_PASSWORD``, ``FLEEP_SESSION_FILE``.
The session is stored (mode 0600, never the password) at ``--session-file``,
``$FLEEP_SESSION_FILE`` or ``$XDG_CONFIG_HOME/fleep-async/session.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from fleep_async._cli._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    Options,
    describe,
    exit_code_for,
    logging_to_stderr,
)
from fleep_async._version import __version__

__all__ = ["build_parser", "main"]


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after the command name.

    On the subcommands they default to SUPPRESS, so that a value given before the command is
    not overwritten by the subcommand's default.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help="the Fleep server (default: $FLEEP_BASE_URL, the saved session's, or "
        "https://fleep.io)",
    )
    group.add_argument(
        "--session-file",
        metavar="PATH",
        default=default(None),
        help="where the session is stored (default: $FLEEP_SESSION_FILE or "
        "$XDG_CONFIG_HOME/fleep-async/session.json)",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=default(False),
        help="allow plain http to a non-loopback server (credentials travel unencrypted)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=default(30.0),
        help="seconds per request (default: 30)",
    )
    group.add_argument(
        "--retries",
        type=int,
        metavar="N",
        default=default(3),
        help="retries of a failed idempotent request (default: 3)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="debug logging on stderr (secrets stay redacted)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fleep-async``."""
    parser = argparse.ArgumentParser(
        prog="fleep-async",
        description="Command-line client for the Fleep messenger, and a demo that needs no "
        "account: try `fleep-async demo`.",
        epilog="Exit codes: 0 ok, 1 API error, 2 bad arguments, 3 authentication failed, "
        "4 cannot reach the server, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"fleep-async {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[..., int], help_text: str, **kw: Any) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        _global_options(p, top=False)
        p.set_defaults(handler=handler)
        return p

    from fleep_async._cli import _commands as c

    p = command("demo", c.cmd_demo, "run a bot against a local FakeFleep (no account needed)")
    p.add_argument(
        "--keep-running", action="store_true", help="keep the server and bot up until Ctrl-C"
    )
    p.add_argument(
        "--demo-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up on the scripted replies after this long (default: 30)",
    )
    p.add_argument(
        "--pace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause between scripted steps (default: 0.5 on a terminal, 0 otherwise)",
    )
    p.add_argument("--port", type=int, default=0, help="FakeFleep's port (default: a free one)")
    p.add_argument("--seed", type=int, default=None, help="seed the dice, for repeatable runs")
    p.add_argument("--no-color", action="store_true", help="plain output even on a terminal")

    p = command("fake-server", c.cmd_fake_server, "serve FakeFleep, a local fake Fleep server")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8900, help="port (default: 8900; 0: any free)")
    p.add_argument(
        "--hold",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="how long a long poll waits for events (default: 90, like Fleep)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for ids (default: 0)")
    p.add_argument(
        "--seed-demo",
        action="store_true",
        help="create demo accounts and a conversation, and print their credentials",
    )

    p = command("login", c.cmd_login, "log in and store the session (not the password)")
    p.add_argument("--email", help="the account's email (default: $FLEEP_EMAIL, or asked)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (default: $FLEEP_PASSWORD, or asked)",
    )

    command("logout", c.cmd_logout, "end the session and delete the session file")

    p = command("whoami", c.cmd_whoami, "show the logged-in account")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("conversations", c.cmd_conversations, "list your conversations")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N conversations")

    p = command("send", c.cmd_send, "send a message to a conversation")
    p.add_argument("conversation", metavar="CONV", help="the conversation id")
    p.add_argument("text", metavar="TEXT", help="the message; - reads it from stdin")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = command("upload", c.cmd_upload, "upload a file to a conversation")
    p.add_argument("conversation", metavar="CONV", help="the conversation id")
    p.add_argument("file", metavar="FILE", help="the file to upload")
    p.add_argument("--message", "-m", metavar="TEXT", help="a message to go with the file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    for name, aliases in (("listen", ["tail"]),):
        p = command(
            name,
            c.cmd_listen,
            "print events as they arrive (resumes where the last run stopped)",
            aliases=aliases,
        )
        p.add_argument("--json", action="store_true", help="one JSON object per line")
        p.add_argument(
            "--skip-backlog",
            action="store_true",
            help="only events from now on (default: resume from the stored horizon; the "
            "first run shows recent history)",
        )
        p.add_argument(
            "--conversation",
            action="append",
            metavar="CONV",
            help="only this conversation (repeatable)",
        )
        p.add_argument("--limit", type=int, default=0, metavar="N", help="stop after N events")
        p.add_argument(
            "--all-kinds",
            action="store_true",
            help="every record kind (default: messages and files)",
        )
    return parser


def _leaf(exc: BaseException) -> BaseException:
    """The one interesting exception inside (nested) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner: list[BaseException] = list(exc.exceptions)
        preferred = [e for e in inner if isinstance(e, KeyboardInterrupt | CliError)]
        exc = (preferred or inner)[0]
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fleep-async`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (argparse says which)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        options = Options.from_args(args)
    except CliError as exc:
        sys.stderr.write(f"fleep-async: error: {exc}\n")
        return exc.exit_code
    secrets = [options.password or ""]
    with logging_to_stderr(args.verbose, secrets):
        try:
            code: int = args.handler(args, options)
        except BaseException as raised:  # every failure becomes a message and an exit code
            failure = _leaf(raised)
            if isinstance(failure, KeyboardInterrupt):
                sys.stderr.write("fleep-async: interrupted\n")
                return EXIT_INTERRUPTED
            if not isinstance(failure, Exception):  # SystemExit, GeneratorExit: not ours
                raise
            code = exit_code_for(failure)
            if args.verbose and not isinstance(failure, CliError):
                import traceback

                traceback.print_exception(failure, file=sys.stderr)
            sys.stderr.write(f"fleep-async: error: {describe(failure)}\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
