"""``fleep-async cluster worker`` and ``fleep-async cluster dead-letters``.

Exit codes as for every command (``fleep-async --help``); in particular 2 for an ``--app`` that
cannot be imported (or is not a Router), 4 when NATS cannot be reached, 1 when the cluster is not
set up or its stream disappears while the worker runs.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from fleep_async._cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Options,
    exit_code_for_signal,
    stop_on_signals,
)
from fleep_async.events import Router

if TYPE_CHECKING:
    from fleep_async._client import FleepClient

__all__ = [
    "cmd_cluster_dead_letters",
    "cmd_cluster_worker",
    "load_app",
    "register_dead_letters",
    "register_worker",
]

EXIT_HELP = (
    "Exit codes: 0 ok (or stopped by Ctrl-C: 130, SIGTERM: 143), 1 the cluster is not set up or "
    "its stream was deleted, 2 bad arguments or an --app that does not import, 3 "
    "authentication failed, 4 NATS (or Fleep) cannot be reached."
)

Command = Callable[..., Any]
"""The cluster group's factory: ``command(name, handler, help_text, which=...)``."""


def register_worker(command: Command) -> None:
    """``cluster worker --nats URL --app MODULE:ROUTER [--concurrency N]``."""
    from fleep_async._cli._cluster import _positive_int, add_metrics_options, add_nats_option
    from fleep_async.cli import _seconds

    p = command(
        "worker",
        cmd_cluster_worker,
        "handle the cluster's records with your router (account from FLEEP_EMAIL/"
        "FLEEP_PASSWORD/FLEEP_BASE_URL or the saved session)",
        epilog=EXIT_HELP,
    )
    add_nats_option(p)
    p.add_argument(
        "--app", required=True, metavar="MODULE:ROUTER", help="your router, e.g. mybot:router"
    )
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        metavar="N",
        help="handlers running at once in this worker (default: 16)",
    )
    p.add_argument(
        "--ack-wait",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how soon a record a dead worker held is delivered elsewhere (default: 30)",
    )
    p.add_argument(
        "--max-deliver",
        type=_positive_int,
        default=5,
        metavar="N",
        help="deliveries of a failing record before it is dead-lettered (default: 5)",
    )
    p.add_argument(
        "--accounts",
        metavar="FILE",
        help="many accounts (the poller's file): a JSON array of {email, password[, base_url]} "
        "or {session_file} (default: one account, from the session file or "
        "FLEEP_EMAIL/FLEEP_PASSWORD)",
    )
    add_metrics_options(p)


