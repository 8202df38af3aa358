"""File bot: receives files and sends files.

Send it a ``.txt`` file and it sends back a copy in CAPITALS; ``/sample`` makes it send a CSV.

Run it like ``echo_bot.py`` (``FLEEP_EMAIL``, ``FLEEP_PASSWORD``, ``FLEEP_BASE_URL``)::

    python -m fleep_async.examples.file_bot

then, as someone in the bot's conversation: ``fleep-async upload CONV notes.txt``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import anyio

from fleep_async import FleepClient
from fleep_async.events import Command, Context, Router, not_own
from fleep_async.models import FileRecord, MessageRecord

Ctx = Context[FleepClient]
MAX_BYTES = 1_000_000


def is_text_file(record: Any) -> bool:
    """A live ``.txt`` attachment (files arrive as their own ``file`` records)."""
    return (
        isinstance(record, FileRecord)
        and not record.is_deleted
        and bool(record.file_url)
        and (record.file_name or "").lower().endswith(".txt")
    )


def build_router() -> Router:
    """Handlers for incoming text files and for ``/sample``."""
    router = Router()

    @router.any(is_text_file, not_own)  # not_own: skip the files the bot itself sends
    async def shout(file: FileRecord, ctx: Ctx) -> None:
        if (file.file_size or 0) > MAX_BYTES:
            await ctx.reply(f"{file.file_name} is too big for me.")
            return
        data = await ctx.client.file.download(file.file_url or "")
        capitals = data.decode("utf-8", errors="replace").upper().encode()
        uploaded = await ctx.client.file.upload((f"CAPITALS-{file.file_name}", capitals))
        await ctx.reply(f"Here is {file.file_name} in capitals.", attachments=uploaded.upload_urls)

    @router.message(Command("sample"))
    async def sample(message: MessageRecord, ctx: Ctx) -> None:
        uploaded = await ctx.client.file.upload(("sample.csv", b"fruit,qty\napples,3\npears,5\n"))
        await ctx.reply("A sample file:", attachments=uploaded.upload_urls)

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
        await client.run()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
