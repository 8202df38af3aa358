"""A cluster worker as a child of the tests (``python -m tests.cluster._worker_proc``).

Arguments: NATS URL(s) (comma-separated), FakeFleep base URL, the bot's email, the human's
account id, this worker's id, ack_wait seconds. The router echoes the human's text messages with
``ctx.reply`` (its record-derived ``client_req_id`` makes a repeated reply one message on the
server). Prints ``ready`` on stdout once it has joined; logs go to stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio

from fleep_async import FleepClient
from fleep_async.cluster import ClusterWorker, connect
from fleep_async.events import FromAccount, OfMessageType, Router


async def main() -> None:
    nats_url, base_url, email, human_id, worker_id, ack_wait = sys.argv[1:7]
    router = Router()

    @router.message(FromAccount(human_id), OfMessageType("text"))
    async def echo(message: Any, ctx: Any) -> None:
        await ctx.reply(f"echo {message.text}")

    nc = await connect(nats_url.split(","))
    async with FleepClient(email, "pw", base_url=base_url) as client:
        assert client.account_id is not None
        worker = ClusterWorker(
            nc, router, {client.account_id: client}, worker_id=worker_id, ack_wait=float(ack_wait)
        )
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            print("ready", flush=True)


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(message)s")
    anyio.run(main)
