"""A bot process SIGKILLed mid-stream, over a real loopback socket, several times.

FakeFleep is served by uvicorn in the test process; the bot (FleepClient + EventEngine with a
SQLiteStore and dedup) runs in a child process that is killed with SIGKILL while a simulated
human keeps posting, then started again on the same database. Nothing may be lost, and every
human message must get exactly one reply: the reply's ``client_req_id`` is derived from the
record, so a reply re-sent by the next process after a kill is the same request to the server.

(After SIGKILL a handler may run twice for the few records handled after the last checkpoint
write: the test counts those but does not forbid them. A cancelled or stopped engine writes its
checkpoint on exit and never does.)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async.testing import FakeFleep

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

WAIT = 60.0
ROOT = Path(__file__).resolve().parents[2]

BOT = """
import sys

import anyio

from fleep_async._client import FleepClient
from fleep_async.events import EventEngine, FromAccount, OfMessageType, Router, SQLiteStore

base_url, db, log_path, human_id = sys.argv[1:5]
router = Router()


@router.message(FromAccount(human_id), OfMessageType("text"))
async def echo(message, ctx):
    # Log first: a reply seen by the test then implies the log line is written.
    with open(log_path, "a") as log:
        log.write(message.text + "\\n")
    await ctx.reply("echo " + message.text)


async def main():
    async with FleepClient("bot@example.com", "pw", base_url=base_url) as client:
        engine = EventEngine(
            client, router, store=SQLiteStore(db), dedup=True, min_poll_interval=0.01
        )
        async with anyio.create_task_group() as tg:
            await tg.start(engine.run)
            print("ready", flush=True)


anyio.run(main)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves FakeFleep on asyncio only


async def start_bot(args: list[str]) -> anyio.abc.Process:
    process = await anyio.open_process(
        [sys.executable, "-c", BOT, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    buffered = ""
    async for chunk in TextReceiveStream(process.stdout):
        buffered += chunk
        if "ready" in buffered:
            return process
    stderr = b""
    if process.stderr is not None:
        stderr = await process.stderr.receive()
    raise AssertionError(f"the bot did not start: {stderr.decode(errors='replace')}")


def replies(fake: FakeFleep, conversation_id: str, bot_id: str) -> list[str]:
    return [str(m["message"]) for m in fake.messages(conversation_id) if m["account_id"] == bot_id]


async def test_sigkilled_bot_loses_nothing_and_replies_once(tmp_path: Path) -> None:
    async with FakeFleep.serve(hold_seconds=1.0, seed=11) as server:
        fake = server.fake
        bot = fake.create_account("bot@example.com", "pw", "Bot")
        human = fake.create_account("human@example.com", "pw", "Human")
        cid = fake.create_conversation(human, "ops", [bot])
        args = [server.base_url, str(tmp_path / "bot.db"), str(tmp_path / "handled.log")]
        args.append(human.account_id)
        posted: list[str] = []
        kills = 0

        async def post(count: int) -> None:
            for _ in range(count):
                text = f"m{len(posted)}"
                posted.append(text)
                await fake.post_as(human, cid, text)

        def replied() -> int:
            return len(replies(fake, cid, bot.account_id))

        with anyio.fail_after(WAIT):
            for round_ in range(4):
                process = await start_bot(args)
                try:
                    await post(8)
                    # Kill once the bot is part-way through this round's messages.
                    target = len(posted) - 4
                    await fake.wait_for(lambda t=target: replied() >= t, timeout=WAIT)
                    if round_ < 3:
                        process.send_signal(signal.SIGKILL)
                        kills += 1
                    else:
                        await fake.wait_for(lambda: replied() >= len(posted), timeout=WAIT)
                        process.send_signal(signal.SIGKILL)
                    await process.wait()
                finally:
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                    await process.aclose()

        texts = replies(fake, cid, bot.account_id)
        handled = (tmp_path / "handled.log").read_text().split()

    assert kills == 3
    assert sorted(texts) == sorted(f"<msg><p>echo {t}</p></msg>" for t in posted)  # once each
    assert set(handled) == set(posted)  # nothing lost
    # Duplicate handler runs can only come from the records after the last checkpoint write.
    assert len(handled) - len(posted) <= 3 * 8
