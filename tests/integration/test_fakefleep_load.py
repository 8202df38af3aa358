"""1,000 long polls parked on one FakeFleep over real loopback sockets.

While they are parked, another client's ``message/send`` must be answered promptly, and the
one event must wake every parked poll. Synchronisation is by the fake's parked-poll count
(``fake.wait_for``), never by sleeping.
"""

from __future__ import annotations

import contextlib
import resource

import anyio
import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser

pytestmark = pytest.mark.asyncio

POLLS = 1000
ACCOUNTS = 20  # 50 concurrent polls per session: several polls on one session must all work
SEND_BUDGET_SECONDS = 2.0


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def test_a_thousand_parked_polls_do_not_slow_a_send_and_all_wake_on_it() -> None:
    # Each poll holds one client and one server socket.
    _raise_fd_limit(2 * POLLS + 512)
    async with FakeFleep.serve(port=0, hold_seconds=60.0) as server:
        fake = server.fake
        sender = fake.create_account("sender@example.com", "pw", "Sender")
        readers = [
            fake.create_account(f"reader{i}@example.com", "pw", f"Reader {i}")
            for i in range(ACCOUNTS)
        ]
        conv = fake.create_conversation(sender, "load", readers)
        per_client = POLLS // ACCOUNTS
        # One client (pool) per account: httpcore scans its whole pool on every request, so a
        # single 1,000-connection pool would make the *client* quadratic, not the server.
        limits = httpx.Limits(
            max_connections=per_client + 5, max_keepalive_connections=per_client + 5
        )
        timeout = httpx.Timeout(30.0)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=timeout)
                )
                for _ in readers
            ]
            other = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, timeout=timeout)
            )
            users = [
                await RawUser.login(client, r.email, "pw")
                for client, r in zip(clients, readers, strict=True)
            ]
            author = await RawUser.login(other, sender.email, "pw")
            horizons = {u.account_id: fake.horizon(u.account_id) for u in users}
            answers: list[dict[str, object]] = []

            async def park(user: RawUser) -> None:
                answers.append(await user.poll(horizons[user.account_id], wait=True))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for n in range(POLLS):
                        tg.start_soon(park, users[n % ACCOUNTS])
                    await fake.wait_for(lambda: fake.parked_polls == POLLS, timeout=45)

                    start = anyio.current_time()
                    with anyio.fail_after(SEND_BUDGET_SECONDS):
                        sent = await author.call(f"message/send/{conv}", {"message": "wake all"})
                    send_seconds = anyio.current_time() - start

            assert send_seconds < SEND_BUDGET_SECONDS
            assert fake.parked_polls == 0
            assert len(answers) == POLLS
            nr = sent["result_message_nr"]
            for answer in answers:
                stream = answer["stream"]
                assert isinstance(stream, list)
                woke_on = [r for r in stream if r["mk_rec_type"] == "message"]
                assert [r["message_nr"] for r in woke_on] == [nr]
