"""The engine against FakeFleep behind a proxy that answers some polls with a 5xx.

A 5xx is a server (or proxy) failure whatever its body names: the client retries it and the
engine goes on. Before, a 503 whose JSON carried ``{"error_id": "not_found"}`` was classified as
``NotFoundError`` and ended the engine after one request.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from fleep_async._client import FleepClient
from fleep_async.events import EventEngine, FromAccount, MemoryStore
from fleep_async.models import MessageRecord
from fleep_async.testing import FakeFleep

pytestmark = pytest.mark.anyio

WAIT = 30.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FailingPolls:
    """An ASGI proxy: the next ``times`` polls get ``status`` with ``body``; the rest pass."""

    def __init__(self, app: ASGIApp, *, status: int, body: dict[str, Any], times: int) -> None:
        self.app = app
        self.status = status
        self.body = orjson.dumps(body)
        self.left = times
        self.failed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/account/poll" and self.left > 0:
            self.left -= 1
            self.failed += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": self.body})
            return
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    ("status", "error_id"),
    [(503, "not_found"), (500, "not_found"), (502, "invalid_call")],
)
async def test_a_5xx_naming_a_client_error_does_not_stop_the_engine(
    status: int, error_id: str
) -> None:
    fake = FakeFleep(hold_seconds=0.5, seed=1)
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    conversation_id = fake.create_conversation(human, "ops", [bot])
    proxy = FailingPolls(
        fake.app, status=status, body={"error_id": error_id, "error_message": "x"}, times=3
    )
    handled: list[str] = []
    client = FleepClient(
        "bot@example.com",
        "pw",
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=proxy),
        allow_insecure_http=True,  # in-process ASGI transport
    )
    async with client:
        engine: EventEngine[FleepClient] = EventEngine(
            client, store=MemoryStore(), min_poll_interval=0.01
        )

        @engine.router.message(FromAccount(human.account_id))
        async def on_message(message: MessageRecord) -> None:
            handled.append(message.text)
            engine.stop()

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                await fake.post_as(human, conversation_id, "still there?")
    assert proxy.failed == 3
    assert handled == ["still there?"]