def register_dead_letters(command: Command) -> None:
    """``cluster dead-letters --nats URL [--replay] [--json] [--limit N]``."""
    from fleep_async._cli._cluster import add_nats_option
    from fleep_async.cli import _count

    p = command(
        "dead-letters",
        cmd_cluster_dead_letters,
        "list the records the workers gave up on; --replay sends them back to their partition",
        {"verbose"},
        epilog=EXIT_HELP,
    )
    add_nats_option(p)
    p.add_argument(
        "--replay", action="store_true", help="publish them again (then remove them from the list)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=_count, default=0, metavar="N", help="at most N dead letters")


def load_app(spec: str) -> Router:
    """The Router named by ``module:attribute`` (the attribute may be a function returning it).

    The current directory is importable, as with ``python -m``.

    Raises:
        CliError: (exit 2) not ``module:attribute``, the module fails to import, the attribute
            is missing or is not a Router.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"--app must be MODULE:ROUTER (e.g. mybot:router), got {spec!r}", EXIT_USAGE)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the user's module raises while importing
        raise CliError(
            f"--app {spec}: cannot import {module_name!r}: {type(exc).__name__}: {exc}", EXIT_USAGE
        ) from exc
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise CliError(f"--app {spec}: {module_name!r} has no attribute {part!r}", EXIT_USAGE)
        found = getattr(found, part)
    if callable(found) and not isinstance(found, Router):
        try:
            found = found()
        except Exception as exc:
            raise CliError(
                f"--app {spec}: calling {attribute}() failed: {type(exc).__name__}: {exc}",
                EXIT_USAGE,
            ) from exc
    if not isinstance(found, Router):
        raise CliError(
            f"--app {spec}: expected a fleep_async.events.Router, got {type(found).__name__}",
            EXIT_USAGE,
        )
    return found


def cmd_cluster_worker(args: Any, options: Options) -> int:
    """``cluster worker``: handle the cluster's records with the app's router."""
    from fleep_async._cli._cluster import read_accounts

    router = load_app(args.app)  # first: a typo fails before anything connects
    accounts = read_accounts(Path(args.accounts), options) if args.accounts else None

    async def work() -> int:
        from fleep_async._cli._cluster import account_clients, metrics_server, nats_connection
        from fleep_async.cluster import ClusterWorker

        interrupted: list[int] = []
        async with (
            nats_connection(args, name=f"fleep-async worker {os.getpid()}") as nc,
            account_clients(options, accounts) as clients,
        ):
            by_account: dict[str, FleepClient] = {}
            for client in clients:
                if client.account_id is None:  # pragma: no cover - a started client is logged in
                    raise CliError("a session has no account id", EXIT_USAGE)
                if client.account_id in by_account:
                    raise CliError(
                        f"{args.accounts}: account {client.account_id} is given twice", EXIT_USAGE
                    )
                by_account[client.account_id] = client
            worker = ClusterWorker(
                nc,
                router,
                by_account,
                concurrency=args.concurrency,
                ack_wait=args.ack_wait,
                max_deliver=args.max_deliver,
            )
            stack = contextlib.ExitStack()
            if args.metrics_port is not None:
                stack.enter_context(metrics_server(args, worker))

            def on_signal(signum: int) -> None:
                interrupted.append(signum)
                worker.stop()

            try:
                async with stop_on_signals(on_signal), anyio.create_task_group() as tg:
                    await tg.start(worker.run)
                    named = ", ".join(sorted(by_account))
                    which = (
                        f"account {named}"
                        if len(by_account) == 1
                        else f"{len(by_account)} accounts ({named})"
                    )
                    sys.stderr.write(
                        f"fleep-async: worker {worker.worker_id} running for {which} "
                        f"({args.app}); Ctrl-C to stop\n"
                    )
                    sys.stderr.flush()
            finally:
                stack.close()
        return exit_code_for_signal(interrupted[0]) if interrupted else EXIT_OK

    return anyio.run(work, backend="asyncio")


def cmd_cluster_dead_letters(args: Any, options: Options) -> int:
    """``cluster dead-letters``: list the dead letters; ``--replay`` sends them back."""

    async def dead() -> int:
        from fleep_async._cli._cluster import nats_connection
        from fleep_async.cluster import dead_letters, replay_dead_letters

        async with nats_connection(args, name=f"fleep-async dead-letters {os.getpid()}") as nc:
            js = nc.jetstream()
            letters = await dead_letters(js, limit=args.limit or None)
            for letter in letters:
                if args.json:
                    line = json.dumps(
                        {
                            "sequence": letter.sequence,
                            "account_id": letter.account_id,
                            "subject": letter.original_subject,
                            "deliveries": letter.deliveries,
                            "error": letter.error,
                            "time": letter.time.isoformat() if letter.time else None,
                            "record": json.loads(letter.data) if letter.data else None,
                        },
                        ensure_ascii=False,
                    )
                else:
                    when = letter.time.strftime("%Y-%m-%d %H:%M:%S") if letter.time else "-"
                    line = (
                        f"{letter.sequence}\t{when}\t{letter.original_subject}\t"
                        f"{letter.deliveries} deliveries\t{letter.error}"
                    )
                sys.stdout.write(line + "\n")
            if args.replay:
                count = await replay_dead_letters(js, letters)
                sys.stderr.write(f"fleep-async: replayed {count} dead letter(s)\n")
            elif not letters:
                sys.stderr.write("fleep-async: no dead letters\n")
        return EXIT_OK

    return anyio.run(dead, backend="asyncio")
