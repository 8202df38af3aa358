"""P5: many bots: 1000 accounts long-polling in one process against one FakeFleep.

FakeFleep runs in its own process with 1000 accounts. This process logs all of them in
(``FleepClient``) and starts each one's event engine (``client.run()``); once the server holds
all their long polls, it measures:

- **memory per idle poller**: (RSS with every poll parked - RSS before the clients existed) / N,
  after a full collection; target < 200 KB;
- **CPU while idle**: this process's CPU time over an idle window of a few seconds while the
  server holds every poll; target: close to zero (< 2% of one core).
- **CPU per completed re-poll** (mode ``re-poll``): a second FakeFleep with a 1 s hold, so every
  poll comes back empty after a second and the engine polls again; this process's CPU time over
  a window / the polls completed in it (target <= 0.5 ms). At Fleep's real hold (~90 s) this is
  what an idle bot costs per cycle. Measured twice: the default client (httpx), and clients
  whose polls go over the aiohttp transport; each against bare long-poll loops on the same HTTP
  library (one client each), whose cost is the floor for that library: bare httpx alone is
  above the target, bare aiohttp below it.

Modes:

- ``own pools``: each client makes its own connection pools (the default ``FleepClient``);
- ``shared aiohttp``: one :func:`fleep_async._aiohttp.aiohttp_transport` shared by every client
  as ``transport=`` and ``poll_transport=``;
- ``shared httpx`` (not in the full run, see ``FULL``): one ``httpx.AsyncHTTPTransport`` shared
  the same way.

Sharing is safe for sessions: the transport sends each account's ``token_id`` cookie per
request (the clients keep no cookie jar; the aiohttp transport's jar keeps nothing) and the ticket
travels in each body. The shared transport is wrapped (:class:`SharedTransport`) so that closing
one client does not close it for the others: ``httpx.AsyncClient.aclose`` closes its transport.

In the full run each mode runs in a fresh child process, so that no mode reuses memory another
one freed.

Run::

    python -m benchmarks.bench_bots [--quick]
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiohttp
import anyio
import anyio.abc
import httpx
import orjson

from benchmarks._report import BenchResult, Check, rss_bytes
from benchmarks._server import ServerProcess
from fleep_async import FleepClient
from fleep_async._aiohttp import aiohttp_transport
from fleep_async.testing.helpers import RawUser

__all__ = ["TARGET_CPU", "TARGET_KB", "TARGET_REPOLL_MS", "SharedTransport", "main", "run"]

TARGET_KB = 100.0
TARGET_CPU = 0.02  # fraction of one core
TARGET_REPOLL_MS = 0.5
REPOLL = "re-poll"
REPOLL_HOLD = 1.0

MODES = ("own pools", "shared httpx", "shared aiohttp")
# "shared httpx" is left out of the full run: httpcore's pool looks at every open connection on
# each request, so with 1000 parked polls in one pool the logins alone take minutes (measured:
# 200 s against 11 s with a pool per client). ``--modes`` runs it anyway.
FULL: dict[str, Any] = {
    "bots": 1000,
    "warmup": 8,
    "idle_seconds": 5.0,
    "modes": ("own pools", "shared aiohttp"),
    "isolate": True,
    "repoll_bots": 200,
    "repoll_seconds": 8.0,
}
# Quick: every mode in one child process (memory figures are meaningless at this size anyway).
QUICK: dict[str, Any] = {
    "bots": 6,
    "warmup": 2,
    "idle_seconds": 0.3,
    "modes": MODES,
    "isolate": False,
    "repoll_bots": 4,
    "repoll_seconds": 1.5,
}

PASSWORD = "bot-password"  # noqa: S105 - a FakeFleep test account


class SharedTransport(httpx.AsyncBaseTransport):
    """Lends one transport to many clients; only its owner closes it (:meth:`close_inner`)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the shared transport."""
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """A client closing: the shared transport stays open."""

    async def close_inner(self) -> None:
        """Close the shared transport (after every client is closed)."""
        await self.inner.aclose()


def _raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def _emails(group: int, n: int) -> list[str]:
    return [f"bot{group}-{i:04d}@example.com" for i in range(n)]


def _accounts(warmup: int, groups: Sequence[int]) -> list[tuple[str, str, str]]:
    """Accounts for the warm-up group 0 and groups 1.. of the given sizes."""
    emails = _emails(0, warmup)
    for group, size in enumerate(groups, start=1):
        emails += _emails(group, size)
    return [(email, PASSWORD, f"Bot {i}") for i, email in enumerate(emails)]


async def _release(server: ServerProcess, emails: list[str]) -> None:
    """End the sessions of ``emails`` so the server lets go of their parked polls.

    A client that stops cancels its poll, but the server holds it until the hold time runs out
    (as Fleep would); the next mode must not count those.
    """
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as http:

        async def expire(email: str) -> None:
            body = orjson.dumps({"action": "expire_session", "account": email})
            response = await http.post(
                "/_fakefleep/state", content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()

        emails_left = iter(emails)

        async def worker() -> None:
            for email in emails_left:
                await expire(email)

        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(worker)
    with anyio.fail_after(60):
        while (await anyio.to_thread.run_sync(server.state))["parked_polls"] > 0:
            await anyio.sleep(0.1)


async def _wait_parked(server: ServerProcess, n: int, timeout: float) -> float:
    started = time.perf_counter()
    with anyio.fail_after(timeout):
        while True:
            state = await anyio.to_thread.run_sync(server.state)
            if state["parked_polls"] >= n:
                return time.perf_counter() - started
            await anyio.sleep(0.2)


async def _mode(
    server: ServerProcess, mode: str, group: int, n: int, idle: float
) -> dict[str, Any]:
    """Start ``n`` pollers in ``mode``; measure RSS per poller and idle CPU; stop them."""
    shared: SharedTransport | None = None
    if mode == "shared httpx":
        limits = httpx.Limits(max_connections=n + 64, max_keepalive_connections=n + 64)
        shared = SharedTransport(httpx.AsyncHTTPTransport(limits=limits))
    elif mode == "shared aiohttp":
        shared = SharedTransport(aiohttp_transport(max_connections=n + 64))
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    clients = [
        FleepClient(
            email,
            PASSWORD,
            base_url=server.base_url,
            transport=shared,
            poll_transport=shared,
        )
        for email in _emails(group, n)
    ]
    try:
        async with anyio.create_task_group() as tg:
            limiter = anyio.CapacityLimiter(32)

            async def start_one(client: FleepClient) -> None:
                async with limiter:
                    await client.start()
                    await tg.start(partial(client.run, backlog="skip"))

            async with anyio.create_task_group() as starters:
                for client in clients:
                    starters.start_soon(start_one, client)
            ramp = time.perf_counter() - t0
            await _wait_parked(server, n, timeout=120)
            ready = time.perf_counter() - t0
            gc.collect()
            rss1 = rss_bytes()
            cpu0, srv0, w0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
            await anyio.sleep(idle)
            cpu1, srv1, w1 = time.process_time(), server.cpu_seconds(), time.perf_counter()
            parked_after = (await anyio.to_thread.run_sync(server.state))["parked_polls"]
            polls = sum(c.health.polls for c in clients if c.health is not None)
            for client in clients:
                client.stop(0)
    finally:
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()
            if shared is not None:
                await shared.close_inner()
            await _release(server, _emails(group, n))
    window = w1 - w0
    return {
        "mode": mode,
        "bots": n,
        "KB per idle poller": round((rss1 - rss0) / n / 1024, 1),
        "RSS before MB": round(rss0 / 2**20, 1),
        "RSS all parked MB": round(rss1 / 2**20, 1),
        "idle CPU % of a core": round((cpu1 - cpu0) / window * 100, 3),
        "server CPU % while idle": round((srv1 - srv0) / window * 100, 2),
        "idle window s": round(window, 2),
        "parked after window": parked_after,
        "polls answered (all bots)": polls,
        "logins + engines started s": round(ramp, 1),
        "all polls parked s": round(ready, 1),
    }


#: HTTP library of the re-poll sides
REPOLL_HTTP = ("httpx", "aiohttp")


def _repoll_client(email: str, base_url: str, http: str) -> FleepClient:
    if http == "aiohttp":
        return FleepClient(
            email,
            PASSWORD,
            base_url=base_url,
            transport=aiohttp_transport(),
            poll_transport=aiohttp_transport(),
        )
    return FleepClient(email, PASSWORD, base_url=base_url)


async def _repoll(
    server: ServerProcess, group: int, n: int, window: float, http: str = "httpx"
) -> dict[str, Any]:
    """``n`` pollers against a 1 s hold: this process's CPU per completed (empty) re-poll."""
    clients = [_repoll_client(email, server.base_url, http) for email in _emails(group, n)]

    def polls() -> int:
        return sum(c.health.polls for c in clients if c.health is not None)

    try:
        async with anyio.create_task_group() as tg:
            limiter = anyio.CapacityLimiter(32)

            async def start_one(client: FleepClient) -> None:
                async with limiter:
                    await client.start()
                    await tg.start(partial(client.run, backlog="skip"))

            async with anyio.create_task_group() as starters:
                for client in clients:
                    starters.start_soon(start_one, client)
            # Two full hold cycles first: every poller is in its steady re-poll cycle.
            await anyio.sleep(2 * REPOLL_HOLD + 0.5)
            polls0, cpu0, srv0, w0 = (
                polls(),
                time.process_time(),
                server.cpu_seconds(),
                time.perf_counter(),
            )
            await anyio.sleep(window)
            polls1, cpu1, srv1, w1 = (
                polls(),
                time.process_time(),
                server.cpu_seconds(),
                time.perf_counter(),
            )
            for client in clients:
                client.stop(0)
    finally:
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()
    wall = w1 - w0
    completed = polls1 - polls0
    expected = n * wall / REPOLL_HOLD
    return {
        "mode": f"{REPOLL} ({http})",
        "bots": n,
        "hold s": REPOLL_HOLD,
        "window s": round(wall, 2),
        "re-polls completed": completed,
        "re-polls if never late": round(expected),
        "CPU ms per re-poll": round((cpu1 - cpu0) / completed * 1e3, 4) if completed else 0.0,
        "client CPU % of a core": round((cpu1 - cpu0) / wall * 100, 2),
        "server CPU % of a core": round((srv1 - srv0) / wall * 100, 2),
        "CPU % of a core per 1000 bots at a 90 s hold": round(
            (cpu1 - cpu0) / completed * 1000 / 90 * 100, 3
        )
        if completed
        else 0.0,
    }


