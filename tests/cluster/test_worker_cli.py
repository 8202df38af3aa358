"""``fleep-async cluster worker`` and ``cluster dead-letters`` as operators run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async.cluster import (
    DEAD_STREAM,
    EVENTS_STREAM,
    HEADER_ACCOUNT,
    HEADER_DELIVERIES,
    HEADER_ERROR,
    HEADER_MSG_ID,
    HEADER_ORIGINAL_SUBJECT,
    connect,
    dead_subject,
    ensure_buckets,
    ensure_stream,
)
from fleep_async.testing import FakeFleepServer
from fleep_async.testing.nats import NatsCluster, free_port
from tests.cluster._support import bot_replies, publish_records

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0

APP = """
from fleep_async.events import OfMessageType, Router

router = Router()


@router.message(OfMessageType("text"))
async def echo(message, ctx):
    await ctx.reply("echo " + message.text)
"""


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleep_async", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_an_app_that_does_not_import_exits_2_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('the config is missing')\n")
    (tmp_path / "notarouter.py").write_text("router = 42\n")
    nats = f"nats://127.0.0.1:{free_port()}"  # never reached: the app is checked first
    cases = {
        "nosuchmodule:router": "cannot import 'nosuchmodule': ModuleNotFoundError",
        "broken:router": "cannot import 'broken': RuntimeError: the config is missing",
        "notarouter:router": "expected a fleep_async.events.Router, got int",
        "notarouter:missing": "'notarouter' has no attribute 'missing'",
        "norouter": "--app must be MODULE:ROUTER",
    }
    for app, reason in cases.items():
        done = cli(["cluster", "worker", "--nats", nats, "--app", app], tmp_path)
        assert done.returncode == 2, (app, done.stderr)
        assert reason in done.stderr
        assert "Traceback" not in done.stderr


def test_an_unreachable_nats_exits_4(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(APP)
    nats = f"nats://127.0.0.1:{free_port()}"
    for command in (["worker", "--app", "bot:router"], ["dead-letters"]):
        done = cli(["cluster", *command, "--nats", nats], tmp_path)
        assert done.returncode == 4, done.stderr
        assert f"cannot connect to NATS at {nats}" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.anyio
async def test_a_worker_whose_stream_is_deleted_exits_1_after_handling_what_it_had(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, tmp_path: Path
) -> None:
    (tmp_path / "bot.py").write_text(APP)
    fake = fake_server.fake
    bot = fake.create_account("bot@example.com", "pw", "Bot")
    human = fake.create_account("human@example.com", "pw", "Human")
    cid = fake.create_conversation(human, "ops", [bot])
    await fake.post_as(human, cid, "hello")
    nc = await connect(nats_cluster.urls)
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await ensure_buckets(js, lease_ttl=1.5)
        await publish_records(js, bot.account_id, fake.events(bot))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLEEP_EMAIL": "bot@example.com",
            "FLEEP_PASSWORD": "pw",
            "FLEEP_BASE_URL": fake_server.base_url,
            "FLEEP_SESSION_FILE": str(tmp_path / "session.json"),
        }
        command = [sys.executable, "-m", "fleep_async", "cluster", "worker"]
        command += ["--nats", nats_cluster.url, "--app", "bot:router"]
        with anyio.fail_after(WAIT):
            async with await anyio.open_process(command, cwd=tmp_path, env=env) as process:
                assert process.stderr is not None
                stderr = ""
                async for chunk in TextReceiveStream(process.stderr):
                    stderr += chunk
                    if "running for account" in stderr:
                        break
                await fake.wait_for(lambda: bot_replies(fake, cid, bot.account_id) != [], WAIT)
                await js.delete_stream(EVENTS_STREAM)
                async for chunk in TextReceiveStream(process.stderr):
                    stderr += chunk
                code = await process.wait()
    finally:
        await nc.close()
    assert code == 1, stderr
    assert f"the stream {EVENTS_STREAM} was deleted while the worker ran" in stderr
    assert bot_replies(fake, cid, bot.account_id) == ["<msg><p>echo hello</p></msg>"]
    assert "Traceback" not in stderr


@pytest.mark.anyio
async def test_dead_letters_are_listed_and_replayed(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    nc = await connect(nats_cluster.urls)
    original = "fleep.events.acc1.3.message"
    record = {"mk_rec_type": "message", "conversation_id": "c1", "message_nr": 7}
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        await js.publish(
            dead_subject("acc1", 3),
            json.dumps(record).encode(),
            headers={
                HEADER_ERROR: "ValueError: no",
                HEADER_DELIVERIES: "5",
                HEADER_ORIGINAL_SUBJECT: original,
                HEADER_ACCOUNT: "acc1",
                HEADER_MSG_ID: "acc1:m:c1:7:7",
            },
        )
        listed = await anyio.to_thread.run_sync(
            lambda: cli(["cluster", "dead-letters", "--nats", nats_cluster.url, "--json"], tmp_path)
        )
        replayed = await anyio.to_thread.run_sync(
            lambda: cli(
                ["cluster", "dead-letters", "--nats", nats_cluster.url, "--replay"], tmp_path
            )
        )
        events = await js.stream_info(EVENTS_STREAM)
        last = await js.get_last_msg(EVENTS_STREAM, original)
        dead = await js.stream_info(DEAD_STREAM)
        empty = await anyio.to_thread.run_sync(
            lambda: cli(["cluster", "dead-letters", "--nats", nats_cluster.url], tmp_path)
        )
    finally:
        await nc.close()
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    shown = json.loads(line)
    assert shown["subject"] == original
    assert shown["deliveries"] == 5
    assert shown["error"] == "ValueError: no"
    assert shown["record"] == record
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letter(s)" in replayed.stderr
    assert events.state.messages == 1
    assert json.loads(last.data or b"") == record
    assert (last.headers or {})[HEADER_MSG_ID] == f"acc1:m:c1:7:7:replay:{shown['sequence']}"
    assert dead.state.messages == 0
    assert empty.returncode == 0
    assert "no dead letters" in empty.stderr
