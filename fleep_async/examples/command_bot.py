"""Command bot: routers, filters and ``include_router``.

``/ping`` and ``/echo TEXT`` for everyone; ``/shutdown`` only for the accounts in
``FLEEP_ADMINS`` (comma-separated account ids); a polite answer to "thanks"; one error handler.

Run it like ``echo_bot.py`` (``FLEEP_EMAIL``, ``FLEEP_PASSWORD``, ``FLEEP_BASE_URL``)::

    FLEEP_ADMINS=<your account id> python -m fleep_async.examples.command_bot
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

import anyio

from fleep_async import FleepClient
from fleep_async.events import Command, Context, ErrorEvent, FromAccount, Regex, Router
from fleep_async.models import MessageRecord

Ctx = Context[FleepClient]


def build_router(admins: Iterable[str] = ()) -> Router:
    """Public commands, admin commands (tried first) and small talk, in three routers."""
    root, public, talk = Router(name="root"), Router(name="public"), Router(name="talk")

    @public.message(Command("ping"))
    async def ping(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply("pong")

    @public.message(Command("echo"))
    async def echo(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply(ctx.command.args or "Usage: /echo TEXT")

    @talk.message(Regex(r"(?i)\bthanks?\b"))
    async def thanks(message: MessageRecord, ctx: Ctx) -> None:
        await ctx.reply("You're welcome!")

    @root.error()
    async def on_error(event: ErrorEvent, ctx: Ctx) -> None:
        if not event.will_retry:
            await ctx.reply(f"Sorry, that failed: {type(event.exception).__name__}")

    if admins := tuple(admins):
        admin = root.include_router(Router(name="admin"))

        @admin.message(Command("shutdown"), FromAccount(*admins))
        async def shutdown(message: MessageRecord, ctx: Ctx) -> None:
            await ctx.reply("Bye!")
            ctx.client.stop()  # client.run() returns once the handlers in flight finish

    root.include_routers(public, talk)
    return root


async def main(**client_options: Any) -> None:
    """Run the bot until ``/shutdown`` from an admin, or Ctrl-C."""
    admins = [a for a in os.environ.get("FLEEP_ADMINS", "").split(",") if a]
    async with FleepClient(
        os.environ["FLEEP_EMAIL"],
        os.environ["FLEEP_PASSWORD"],
        base_url=os.environ.get("FLEEP_BASE_URL", "https://fleep.io"),
        **client_options,
    ) as client:
        client.router.include_router(build_router(admins))
        await client.run()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