async def _repoll_bare(
    server: ServerProcess, group: int, n: int, window: float, http: str = "httpx"
) -> dict[str, Any]:
    """The baseline of the re-poll cycle: ``n`` bare httpx (or aiohttp) + orjson poll loops."""
    polls = 0

    async def aiohttp_loop(email: str, task_status: anyio.abc.TaskStatus[None]) -> None:
        nonlocal polls
        async with httpx.AsyncClient(base_url=server.base_url) as http_client:
            user = await RawUser.login(http_client, email, PASSWORD)
            sync = await user.call("account/sync", {})
        headers = {"Content-Type": "application/json", **user.cookie_header}
        horizon = sync["event_horizon"]
        url = server.base_url + "/api/account/poll"
        timeout = aiohttp.ClientTimeout(sock_connect=30.0, sock_read=60.0)
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout
        ) as session:
            task_status.started()
            while True:
                body = orjson.dumps({"event_horizon": horizon, "wait": True, "ticket": user.ticket})
                async with session.post(url, data=body, headers=headers) as response:
                    content = await response.read()
                horizon = orjson.loads(content)["event_horizon"]
                polls += 1

    async def loop(email: str, task_status: anyio.abc.TaskStatus[None]) -> None:
        nonlocal polls
        timeout = httpx.Timeout(30.0, read=60.0)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as http:
            user = await RawUser.login(http, email, PASSWORD)
            headers = {"Content-Type": "application/json", **user.cookie_header}
            sync = await user.call("account/sync", {})
            horizon = sync["event_horizon"]
            task_status.started()
            while True:
                response = await http.post(
                    "/api/account/poll",
                    content=orjson.dumps(
                        {"event_horizon": horizon, "wait": True, "ticket": user.ticket}
                    ),
                    headers=headers,
                )
                horizon = orjson.loads(response.content)["event_horizon"]
                polls += 1

    async with anyio.create_task_group() as tg:
        limiter = anyio.CapacityLimiter(32)

        async def start_one(email: str) -> None:
            async with limiter:
                await tg.start(aiohttp_loop if http == "aiohttp" else loop, email)

        async with anyio.create_task_group() as starters:
            for email in _emails(group, n):
                starters.start_soon(start_one, email)
        await anyio.sleep(2 * REPOLL_HOLD + 0.5)
        polls0, cpu0, w0 = polls, time.process_time(), time.perf_counter()
        await anyio.sleep(window)
        polls1, cpu1, w1 = polls, time.process_time(), time.perf_counter()
        tg.cancel_scope.cancel()
    completed = polls1 - polls0
    return {
        "side": f"bare {http} loop",
        "re-polls completed": completed,
        "CPU ms per re-poll": round((cpu1 - cpu0) / completed * 1e3, 4) if completed else 0.0,
        "client CPU % of a core": round((cpu1 - cpu0) / (w1 - w0) * 100, 2),
    }


