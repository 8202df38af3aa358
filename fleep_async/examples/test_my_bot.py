"""Testing your bot: the ``fake_fleep`` pytest fixture runs FakeFleep in-process.

No network, no Fleep account. The fixture comes with fleep-async's pytest plugin, which the
``testing`` extra installs with what it needs::

    pip install 'fleep-async[testing]'
    fleep-async examples --copy .     # this file and the bot it tests, to edit
    pytest test_my_bot.py

It tests the shipped echo bot: for yours, import your own router in its place. The fake's base
URL is ``https://fleep.test``: an in-process transport reaches it (no sockets, no
certificates), so the client needs no insecure-http opt-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from fleep_async import FleepClient
from fleep_async.examples.echo_bot import build_router

if TYPE_CHECKING:
    from fleep_async.testing import FakeFleep


@pytest.mark.anyio
async def test_the_bot_echoes_what_a_person_writes(fake_fleep: FakeFleep) -> None:
    bot = fake_fleep.create_account("bot@example.com", "secret", "Bot")
    ann = fake_fleep.create_account("ann@example.com", "secret", "Ann")
    conversation = fake_fleep.create_conversation(ann, "testing", [bot])

    def bot_said(text: str) -> bool:
        return any(
            m["account_id"] == bot.account_id and text in m["message"]
            for m in fake_fleep.messages(conversation)
        )

    client = FleepClient(
        "bot@example.com",
        "secret",
        base_url=fake_fleep.base_url,
        transport=fake_fleep.transport(),  # in-process: no sockets
    )
    async with client, anyio.create_task_group() as tg:
        client.router.include_router(build_router())
        await tg.start(client.run)  # returns once the bot is listening
        await fake_fleep.post_as(ann, conversation, "hello bot")
        await fake_fleep.wait_for(lambda: bot_said("hello bot"), timeout=10)
        client.stop()
    assert bot_said("hello bot")
