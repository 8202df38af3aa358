"""P3: API calls: ``client.message.send`` against bare httpx posting identical bodies.

FakeFleep runs in a child process (uvicorn on loopback). In one event loop, four sides post the
same ``message/send`` body (``message``, a fresh ``client_req_id``, ``ticket``; the
``token_id`` cookie) to the same conversation, interleaved round by round:

- ``fleep httpx``: ``FleepClient.message.send`` (services, session, transport, result decoding
  into ``ConversationSyncResult``);
- ``bare httpx`` (the baseline): ``httpx.AsyncClient.post`` + ``orjson.loads``;
- ``fleep aiohttp``: ``FleepClient`` over :func:`fleep_async._aiohttp.aiohttp_transport`;
- ``bare aiohttp`` (the aiohttp baseline): ``aiohttp.ClientSession.post`` + ``orjson.loads``.

Each at concurrency 1 and 32. Each FleepClient side is compared with the bare client of its own
HTTP library: fleep httpx >= 0.9x bare httpx; fleep aiohttp >= 0.9x bare aiohttp (calls per
second, median of per-round ratios). How much faster aiohttp is than httpx belongs to aiohttp and
is reported beside, not claimed.

Run::

    python -m benchmarks.bench_api [--quick]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import anyio
import httpx
import orjson

from benchmarks._aharness import interleave, ratio_stats, run_concurrently
from benchmarks._harness import Stats
from benchmarks._report import BenchResult, Check, spread
from benchmarks._server import ServerProcess
from fleep_async import FleepClient
from fleep_async._aiohttp import aiohttp_transport

__all__ = ["BASELINE", "TARGET_FLEEP", "main", "run"]

TARGET_FLEEP = 0.9

#: side -> the bare client of the same HTTP library it is compared with
BASELINE = {
    "fleep httpx": "bare httpx",
    "bare httpx": "bare httpx",
    "fleep aiohttp": "bare aiohttp",
    "bare aiohttp": "bare aiohttp",
}

BOT = ("bot@example.com", "bot-password", "Bot")
HUMAN = ("human@example.com", "human-password", "Human")
TEXT = "the deploy is done, please review the *pull request* before lunch"

FULL: dict[str, Any] = {"calls": 1000, "rounds": 20, "concurrency": (1, 32)}
QUICK: dict[str, Any] = {"calls": 12, "rounds": 2, "concurrency": (1, 4)}

Sample = tuple[float, float, float]  # wall seconds, client CPU seconds, server CPU seconds


class _Bare:
    """A raw login plus the identical ``message/send`` request, over httpx or aiohttp."""

    def __init__(self, base_url: str, conversation_id: str) -> None:
        self.base_url = base_url
        self.url = f"{base_url}/api/message/send/{conversation_id}"
        self.ticket = ""
        self.headers: dict[str, str] = {}

    async def login_httpx(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            self.base_url + "/api/account/login",
            content=orjson.dumps({"email": BOT[0], "password": BOT[1]}),
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()
        self.ticket = orjson.loads(response.content)["ticket"]
        token = response.cookies["token_id"]
        http.cookies.clear()
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Cookie": f"token_id={token}",
        }

    def body(self) -> bytes:
        return orjson.dumps(
            {"message": TEXT, "client_req_id": str(uuid.uuid4()), "ticket": self.ticket}
        )

    async def send_httpx(self, http: httpx.AsyncClient) -> None:
        response = await http.post(self.url, content=self.body(), headers=self.headers)
        if response.status_code != 200:
            msg = f"bare httpx send failed: {response.status_code}"
            raise RuntimeError(msg)
        orjson.loads(response.content)

    async def send_aiohttp(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.url, data=self.body(), headers=self.headers) as response:
            content = await response.read()
            if response.status != 200:
                msg = f"bare aiohttp send failed: {response.status}"
                raise RuntimeError(msg)
        orjson.loads(content)


def _sampler(
    server: ServerProcess, call: Callable[[], Awaitable[object]], calls: int, workers: int
) -> Callable[[], Awaitable[Sample]]:
    async def sample() -> Sample:
        cpu0, srv0, t0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
        await run_concurrently(call, calls, workers)
        wall = time.perf_counter() - t0
        return wall, time.process_time() - cpu0, server.cpu_seconds() - srv0

    return sample


async def _measure(server: ServerProcess, params: dict[str, Any]) -> BenchResult:
    conversation_id = server.admin(
        "create_conversation", owner=BOT[0], topic="P3 bench", members=[HUMAN[0]]
    )["conversation_id"]
    rounds: int = params["rounds"]
    batch = max(1, params["calls"] // rounds)
    bare = _Bare(server.base_url, conversation_id)
    rows: list[dict[str, Any]] = []
    checks: list[Check] = []
    async with (
        FleepClient(BOT[0], BOT[1], base_url=server.base_url) as fleep,
        FleepClient(
            BOT[0],
            BOT[1],
            base_url=server.base_url,
            transport=aiohttp_transport(),
            poll_transport=aiohttp_transport(),
        ) as fleep_aio,
        httpx.AsyncClient() as http,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
    ):
        await bare.login_httpx(http)

        async def fleep_send() -> None:
            await fleep.message.send(conversation_id, message=TEXT)

        async def fleep_aio_send() -> None:
            await fleep_aio.message.send(conversation_id, message=TEXT)

        async def bare_httpx() -> None:
            await bare.send_httpx(http)

        async def bare_aiohttp() -> None:
            await bare.send_aiohttp(session)

        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "fleep httpx": fleep_send,
            "bare httpx": bare_httpx,
            "fleep aiohttp": fleep_aio_send,
            "bare aiohttp": bare_aiohttp,
        }
        for workers in params["concurrency"]:
            sides = {name: _sampler(server, call, batch, workers) for name, call in calls.items()}
            samples = await interleave(sides, rounds=rounds, warmup=1)
            walls = {name: [s[0] for s in got] for name, got in samples.items()}
            for name, got in samples.items():
                throughput = Stats.of([batch / s[0] for s in got])
                # Throughput ratio side/bare = bare's time / side's time, per round.
                baseline = BASELINE[name]
                ratio = ratio_stats(walls[baseline], walls[name])
                vs_httpx = ratio_stats(walls["bare httpx"], walls[name])
                rows.append(
                    {
                        "concurrency": workers,
                        "side": name,
                        "calls/s": round(throughput.median, 1),
                        "calls/s p10..p90": f"{throughput.p10:.0f}..{throughput.p90:.0f}",
                        "baseline": baseline,
                        "vs baseline min / median / max": spread(ratio),
                        "vs bare httpx (median)": round(vs_httpx.median, 3),
                        "client CPU us/call": round(
                            Stats.of([s[1] / batch for s in got]).median * 1e6, 1
                        ),
                        "server CPU us/call": round(
                            Stats.of([s[2] / batch for s in got]).median * 1e6, 1
                        ),
                    }
                )
                if name.startswith("fleep"):
                    checks.append(
                        Check.of_ratio(
                            f"{name}/{baseline} calls/s, concurrency {workers}",
                            ratio,
                            ">=",
                            TARGET_FLEEP,
                        )
                    )
    notes = []
    for workers in params["concurrency"]:
        cpu = {
            row["side"]: row["client CPU us/call"] for row in rows if row["concurrency"] == workers
        }
        notes.append(
            f"Concurrency {workers}: client CPU per call: fleep httpx "
            f"{cpu['fleep httpx']:.0f} us, bare httpx {cpu['bare httpx']:.0f} us, fleep aiohttp "
            f"{cpu['fleep aiohttp']:.0f} us, bare aiohttp {cpu['bare aiohttp']:.0f} us. Over "
            "aiohttp the transport hands JSON calls to aiohttp directly (no httpx client layer): "
            "the difference between fleep and bare is FleepClient's own work (service, session, "
            "transport checks, deadline, capped reading, result decoding into typed records)."
        )
    notes.append(
        "At concurrency 1 a call waits for the server's own CPU (FakeFleep on uvicorn's pure "
        "Python h11 server, one core), which is the same for every side and caps the ratios."
    )
    return BenchResult(
        id="P3",
        title="API calls",
        description=(
            "`client.message.send` (FleepClient: service, session, transport, result decoded "
            "into `ConversationSyncResult`) vs bare httpx posting the identical body + "
            "`orjson.loads`, to FakeFleep served by uvicorn in a separate process. Also "
            "FleepClient over the optional aiohttp transport (`fleep_async._aiohttp."
            "aiohttp_transport()`), and bare aiohttp for reference. Ratios are calls/s of "
            "the side over the bare client of its own HTTP library (bare httpx, bare aiohttp), "
            "median of per-round ratios with their min and max."
        ),
        checks=checks,
        tables={"message/send calls": rows},
        notes=notes,
        params={**params, "concurrency": list(params["concurrency"]), "calls_per_sample": batch},
    )


def run(*, quick: bool = False) -> BenchResult:
    """Run P3 (``quick``: tiny sizes) and return its result."""
    params = QUICK if quick else FULL
    started = time.perf_counter()
    with ServerProcess(accounts=[BOT, HUMAN], hold_seconds=30.0) as server:
        result = anyio.run(_measure, server, params)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> BenchResult:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    return result


if __name__ == "__main__":
    main()