async def _child(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Modes ``args.child`` (comma-separated) in this fresh process: warm up, measure each."""
    server = ServerProcess.attach(args.base_url, args.server_pid)
    modes = args.child.split(",")
    if modes == [REPOLL]:
        rows = []
        for http in REPOLL_HTTP:
            await _repoll(server, 0, args.warmup, 0.2, http)  # warm-up: code paths
            # The same accounts: the bare loops log in again (their own sessions).
            rows.append(await _repoll(server, args.group, args.bots, args.idle, http))
            rows.append(await _repoll_bare(server, args.group, args.bots, args.idle, http))
        return rows
    # Warm-up: code paths and allocator pools before the baseline RSS.
    await _mode(server, modes[0], 0, args.warmup, 0.05)
    return [
        await _mode(server, mode, args.group + i, args.bots, args.idle)
        for i, mode in enumerate(modes)
    ]


def _run_child(
    server: ServerProcess, modes: Sequence[str], group: int, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Measure ``modes`` (account groups from ``group`` on) in a child process."""
    if list(modes) == [REPOLL]:
        params = {**params, "bots": params["repoll_bots"], "idle_seconds": params["repoll_seconds"]}
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_bots",
        "--child",
        ",".join(modes),
        "--group",
        str(group),
        "--bots",
        str(params["bots"]),
        "--warmup",
        str(params["warmup"]),
        "--idle",
        str(params["idle_seconds"]),
        "--base-url",
        server.base_url,
        "--server-pid",
        str(server.pid),
    ]
    done = subprocess.run(cmd, capture_output=True, check=False, timeout=600)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-3000:]
        msg = f"P5 child for {modes} failed ({done.returncode}): {tail}"
        raise RuntimeError(msg)
    rows: list[dict[str, Any]] = orjson.loads(done.stdout.splitlines()[-1])
    return rows


