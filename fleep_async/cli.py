"""The ``fleep-async`` command (also ``python -m fleep_async``).

::

    fleep-async demo                      # a bot against a local fake server; no account needed
    fleep-async fake-server --seed-demo   # serve FakeFleep for your own experiments
    fleep-async examples --copy mybot     # the example bots, to read and edit
    fleep-async login --email me@example.com
    fleep-async whoami
    fleep-async conversations [--json]
    fleep-async send CONV "hello"          # or: echo hello | fleep-async send CONV -
    fleep-async upload CONV report.pdf --message "the report"
    fleep-async listen [--json] [--skip-backlog]
    fleep-async cluster poller --nats nats://127.0.0.1:4222   # docs/cluster.md
    fleep-async cluster status --nats nats://127.0.0.1:4222

Exit codes: 0 ok, 1 API error, 2 bad arguments, 3 authentication failed (or not logged in),
4 network error (cannot reach the server), 5 a local file or port cannot be used,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM; any signal: 128 + its number).

Environment: ``FLEEP_BASE_URL``, ``FLEEP_EMAIL``, ``FLEEP_PASSWORD``, ``FLEEP_SESSION_FILE``.
The session is stored (mode 0600, never the password) at ``--session-file``,
``$FLEEP_SESSION_FILE``, or ``fleep-async/session.json`` in the platform's configuration
directory (``$XDG_CONFIG_HOME`` or ``~/.config``; ``~/Library/Application Support`` on macOS;
``%APPDATA%`` on Windows).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

from fleep_async._cli._common import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    Options,
    describe,
    exit_code_for,
    leaf_exception,
    logging_to_stderr,
)
from fleep_async._version import __version__

__all__ = ["build_parser", "main"]


def _number_of_seconds(text: str, *, zero_ok: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
        bound = ">= 0" if zero_ok else "> 0"
        raise argparse.ArgumentTypeError(f"must be a number of seconds {bound}, got {text}")
    return value


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    return _number_of_seconds(text, zero_ok=False)


def _seconds_or_zero(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    return _number_of_seconds(text, zero_ok=True)


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 for any free one."""
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value}")
    return value


_CONNECTION: Final = frozenset(
    {"base-url", "session-file", "allow-insecure-http", "timeout", "retries", "verbose"}
)
"""The global options of the commands that talk to a Fleep server."""


def _global_options(
    parser: argparse.ArgumentParser, *, top: bool, which: Collection[str] = _CONNECTION
) -> None:
    """The options every command takes, before or after the command name.

    On the subcommands they default to SUPPRESS, so that a value given before the command is
    not overwritten by the subcommand's default. A subcommand lists only the ones it uses
    (``which``); before the command name all are accepted.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    if not which:
        return
    group = parser.add_argument_group("global options")
    if "base-url" in which:
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=default(None),
            help="the Fleep server (default: $FLEEP_BASE_URL, the saved session's, or "
            "https://fleep.io)",
        )
    if "session-file" in which:
        group.add_argument(
            "--session-file",
            metavar="PATH",
            default=default(None),
            help="where the session is stored (default: $FLEEP_SESSION_FILE, or "
            "fleep-async/session.json in the platform's configuration directory)",
        )
    if "allow-insecure-http" in which:
        group.add_argument(
            "--allow-insecure-http",
            action="store_true",
            default=default(False),
            help="allow plain http to a non-loopback server (credentials travel unencrypted)",
        )
    if "timeout" in which:
        group.add_argument(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            default=default(30.0),
            help="seconds per request, > 0 (default: 30)",
        )
    if "retries" in which:
        group.add_argument(
            "--retries",
            type=_count,
            metavar="N",
            default=default(3),
            help="retries of a failed idempotent request, >= 0 (default: 3)",
        )
    if "verbose" in which:
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
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"fleep-async {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        handler: Callable[..., int],
        help_text: str,
        which: Collection[str] = _CONNECTION,
        **kw: Any,
    ) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        _global_options(p, top=False, which=which)
        p.set_defaults(handler=handler)
        return p

    from fleep_async._cli import _commands as c

    local_only = {"verbose"}  # demo and fake-server talk to no real server
    p = command(
        "demo", c.cmd_demo, "run a bot against a local FakeFleep (no account needed)", local_only
    )
    p.add_argument(
        "--keep-running", action="store_true", help="keep the server and bot up until Ctrl-C"
    )
    p.add_argument(
        "--demo-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="give up on the scripted replies after this long (default: 30)",
    )
    p.add_argument(
        "--pace",
        type=_seconds_or_zero,
        default=None,
        metavar="SECONDS",
        help="pause between scripted steps (default: 0.5 on a terminal, 0 otherwise)",
    )
    p.add_argument("--port", type=_port, default=0, help="FakeFleep's port (default: a free one)")
    p.add_argument("--seed", type=int, default=None, help="seed the dice, for repeatable runs")
    p.add_argument("--no-color", action="store_true", help="plain output even on a terminal")

    p = command(
        "fake-server", c.cmd_fake_server, "serve FakeFleep, a local fake Fleep server", local_only
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8900, help="port (default: 8900; 0: any free)")
    p.add_argument(
        "--hold",
        type=_seconds_or_zero,
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

    p = command(
        "examples",
        c.cmd_examples,
        "list the example bots shipped with fleep-async, or copy them out to edit",
        (),
    )
    p.add_argument(
        "--copy", metavar="DIR", help="copy them into DIR (created if missing; no overwrites)"
    )

    p = command("login", c.cmd_login, "log in and store the session (not the password)")
    p.add_argument("--email", help="the account's email (default: $FLEEP_EMAIL, or asked)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (default: $FLEEP_PASSWORD, or asked)",
    )

    command(
        "logout",
        c.cmd_logout,
        "end the session and delete the session file",
        _CONNECTION - {"base-url"},  # the session's own server is the one told
    )

    p = command("whoami", c.cmd_whoami, "show the logged-in account")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("conversations", c.cmd_conversations, "list your conversations")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--limit", type=_count, default=0, metavar="N", help="at most N conversations")

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
        p.add_argument("--limit", type=_count, default=0, metavar="N", help="stop after N events")
        p.add_argument(
            "--all-kinds",
            action="store_true",
            help="every record kind (default: messages and files)",
        )

    # The NATS JetStream tier: a group of its own, each subcommand one register function.
    cluster = sub.add_parser(
        "cluster",
        help="the NATS JetStream tier: pollers with failover, workers that scale out",
        description="The NATS JetStream tier (docs/cluster.md); needs the nats extra.",
        epilog=EXIT_CODES_HELP,
    )
    cluster_sub = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)

    def cluster_command(
        name: str,
        handler: Callable[..., int],
        help_text: str,
        which: Collection[str] = _CONNECTION,
        **kw: Any,
    ) -> Any:
        p = cluster_sub.add_parser(name, help=help_text, description=help_text, **kw)
        _global_options(p, top=False, which=which)
        p.set_defaults(handler=handler)
        return p

    from fleep_async._cli._cluster import SUBCOMMANDS

    for register in SUBCOMMANDS:
        register(cluster_command)
    return parser


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
            failure = leaf_exception(raised)
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
