"""A cluster poller replica as a child of the tests (``python -m tests.cluster._poller_proc``).

Arguments: NATS URL(s), FakeFleep base URL, the account's email, this replica's holder id, the
lease TTL, and ``crash_after``: when positive, the process SIGKILLs itself at its first commit
after it published at least that many records: after the stream acknowledged them, before the
checkpoint moved (the window the publish-then-commit order is about). Prints ``ready`` on
stdout once connected; logs (which process holds which lease) go to stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import anyio

from fleep_async import FleepClient
from fleep_async.cluster import AccountPoller, connect, ensure_buckets, ensure_stream


class CrashBeforeCommit(AccountPoller):
    crash_after = 0

    async def _commit(self, horizon: int) -> None:
        if 0 < self.crash_after <= self.published:
            print(f"crashing before commit of {horizon}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        await super()._commit(horizon)


async def main() -> None:
    nats_url, base_url, email, holder, ttl, crash_after = sys.argv[1:7]
    async with FleepClient(email, "pw", base_url=base_url) as client:
        nc = await connect(nats_url.split(","))
        js = nc.jetstream()
        await ensure_stream(js)
        buckets = await ensure_buckets(js, lease_ttl=float(ttl))
        poller = CrashBeforeCommit(js, buckets, client, holder=holder, min_poll_interval=0.05)
        poller.crash_after = int(crash_after)
        print("ready", flush=True)
        await poller.run()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(message)s")
    anyio.run(main)
