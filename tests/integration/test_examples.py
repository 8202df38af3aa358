"""Every example in ``fleep_async/examples/`` runs against FakeFleep and does what it says.

Most are imported and their ``main(**client_options)`` / ``create_app`` / ``relay`` run with an
in-process transport; ``echo_bot.py`` also runs as a real process, as its docstring says, against
FakeFleep on a loopback socket; ``test_my_bot.py`` runs in a child pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async.testing import Account, FakeFleep

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "fleep_async" / "examples"
WAIT = 20.0


def load(name: str) -> ModuleType:
    """Import ``fleep_async/examples/<name>.py`` as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Room:
    """A FakeFleep with a bot, a person (Ann) and their conversation."""

    def __init__(self, fake: FakeFleep | None = None) -> None:
        self.fake = fake if fake is not None else FakeFleep(hold_seconds=1.0)
        self.bot = self.fake.create_account("bot@example.com", "bot-pw", "Bot")
        self.ann = self.fake.create_account("ann@example.com", "ann-pw", "Ann")
        self.conversation_id = self.fake.create_conversation(self.ann, "examples", [self.bot])

    def env(self, monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> None:
        monkeypatch.setenv("FLEEP_EMAIL", "bot@example.com")
        monkeypatch.setenv("FLEEP_PASSWORD", "bot-pw")
        monkeypatch.setenv("FLEEP_BASE_URL", base_url or self.fake.base_url)

    def client_options(self) -> dict[str, Any]:
        return {"transport": self.fake.transport(), "allow_insecure_http": True}

    def said(self, who: Account, text: str) -> list[str]:
        """Bodies of ``who``'s messages containing ``text``."""
        return [
            str(m["message"])
            for m in self.fake.messages(self.conversation_id)
            if m["account_id"] == who.account_id and text in str(m["message"])
        ]

    async def wait_said(self, who: Account, text: str, count: int = 1) -> None:
        await self.fake.wait_for(lambda: len(self.said(who, text)) >= count, timeout=WAIT)

    async def bot_listening(self) -> None:
        """The bot's long poll is parked: what is posted from now on reaches it."""
        await self.fake.wait_for(lambda: self.fake.parked_polls >= 1, timeout=WAIT)

    async def post(self, text: str, attachments: list[str] | None = None) -> None:
        await self.fake.post_as(self.ann, self.conversation_id, text, attachments=attachments or ())


async def run_bot(main: Callable[..., Awaitable[None]], room: Room, script: Any) -> None:
    """Run an example's ``main`` while ``script(room)`` plays, then stop it."""
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: main(**room.client_options()))
            await room.bot_listening()
            await script(room)
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_echo_bot_echoes_people_but_not_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the bot keeps echo_bot.horizon.json in the working directory
    room = Room()
    room.env(monkeypatch)

    async def script(room: Room) -> None:
        await room.post("hello bot")
        await room.wait_said(room.bot, "hello bot")
        await room.post("second")
        await room.wait_said(room.bot, "second")

    await run_bot(load("echo_bot").main, room, script)
    # Exactly one echo each: the bot's own messages (echoed back by the server) are skipped.
    assert len(room.said(room.bot, "hello bot")) == 1
    assert len(room.said(room.bot, "second")) == 1
    assert (tmp_path / "echo_bot.horizon.json").exists()


@pytest.mark.anyio
async def test_command_bot_routes_commands_filters_admins_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = Room()
    room.env(monkeypatch)
    monkeypatch.setenv("FLEEP_ADMINS", room.ann.account_id)
    module = load("command_bot")
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: module.main(**room.client_options()))
            await room.bot_listening()
            await room.post("/ping")
            await room.wait_said(room.bot, "pong")
            await room.post("/echo routed")
            await room.wait_said(room.bot, "routed")
            await room.post("thanks!")
            await room.wait_said(room.bot, "welcome")
            await room.post("/shutdown")  # Ann is an admin: the bot says bye and stops by itself
            await room.wait_said(room.bot, "Bye!")
    assert room.said(room.bot, "/echo") == []


def test_command_bot_ignores_shutdown_from_non_admins() -> None:
    module = load("command_bot")
    router = module.build_router(admins=["someone-else"])
    names = {
        handler.name.rsplit(".", 1)[-1] for r in router.walk() for handler in r.message.handlers
    }
    assert {"ping", "echo", "thanks", "shutdown"} <= names
    assert module.build_router().sub_routers[0].name == "public"  # no admin router without admins


