"""Webhook relay: posts each line of stdin into a conversation through its hook URL.

No bot account is needed: a hook URL is enough (and is a secret: keep it out of logs and
repositories). Create one in Fleep's conversation settings, or from code with
``await client.conversation.create_hook(conversation_id, hook_name="Deploy")``.

::

    export FLEEP_HOOK_URL='https://fleep.io/hook/...'
    tail -f deploy.log | python -m fleep_async.examples.webhook_relay --user Deploy
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterable, Iterable
from typing import Any

import anyio

from fleep_async import FleepClient

logger = logging.getLogger(__name__)


async def _aiter(lines: AsyncIterable[str] | Iterable[str]) -> AsyncIterable[str]:
    if isinstance(lines, AsyncIterable):
        async for line in lines:
            yield line
    else:
        for line in lines:
            yield line


async def relay(
    hook_url: str,
    lines: AsyncIterable[str] | Iterable[str],
    *,
    user: str | None = None,
    **client_options: Any,
) -> int:
    """Post every non-empty line to ``hook_url``; return how many were posted."""
    posted = 0
    async with FleepClient(**client_options) as client:  # no credentials: hooks need none
        async for line in _aiter(lines):
            if line.strip():
                await client.hook.post(hook_url, line.rstrip("\r\n"), user=user)
                posted += 1
    return posted


async def main() -> None:
    """Relay stdin to ``$FLEEP_HOOK_URL``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="relay", help="the sender name shown in Fleep")
    args = parser.parse_args()
    hook_url = os.environ.get("FLEEP_HOOK_URL")
    if not hook_url:
        parser.error("set FLEEP_HOOK_URL to the conversation's hook URL")
    posted = await relay(hook_url, anyio.wrap_file(sys.stdin), user=args.user)
    logger.info("relayed %d lines", posted)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    anyio.run(main)