def _measure(server: ServerProcess, params: dict[str, Any]) -> BenchResult:
    n: int = params["bots"]
    modes: tuple[str, ...] = params["modes"]
    if params["isolate"]:
        # One fresh process per mode, so that no mode reuses memory another one freed.
        rows = [
            row
            for group, mode in enumerate(modes, start=1)
            for row in _run_child(server, [mode], group, params)
        ]
    else:
        rows = _run_child(server, modes, 1, params)
    checks = []
    with ServerProcess(
        accounts=_accounts(params["warmup"], [params["repoll_bots"]]),
        hold_seconds=REPOLL_HOLD,
        start_timeout=120.0,
    ) as repoll_server:
        repoll, repoll_bare, repoll_aio, repoll_aio_bare = _run_child(
            repoll_server, [REPOLL], 1, params
        )
    for row, bare in ((repoll, repoll_bare), (repoll_aio, repoll_aio_bare)):
        row["bare loop CPU ms per re-poll"] = bare["CPU ms per re-poll"]
        row["vs bare loop"] = (
            round(row["CPU ms per re-poll"] / bare["CPU ms per re-poll"], 3)
            if bare["CPU ms per re-poll"]
            else 0.0
        )
    for row in rows:
        checks.append(
            Check(
                name=f"memory per idle poller ({row['mode']})",
                value=row["KB per idle poller"],
                op="<=",
                target=TARGET_KB,
                unit="KB",
            )
        )
        checks.append(
            Check(
                name=f"CPU while idle ({row['mode']})",
                value=row["idle CPU % of a core"],
                op="<=",
                target=TARGET_CPU * 100,
                unit="% of a core",
            )
        )
    checks.append(
        Check(
            name=f"CPU per completed re-poll ({REPOLL_HOLD:g} s hold, {repoll['bots']} bots)",
            value=repoll["CPU ms per re-poll"],
            op="<=",
            target=TARGET_REPOLL_MS,
            unit="ms",
        )
    )
    checks.append(
        Check(
            name=(
                f"CPU per completed re-poll, polls over aiohttp ({REPOLL_HOLD:g} s hold, "
                f"{repoll_aio['bots']} bots)"
            ),
            value=repoll_aio["CPU ms per re-poll"],
            op="<=",
            target=TARGET_REPOLL_MS,
            unit="ms",
        )
    )
    below = "below" if repoll_bare["CPU ms per re-poll"] <= TARGET_REPOLL_MS else "above"
    notes = [
        f"Re-poll cycle baseline over httpx: bare httpx + orjson long-poll loops (one client "
        f"each) use {repoll_bare['CPU ms per re-poll']} ms CPU per re-poll, {below} the "
        f"{TARGET_REPOLL_MS:g} ms target, against the engine's {repoll['CPU ms per re-poll']} ms "
        "(default client): the floor is the HTTP stack's own cost (httpx, httpcore, h11, the "
        "socket), which no client on it avoids.",
        f"Over aiohttp (`poll_transport=aiohttp_transport()`: the transport hands the poll to "
        f"aiohttp directly): the engine uses {repoll_aio['CPU ms per re-poll']} ms per re-poll, "
        f"bare aiohttp + orjson loops {repoll_aio_bare['CPU ms per re-poll']} ms.",
        f"Re-poll cycle: {repoll['re-polls completed']} re-polls completed in "
        f"{repoll['window s']} s ({repoll['re-polls if never late']} if every poll came back "
        f"exactly at the hold); the server used {repoll['server CPU % of a core']} % of a "
        f"core answering them, this process {repoll['client CPU % of a core']} %. "
        f"At Fleep's ~90 s hold, 1000 idle bots would cost "
        f"{repoll['CPU % of a core per 1000 bots at a 90 s hold']} % of a core in re-polls.",
    ]
    return BenchResult(
        id="P5",
        title="Many bots",
        description=(
            f"{n} accounts, each a `FleepClient` running its event engine (`client.run()`), "
            "long-polling one FakeFleep (separate process) from this process. Memory per idle "
            "poller = RSS growth from before the clients to all polls parked, / N. Idle CPU = "
            "this process's CPU time over a window while the server holds every poll. "
            f"Re-poll cycle: {params['repoll_bots']} bots against a second FakeFleep with a "
            f"{REPOLL_HOLD:g} s hold, so every poll returns empty after the hold and is made "
            "again; this process's CPU time / the re-polls completed in a window; once with "
            "the default client (httpx) and once with the polls over the aiohttp transport, "
            "each beside bare loops on the same HTTP library."
        ),
        checks=checks,
        tables={
            "pollers": rows,
            "re-poll cycle": [repoll, repoll_aio],
            "re-poll baseline": [repoll_bare, repoll_aio_bare],
        },
        params={**params, "modes": list(params["modes"])},
        notes=notes,
    )