@pytest.mark.anyio
async def test_file_bot_receives_a_file_and_sends_files(monkeypatch: pytest.MonkeyPatch) -> None:
    room = Room()
    room.env(monkeypatch)
    notes = b"milk\neggs\ncoffee\n"

    async def script(room: Room) -> None:
        url = room.fake.upload_as(room.ann, "notes.txt", notes, "text/plain")
        await room.post("my notes", attachments=[url])
        await room.wait_said(room.bot, "CAPITALS-notes.txt")
        await room.post("/sample")
        await room.wait_said(room.bot, "sample.csv")

    await run_bot(load("file_bot").main, room, script)
    assert hashlib.sha256(notes.upper()).hexdigest() in room.fake.world.files_by_sha
    # The bot's own CAPITALS file did not make it answer itself.
    assert len(room.said(room.bot, "CAPITALS-")) == 1


@pytest.mark.anyio
async def test_webhook_relay_posts_each_line_through_the_hook() -> None:
    room = Room()
    hook_url = room.fake.create_hook(room.ann, room.conversation_id, "Deploy")
    relay = load("webhook_relay").relay
    lines = ["deploy started\n", "\n", "deploy finished\n"]
    with anyio.fail_after(WAIT):
        posted = await relay(
            hook_url, lines, user="Deploy", base_url=room.fake.base_url, **room.client_options()
        )
    assert posted == 2
    hook_posts = [m for m in room.fake.messages(room.conversation_id) if m.get("hook_key")]
    assert [m.get("sender_name") for m in hook_posts] == ["Deploy", "Deploy"]
    assert "deploy finished" in str(hook_posts[-1]["message"])


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run an ASGI app's lifespan (as uvicorn would) and yield an HTTP client to it."""
    state: dict[str, Any] = {}
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](2)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](2)

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tg:
        tg.start_soon(app, scope, app_inbox.receive, app_outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


@pytest.mark.anyio
async def test_service_example_posts_through_its_lifespan_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = Room()
    room.env(monkeypatch)
    app = load("fastapi_service").create_app(**room.client_options())
    with anyio.fail_after(WAIT):
        async with serving(app) as http:  # the lifespan logs the client in once
            assert (await http.get("/health")).json() == {"account_id": room.bot.account_id}
            answer = await http.post(
                "/notify", json={"conversation_id": room.conversation_id, "text": "deployed"}
            )
            assert answer.status_code == 200
            assert isinstance(answer.json()["message_nr"], int)
            missing = await http.post("/notify", json={"text": "no conversation"})
            assert missing.status_code == 400
            bad_id = await http.post("/notify", json={"conversation_id": "nope", "text": "x"})
            assert bad_id.status_code == 400
    assert room.said(room.bot, "deployed")


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_test_my_bot_example_passes_under_pytest() -> None:
    installed = importlib.metadata.entry_points(group="pytest11", name="fleep_async")
    plugins = [] if installed else ["-p", "fleep_async.testing.pytest_plugin"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugins,
            str(EXAMPLES / "test_my_bot.py"),
        ],
        cwd=REPO,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # anyio runs the test once per installed backend (asyncio, and trio when installed).
    assert re.search(r"\b[1-9]\d* passed", result.stdout), result.stdout
    assert "failed" not in result.stdout


@pytest.mark.asyncio
async def test_echo_bot_runs_as_its_docstring_says_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fleep_async.examples.echo_bot"]
    async with FakeFleep.serve(hold_seconds=2.0) as server:
        room = Room(server.fake)
        env = {
            **_child_env(),
            "FLEEP_EMAIL": "bot@example.com",
            "FLEEP_PASSWORD": "bot-pw",
            "FLEEP_BASE_URL": server.base_url,
        }
        async with await anyio.open_process(command, cwd=tmp_path, env=env) as process:
            try:
                await room.bot_listening()
                await room.post("are you there?")
                await room.wait_said(room.bot, "are you there?")
                process.send_signal(signal.SIGINT)
                with anyio.fail_after(WAIT):
                    code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
            assert process.stderr is not None
            errors = "".join([chunk async for chunk in TextReceiveStream(process.stderr)])
    assert code == 0, errors
    assert "Traceback" not in errors
    assert (tmp_path / "echo_bot.horizon.json").exists()  # the checkpoint was written on exit
