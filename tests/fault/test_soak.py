"""Soak: a thousand dropped connections leave no leaked sockets, tasks or memory behind.

FakeFleep runs in its own process (``python -m fleep_async.testing serve``), so that what this
process holds is the client's alone. The bot (``FleepClient`` + ``client.run`` with a reply
handler) runs here while FakeFleep drops connections mid-response, half of them on
``account/poll`` (before handling: the poll is cut at once) and half on ``message/store`` (after
handling: the reply is posted and its answer lost; the retry with the same ``client_req_id``
posts nothing twice). A simulated human keeps posting until all the drops have been used.

A warm-up round first (connection pools, caches, lazy imports and the allocator settle), then
the measured round. At the same quiet point after each (everything answered, the poll parked,
garbage collected), we compare:

- open file descriptors (``/proc/self/fd``): no growth beyond a few pooled connections;
- asyncio tasks (``asyncio.all_tasks()``): none added;
- traced Python memory (``tracemalloc``): growth under 1 KiB per drop would still fail;
- resident memory (``/proc/self/statm``): a generous bound, as a backstop.

The full 1,000 drops (plus 200 for the warm-up) run in the normal suite: about 12 s.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async import FleepClient, RetryPolicy
from fleep_async.events import Context
from fleep_async.models import MessageRecord

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0
WARM_UP_DROPS = 200
DROPS = 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncio.all_tasks() is the task count measured


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@asynccontextmanager
async def fakefleep_process(log: Path) -> AsyncIterator[str]:
    """FakeFleep in a child process; yields its base URL."""
    with log.open("wb") as stderr:
        process = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "fleep_async.testing",
                "serve",
                "--port",
                "0",
                "--hold-seconds",
                "0.5",
                "--account",
                "bot@example.com:pw:Bot",
                "--account",
                "human@example.com:pw:Human",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=stderr,
        )
        try:
            assert process.stdout is not None
            buffered = ""
            with anyio.fail_after(WAIT):
                async for chunk in TextReceiveStream(process.stdout):
                    buffered += chunk
                    if "\n" in buffered:
                        break
            prefix = "FakeFleep listening on "
            first_line = buffered.partition("\n")[0]  # the web chat's URL may follow
            assert first_line.startswith(prefix), log.read_text(errors="replace")
            yield first_line.removeprefix(prefix).strip()
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.CancelScope(shield=True), anyio.fail_after(WAIT):
                await process.wait()
            await process.aclose()


class Soak:
    """The bot, the human (over the admin routes) and the drop rounds."""

    def __init__(self, admin: httpx.AsyncClient, client: FleepClient, conversation_id: str):
        self.admin = admin
        self.client = client
        self.conversation_id = conversation_id
        self.posted = 0
        self.answered = 0
        self._progress = anyio.Event()

    def on_answer(self) -> None:
        self.answered += 1
        self._progress.set()
        self._progress = anyio.Event()

    async def admin_call(self, route: str, body: Any = None) -> dict[str, Any]:
        if body is None:
            response = await self.admin.get(route)
        else:
            response = await self.admin.post(route, json=body)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def drops(self) -> int:
        counts = (await self.admin_call("/_fakefleep/faults"))["counts"]
        return int(counts.get("drop", 0))

    async def round(self, drops: int) -> None:
        """Inject ``drops`` drops; post until they are used up and everything is answered."""
        target = await self.drops() + drops
        await self.admin_call(
            "/_fakefleep/faults",
            [
                {"kind": "drop", "endpoint": "account/poll", "times": drops // 2, "commit": False},
                {"kind": "drop", "endpoint": "message/store", "times": drops - drops // 2},
            ],
        )
        while True:
            await self.admin_call(
                "/_fakefleep/state",
                {
                    "action": "post",
                    "account": "human@example.com",
                    "conversation_id": self.conversation_id,
                    "text": f"m{self.posted}",
                },
            )
            self.posted += 1
            while self.answered < self.posted:
                await self._progress.wait()
            if await self.drops() >= target:
                break
        # Quiet: every message answered, and the next poll parked on the server (each check is
        # a round trip to the server, no sleep).
        while (await self.admin_call("/_fakefleep/state"))["parked_polls"] != 1:
            pass

    def snapshot(self) -> dict[str, int]:
        gc.collect()
        return {
            "fds": open_fds(),
            "tasks": len(asyncio.all_tasks()),
            "traced": tracemalloc.get_traced_memory()[0],
            "rss": rss_bytes(),
        }


async def test_a_thousand_connection_drops_leak_no_fds_tasks_or_memory(tmp_path: Path) -> None:
    # Every drop is logged (with a traceback when a reply fails); pytest's log capture keeping
    # those records would look like a leak.
    quiet = logging.getLogger("fleep_async")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    tracemalloc.start()
    try:
        async with fakefleep_process(tmp_path / "fakefleep.log") as base_url:
            await soak(base_url, DROPS)
    finally:
        tracemalloc.stop()
        quiet.setLevel(level)


async def soak(base_url: str, drops: int) -> None:
    no_wait = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as admin:
        created = await admin.post(
            "/_fakefleep/state",
            json={
                "action": "create_conversation",
                "owner": "human@example.com",
                "topic": "soak",
                "members": ["bot@example.com"],
            },
        )
        created.raise_for_status()
        conversation_id = created.json()["conversation_id"]
        client = FleepClient("bot@example.com", "pw", base_url=base_url, retry=no_wait)
        soak = Soak(admin, client, conversation_id)

        @client.router.message()
        async def reply(message: MessageRecord, ctx: Context[FleepClient]) -> None:
            await ctx.reply(f"ack {message.text}")
            soak.on_answer()

        with anyio.fail_after(WAIT * 2):
            async with client, anyio.create_task_group() as tg:
                await tg.start(
                    lambda task_status: client.run(
                        min_poll_interval=0.0,
                        poll_backoff=RetryPolicy(base_delay=0.0, max_delay=0.0),
                        retry_backoff=RetryPolicy(base_delay=0.0, max_delay=0.0),
                        retry_budget=10_000,
                        task_status=task_status,
                    )
                )
                await soak.round(WARM_UP_DROPS)
                before = soak.snapshot()
                await soak.round(drops)
                after = soak.snapshot()
                client.stop()
        total = await soak.drops()

    print(f"\nsoak: {total} drops ({drops} measured); before {before}; after {after}")
    assert total >= WARM_UP_DROPS + drops
    assert soak.answered == soak.posted  # nothing lost on the way
    assert after["fds"] <= before["fds"] + 2  # a pooled connection or two, not one per drop
    assert after["tasks"] <= before["tasks"]
    assert after["traced"] - before["traced"] < 1024 * drops
    assert after["rss"] - before["rss"] < 32 * 1024 * 1024