def run(*, quick: bool = False, modes: Sequence[str] | None = None) -> BenchResult:
    """Run P5 (``quick``: tiny sizes; ``modes``: a subset of :data:`MODES`)."""
    params = dict(QUICK if quick else FULL)
    if modes is not None:
        unknown = set(modes) - set(MODES)
        if unknown:
            msg = f"unknown P5 mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}"
            raise ValueError(msg)
        params["modes"] = tuple(modes)
    n = params["bots"]
    # Each bot holds up to two sockets here (own pools) and one in the server.
    _raise_fd_limit(4 * n + 256)
    started = time.perf_counter()
    accounts = _accounts(params["warmup"], [n] * len(params["modes"]))
    with ServerProcess(accounts=accounts, hold_seconds=90.0, start_timeout=120.0) as server:
        result = _measure(server, params)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> BenchResult | None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_bots", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--modes", help=f"comma-separated, from: {', '.join(MODES)}")
    parser.add_argument("--child", metavar="MODE", help=argparse.SUPPRESS)
    parser.add_argument("--group", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bots", type=int, default=FULL["bots"], help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=FULL["warmup"], help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=float, default=FULL["idle_seconds"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _raise_fd_limit(4 * args.bots + 256)
        rows = anyio.run(_child, args)
        # The parent reads the last line.
        print(orjson.dumps(rows).decode())
        return None
    modes = None if args.modes is None else [m.strip() for m in args.modes.split(",")]
    result = run(quick=args.quick, modes=modes)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
