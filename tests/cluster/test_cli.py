"""``fleep-async cluster poller`` and ``cluster status`` as processes, against real servers."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.abc
import orjson
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async.cluster import EVENTS_STREAM, connect
from fleep_async.testing import FakeFleepServer
from fleep_async.testing.nats import NatsCluster, free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX"),
]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLEEP_", "NATS_"))}
    return {**clean, "PYTHONPATH": str(ROOT), **extra}


async def cli(*args: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = await anyio.run_process(
        [sys.executable, "-m", "fleep_async", *args], env=environ or env(), check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_an_unreachable_nats_is_a_clear_error_and_exit_4(tmp_path: Path) -> None:
    url = f"nats://admin:s3cret@127.0.0.1:{free_port()}"
    with anyio.fail_after(WAIT):
        code, _, err = await cli("cluster", "status", "--nats", url)
        assert code == 4
        assert "cannot connect to NATS" in err
        code, _, err = await cli(
            "cluster",
            "poller",
            "--nats",
            url,
            environ=env(FLEEP_EMAIL="bot@example.com", FLEEP_PASSWORD="pw-secret"),
        )
    assert code == 4
    assert "cannot connect to NATS" in err
    assert "s3cret" not in err
    assert "pw-secret" not in err


async def test_cluster_commands_need_a_nats_url() -> None:
    with anyio.fail_after(WAIT):
        code, _, err = await cli("cluster", "status")
    assert code == 2
    assert "--nats" in err


async def test_a_bad_accounts_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "accounts.json"
    bad.write_text('[{"email": "a@example.com"}]')
    with anyio.fail_after(WAIT):
        code, _, err = await cli("cluster", "poller", "--nats", "nats://x", "--accounts", str(bad))
    assert code == 2
    assert "needs email and password" in err


async def wait_line(process: anyio.abc.Process, text: str, log: list[str]) -> None:
    assert process.stderr is not None
    async for chunk in TextReceiveStream(process.stderr):
        log.append(chunk)
        if text in "".join(log):
            return
    raise AssertionError(f"{text!r} never printed:\n{''.join(log)}")


async def until(predicate: Callable[[], Awaitable[bool]]) -> None:
    while not await predicate():
        await anyio.sleep(0.05)


async def test_one_poller_process_serves_many_accounts_and_status_shows_them(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, tmp_path: Path
) -> None:
    fake = fake_server.fake
    human = fake.create_account("human@example.com", "pw", "Human")
    bots = [fake.create_account(f"bot{i}@example.com", "pw", f"Bot {i}") for i in range(3)]
    conversations = [fake.create_conversation(human, f"c{i}", [b]) for i, b in enumerate(bots)]
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            [{"email": b.email, "password": "pw", "base_url": fake_server.base_url} for b in bots]
        )
    )
    accounts.chmod(0o600)
    log: list[str] = []
    nc = await connect(nats_cluster.urls)
    try:
        with anyio.fail_after(WAIT):
            process = await anyio.open_process(
                [
                    sys.executable,
                    "-m",
                    "fleep_async",
                    "cluster",
                    "poller",
                    "--nats",
                    nats_cluster.url,
                    "--accounts",
                    str(accounts),
                    "--lease-ttl",
                    "2",
                ],
                env=env(),
            )
            try:
                await wait_line(process, "3 account(s)", log)
                js = nc.jetstream()

                async def all_committed() -> bool:
                    code, out, _ = await cli(
                        "cluster", "status", "--nats", nats_cluster.url, "--json"
                    )
                    assert code == 0
                    report = json.loads(out)
                    return all(
                        report["accounts"].get(b.account_id, {}).get("horizon") for b in bots
                    )

                await until(all_committed)
                for cid in conversations:
                    await fake.post_as(human, cid, "hello")

                async def all_published() -> bool:
                    info = await js.stream_info(EVENTS_STREAM)
                    texts = 0
                    if info.state.messages == 0:
                        return False
                    for seq in range(info.state.first_seq, info.state.last_seq + 1):
                        msg = await js.get_msg(EVENTS_STREAM, seq)
                        record = orjson.loads(msg.data or b"{}")
                        texts += record.get("account_id") == human.account_id and (
                            record.get("mk_rec_type") == "message"
                        )
                    return texts == len(bots)

                await until(all_published)
                code, out, err = await cli("cluster", "status", "--nats", nats_cluster.url)
                assert code == 0, err
                holders = {
                    line.split(": ", 1)[1].rsplit(" (", 1)[0]
                    for line in out.splitlines()
                    if line.startswith("lease poller.")
                }
                assert len(holders) == 1  # one process holds all three accounts' leases
                for bot in bots:
                    assert f"lease poller.{bot.account_id}:" in out
                    assert f"account {bot.account_id}: committed horizon" in out
                assert "stream FLEEP_EVENTS:" in out
                assert "dead letters: 0" in out
            finally:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        assert process.returncode == 143
        # Stopped, it gave its leases back (a standby would take over at once, not after TTL).
        with anyio.fail_after(WAIT):
            code, out, _ = await cli("cluster", "status", "--nats", nats_cluster.url)
        assert code == 0
        assert "leases: none held" in out
    finally:
        await nc.close()


async def test_two_poller_processes_share_the_accounts_out(
    nats_cluster: NatsCluster, fake_server: FakeFleepServer, tmp_path: Path
) -> None:
    import nats.js.errors

    from fleep_async.cluster import ensure_buckets, ensure_stream, poller_lease_key

    fake = fake_server.fake
    human = fake.create_account("human@example.com", "pw", "Human")
    bots = [fake.create_account(f"bot{i}@example.com", "pw", f"Bot {i}") for i in range(4)]
    conversations = [fake.create_conversation(human, f"c{i}", [b]) for i, b in enumerate(bots)]
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            [{"email": b.email, "password": "pw", "base_url": fake_server.base_url} for b in bots]
        )
    )
    accounts.chmod(0o600)
    argv = [sys.executable, "-m", "fleep_async", "cluster", "poller", "--nats"]
    argv += [nats_cluster.url, "--accounts", str(accounts), "--lease-ttl", "1"]
    nc = await connect(nats_cluster.urls)
    processes: list[anyio.abc.Process] = []
    try:
        js = nc.jetstream()
        await ensure_stream(js)
        leases = (await ensure_buckets(js, lease_ttl=1.0)).leases

        async def holders() -> list[str | None]:
            found: list[str | None] = []
            for bot in bots:
                try:
                    entry = await leases.get(poller_lease_key(bot.account_id))
                except nats.js.errors.KeyNotFoundError:
                    found.append(None)
                    continue
                found.append(orjson.loads(entry.value or b"{}").get("holder"))
            return found

        async def spread(counts: list[int]) -> bool:
            now = await holders()
            if None in now:
                return False
            return sorted(now.count(h) for h in set(now)) == counts

        with anyio.fail_after(WAIT):
            first = await anyio.open_process(argv, env=env())
            processes.append(first)
            await until(lambda: spread([4]))  # alone, it takes every account
            second = await anyio.open_process(argv, env=env())
            processes.append(second)
            await until(lambda: spread([2, 2]))  # a second replica: two each
            for cid in conversations:
                await fake.post_as(human, cid, "after the handover")

            async def all_published() -> bool:
                info = await js.stream_info(EVENTS_STREAM)
                if info.state.messages == 0:
                    return False
                texts = set()
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    record = orjson.loads((await js.get_msg(EVENTS_STREAM, seq)).data or b"{}")
                    if record.get("account_id") == human.account_id:
                        texts.add((record.get("conversation_id"), record.get("message_nr")))
                return len(texts) == len(conversations)

            await until(all_published)
            assert await spread([2, 2])
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        await nc.close()
