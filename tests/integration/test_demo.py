"""The demo, end to end: the first thing a new user runs must work, and say so."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

import fleep_async.demo as demo_module
from fleep_async import FleepClient
from fleep_async._cli._output import Output
from fleep_async.cli import main
from fleep_async.demo import run_demo, transcript
from fleep_async.events import Command, Router
from fleep_async.models import MessageRecord

REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0


@pytest.mark.asyncio
async def test_the_demo_gets_every_reply_and_shows_the_conversation() -> None:
    out = io.StringIO()
    with anyio.fail_after(WAIT):
        result = await run_demo(Output(out), seed=7)
    assert result.ok, result.missing
    assert result.expected == 6
    lines = transcript(result)
    expected = [
        r"DemoBot added the webhook 'CI'",
        r"Alice: /help",
        r"DemoBot: I am DemoBot, a fleep-async bot\. Commands:",
        r"Bob: /echo Hello from Bob!",
        r"DemoBot: Hello from Bob!",
        r"Alice: /roll 2d6",
        r"DemoBot: rolled 2d6: \d \+ \d = \d+",
        r"Bob: Here are my notes",
        r"Bob shared notes\.txt \(\d+ bytes\)",
        r"DemoBot: Got notes\.txt: \d+ bytes, 4 lines, sha256 [0-9a-f]{12}\.\.\.",
        r"Alice: /report",
        r"DemoBot: Here is your report\.",
        r"DemoBot shared report\.txt \(\d+ bytes\)",
        r"CI \(webhook\): Build #42 passed",
        r"DemoBot: Thanks CI, noted: Build #42 passed",
    ]
    found = iter(lines)
    for pattern in expected:  # in this order, each one a line of its own
        regex = re.compile(r"^\[\d\d:\d\d:\d\d\] " + pattern)
        assert any(regex.match(line) for line in found), (pattern, lines)
    printed = out.getvalue()
    assert "OK: all 6 expected replies arrived" in printed
    assert "\x1b[" not in printed  # not a terminal: no colour codes
    assert "/hook/" not in printed  # the hook URL is a secret


def test_the_demo_command_runs_as_a_new_user_would() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fleep_async", "demo"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all 6 expected replies arrived" in result.stdout
    assert "DemoBot: Hello from Bob!" in result.stdout
    assert result.stderr == ""


def test_a_missing_reply_fails_the_demo_and_says_which(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def half_a_bot(*, rng: object = None) -> Router:
        router = Router()

        @router.message(Command("help"))
        async def show_help(message: MessageRecord, ctx: object) -> None:
            await ctx.reply("/echo is not here today")  # type: ignore[attr-defined]

        return router

    monkeypatch.setattr(demo_module, "build_router", half_a_bot)
    code = main(["demo", "--demo-timeout", "1", "--seed", "1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED: 5 of 6 expected replies did not arrive" in captured.out
    assert "DemoBot's answer to Bob's '/echo Hello from Bob!'" in captured.out
    assert "'/roll 2d6'" in captured.out
    assert "DemoBot: /echo is not here today" in captured.out  # the /help step still worked


@pytest.mark.asyncio
async def test_keep_running_leaves_the_bot_answering_until_stopped() -> None:
    out = io.StringIO()

    async def talk_to_the_bot_then_stop() -> None:
        printed = out.getvalue()
        base_url = re.search(r"FLEEP_BASE_URL=(\S+)", printed)
        conversation = re.search(r"fleep-async send (\S+) ", printed)
        password = re.search(r"FLEEP_PASSWORD=(\S+)", printed)
        chat_url = re.search(r"Chat with DemoBot in your browser: (http://\S+/chat/)\n", printed)
        assert chat_url is not None, printed
        async with httpx.AsyncClient() as http:
            page = await http.get(chat_url.group(1))
        assert page.status_code == 200
        assert "<title>FakeFleep chat</title>" in page.text
        assert f"log in as alice@example.com (password {password and password.group(1)})" in printed
        assert base_url is not None
        assert conversation is not None
        assert password is not None
        async with (
            FleepClient(
                "alice@example.com", password.group(1), base_url=base_url.group(1)
            ) as alice,
            alice.events(kinds=["message"], backlog="skip") as stream,
        ):
            await alice.send_text(conversation.group(1), "/echo still here")
            async for record in stream:
                if record.account_id != alice.account_id and record.text == "still here":
                    break

    with anyio.fail_after(WAIT):
        result = await run_demo(
            Output(out), keep_running=True, wait_until_stopped=talk_to_the_bot_then_stop
        )
    assert result.ok
    assert any(line.endswith("DemoBot: still here") for line in transcript(result))
    assert "keep running until Ctrl-C" in out.getvalue()


def test_without_the_server_extra_the_demo_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["demo"]) == 1
    assert "pip install 'fleep-async[server]'" in capsys.readouterr().err
