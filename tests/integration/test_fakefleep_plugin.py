"""The ``fake_fleep`` pytest fixture (run in a child pytest, on asyncio and trio) and the
``python -m fleep_async.testing serve`` command."""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async.testing import RawUser

REPO = Path(__file__).resolve().parents[2]

BOT_TESTS = textwrap.dedent(
    """
    import pytest

    from fleep_async.testing import RawUser


    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param


    @pytest.mark.anyio
    async def test_bot_answers(fake_fleep):
        fake_fleep.create_account("bot@example.com", "pw", "Bot")
        human = fake_fleep.create_account("human@example.com", "pw", "Human")
        conv = fake_fleep.create_conversation(human, "help", ["bot@example.com"])
        async with fake_fleep.http_client() as http:
            bot = await RawUser.login(http, "bot@example.com", "pw")
            horizon = (await bot.call("account/sync"))["event_horizon"]
            await fake_fleep.post_as(human, conv, "ping")
            answer = await bot.poll(horizon, wait=True)
            text = [r for r in answer["stream"] if r["mk_rec_type"] == "message"][0]
            assert text["message"] == "<msg><p>ping</p></msg>"
            await bot.call(f"message/send/{conv}", {"message": "pong"})
        assert fake_fleep.messages(conv)[-1]["message"] == "<msg><p>pong</p></msg>"


    @pytest.mark.fake_fleep(hold_seconds=0.25, seed=3)
    def test_marker_options(fake_fleep):
        assert fake_fleep.world.config.hold_seconds == 0.25


    def test_default_hold_is_short(fake_fleep):
        assert fake_fleep.world.config.hold_seconds == 2.0
    """
)


def _plugin_args() -> list[str]:
    # Once installed, the entry point loads the plugin; loading it twice would be an error.
    installed = importlib.metadata.entry_points(group="pytest11", name="fleep_async")
    return [] if installed else ["-p", "fleep_async.testing.pytest_plugin"]


def test_fake_fleep_fixture_works_for_bot_tests_on_asyncio_and_trio(tmp_path: Path) -> None:
    (tmp_path / "test_bot.py").write_text(BOT_TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",  # the child runs on anyio's plugin; pytest-asyncio would only warn
            *_plugin_args(),
            "--rootdir",
            str(tmp_path),
            "-W",
            "error",
            str(tmp_path / "test_bot.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_plugin_module_imports_without_starlette() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None; "
        "import fleep_async.testing.pytest_plugin as p; "
        "assert 'starlette' not in [m for m in sys.modules if sys.modules[m] is not None]; "
        "print(p.fake_fleep.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "fake_fleep"


@pytest.mark.asyncio
async def test_python_m_serve_runs_a_server_and_stops_on_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "fleep_async.testing",
        "serve",
        "--port",
        "0",
        "--hold-seconds",
        "1",
        "--account",
        "ann@example.com:pw:Ann",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    async with await anyio.open_process(command, cwd=REPO, env=env) as process:
        try:
            assert process.stdout is not None
            text = ""
            with anyio.fail_after(30):
                async for chunk in TextReceiveStream(process.stdout):
                    text += chunk
                    if "\n" in text:
                        break
            # The URL ends the first line (the web chat's URL may follow in the same chunk).
            base_url = text.split("\n", 1)[0].strip().rsplit(" ", 1)[-1]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url), text
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
                ann = await RawUser.login(http, "ann@example.com", "pw")
                assert ann.display_name == "Ann"
                state = (await http.get("/_fakefleep/state")).json()
                assert state["accounts"][0]["email"] == "ann@example.com"
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await process.wait()
        finally:
            if process.returncode is None:  # a failed check above: never wait on it forever
                process.kill()
    assert code == 0
