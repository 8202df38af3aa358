"""Echo bot: answers every text message with the same text.

Run it against Fleep, or against a local fake server that needs no account::

    fleep-async fake-server --seed-demo        # in another terminal; prints accounts
    export FLEEP_BASE_URL=http://127.0.0.1:8900
    export FLEEP_EMAIL=demobot@example.com FLEEP_PASSWORD=demo-bot
    python -m fleep_async.examples.echo_bot

Then write in a conversation the bot is in (e.g. ``fleep-async send CONV hello`` as Alice).
Stop it with Ctrl-C: the next run resumes where this one stopped (``echo_bot.horizon.json``).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import anyio

from fleep_async import FleepClient
from fleep_async.events import Context, FileStore, OfMessageType, Router
from fleep_async.models import MessageRecord


def build_router() -> Router:
    """The bot's handlers (a router skips the bot's own messages by default)."""
    router = Router()

    @router.message(OfMessageType("text"))
    async def echo(message: MessageRecord, ctx: Context[FleepClient]) -> None:
        if message.text.strip():
            await ctx.reply(message.text)

    return router


async def main(**client_options: Any) -> None:
    """Log in from the environment and run the bot until cancelled."""
    async with FleepClient(
        os.environ["FLEEP_EMAIL"],
        os.environ["FLEEP_PASSWORD"],
        base_url=os.environ.get("FLEEP_BASE_URL", "https://fleep.io"),
        **client_options,
    ) as client:
        client.router.include_router(build_router())
        await client.run(store=FileStore("echo_bot.horizon.json"))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
