"""Two bot processes on one checkpoint store: the second is refused at start.

Before, two bots on the same account and the same ``FileStore`` or ``SQLiteStore`` file each
handled every message (twice the handler runs, each overwriting the other's horizon). A store has
one owner: the second process fails at start with ``StoreLockedError`` naming the file, and the
handler runs (the bots' shared invocation log) and the replies FakeFleep counts are one set.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from fleep_async.testing import FakeFleep
from tests.fault._chaos import (
    BOT_EMAIL,
    BOT_PASSWORD,
    BotCrashedError,
    BotProcess,
    ReplyTally,
    final_replies,
)
from tests.fault.conftest import GUARD

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and locks"),
]

MESSAGES = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves FakeFleep on asyncio only


@pytest.mark.parametrize("store", ["sqlite", "file"])
async def test_a_second_bot_process_on_the_same_store_is_refused_at_start(
    store: str, tmp_path: Path
) -> None:
    store_path = tmp_path / ("checkpoint.db" if store == "sqlite" else "checkpoint.json")
    effects_path = tmp_path / "effects.db"
    with anyio.fail_after(GUARD * 2):
        async with (
            FakeFleep.serve(hold_seconds=0.5, seed=11) as server,
            anyio.create_task_group() as tg,
        ):
            fake = server.fake
            bot = fake.create_account(BOT_EMAIL, BOT_PASSWORD, "Bot")
            human = fake.create_account("human@example.com", "pw", "Human")
            conversation_id = fake.create_conversation(human, "ops", [bot])
            config = {
                "base_url": server.base_url,
                "email": BOT_EMAIL,
                "password": BOT_PASSWORD,
                "store": store,
                "store_path": str(store_path),
                "effects_path": str(effects_path),  # shared: it counts both bots' handler runs
                "timeout": 5.0,
                "poll_timeout": 2.5,
            }
            bots = []
            for name in ("first", "second"):
                (tmp_path / name).mkdir()
                bots.append(BotProcess(fake, tmp_path / name, config, tg))
            first, second = bots
            try:
                await first.start(attempts=1)
                with pytest.raises(BotCrashedError):
                    await second.start(attempts=1)
                log = second.log_path(1).read_text()
                assert "StoreLockedError" in log
                assert str(store_path) in log
                texts = [f"m{i}" for i in range(MESSAGES)]
                for text in texts:
                    await fake.post_as(human, conversation_id, text)
                tally = ReplyTally(fake, bot.account_id, [conversation_id])
                await fake.wait_for(lambda: tally.update() == MESSAGES, timeout=GUARD)
                assert await first.terminate() == 0
            finally:
                for process in bots:
                    await process.aclose()
            replies = final_replies(fake, bot.account_id, [conversation_id])
    assert replies == Counter(dict.fromkeys(texts, 1))  # counted by the server
    conn = sqlite3.connect(effects_path)
    try:
        runs = conn.execute("SELECT count(*) FROM invocations").fetchone()[0]
    finally:
        conn.close()
    assert runs == MESSAGES  # one handler run per message: the second bot never ran one
