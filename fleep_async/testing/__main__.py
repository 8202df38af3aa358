"""``python -m fleep_async.testing serve --port 8900``: run FakeFleep as a local server."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import anyio


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fleep_async.testing",
        description="Run FakeFleep, a local Fleep server for tests and demos.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve FakeFleep over HTTP (loopback by default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    serve.add_argument("--hold-seconds", type=float, default=90.0, help="long-poll hold time")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="EMAIL:PASSWORD[:NAME]",
        help="create an account at start (repeatable)",
    )
    serve.add_argument("--no-admin", action="store_true", help="disable /_fakefleep/* routes")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    from fleep_async.testing._fake import FakeFleep

    async with FakeFleep.serve(
        args.host,
        args.port,
        hold_seconds=args.hold_seconds,
        seed=args.seed,
        admin=not args.no_admin,
    ) as server:
        for spec in args.account:
            email, _, rest = spec.partition(":")
            password, _, name = rest.partition(":")
            server.fake.create_account(email, password, name or None)
        # The CLI talks to its user on stdout; the library itself never prints.
        print(f"FakeFleep listening on {server.base_url}", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        anyio.run(_serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
