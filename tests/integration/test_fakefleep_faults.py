"""Fault injection: every kind, from Python and over the admin route, in-process and over a
real loopback socket; seeded chaos is reproducible and counted."""

from __future__ import annotations

import json
from collections import Counter

import anyio
import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from fleep_async.testing.helpers import RawCallError
from tests.integration.conftest import of_type

pytestmark = pytest.mark.asyncio


async def test_status_faults_answer_json_or_html_with_retry_after_for_n_calls(
    fake: FakeFleep, alice: RawUser
) -> None:
    fake.faults.fail("account/sync", 500, times=2)
    fake.faults.fail("account/sync", 502)
    fake.faults.fail("account/sync", 429, retry_after=3)
    statuses = []
    for _ in range(5):
        response = await alice.raw("account/sync")
        statuses.append(response.status_code)
        if response.status_code == 500:
            assert response.json()["error_id"] == "fakefleep_fault"
        if response.status_code == 502:
            assert response.headers["content-type"] == "text/html"
            assert b"<html>" in response.content
        if response.status_code == 429:
            assert response.headers["retry-after"] == "3"
    assert statuses == [500, 500, 502, 429, 200]
    assert fake.faults.counts == Counter({"status_500": 2, "status_502": 1, "status_429": 1})
    assert fake.faults.pending == []


async def test_status_fault_with_commit_applies_the_change_but_loses_the_answer(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    fake.faults.fail("message/send", 503, commit=True)
    lost = await alice.raw(f"message/send/{conv}", {"message": "did it land?"})
    assert lost.status_code == 503
    assert [m["message"] for m in fake.messages(conv)][-1] == "<msg><p>did it land?</p></msg>"
    fake.faults.fail("message/send", 503)
    refused = await alice.raw(f"message/send/{conv}", {"message": "no"})
    assert refused.status_code == 503
    assert len(fake.messages(conv)) == 2


async def test_drop_in_process_raises_a_transport_error_after_committing(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    fake.faults.drop("message/send")
    with pytest.raises(httpx.RemoteProtocolError):
        await alice.raw(f"message/send/{conv}", {"message": "dropped answer"})
    assert fake.messages(conv)[-1]["message"] == "<msg><p>dropped answer</p></msg>"
    fake.faults.drop("message/send", commit=False)
    with pytest.raises(httpx.TransportError):
        await alice.raw(f"message/send/{conv}", {"message": "never stored"})
    assert len(fake.messages(conv)) == 2
    assert fake.faults.counts["drop"] == 2


async def test_truncated_and_malformed_bodies_are_complete_responses_with_bad_json(
    fake: FakeFleep, alice: RawUser
) -> None:
    fake.faults.truncate("account/sync")
    cut = await alice.raw("account/sync")
    assert cut.status_code == 200
    assert int(cut.headers["content-length"]) == len(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    fake.faults.malformed("account/sync")
    bad = await alice.raw("account/sync")
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.content)
    assert (await alice.raw("account/sync")).json()["account_id"] == alice.account_id


async def test_delay_holds_the_answer_for_the_given_time(fake: FakeFleep, alice: RawUser) -> None:
    fake.faults.delay("account/sync", seconds=0.2)
    start = anyio.current_time()
    with anyio.fail_after(5):
        response = await alice.raw("account/sync")
    assert response.status_code == 200
    assert anyio.current_time() - start >= 0.2
    assert fake.faults.counts["delay"] == 1


async def test_stream_faults_duplicate_reorder_and_inject_unknown_records(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    horizon, _ = await alice.drain(1)
    fake.faults.duplicate_records()
    empty = await alice.poll(horizon)  # an empty stream does not use the fault up
    assert empty["stream"] == []
    for text in ("one", "two", "three"):
        await alice.call(f"message/send/{conv}", {"message": text})
    clean = await alice.poll(horizon)
    duplicated = clean  # the fault hit this poll: records come twice, in place
    records = duplicated["stream"]
    assert records[0::2] == records[1::2]
    original = records[0::2]

    fake.faults.reorder_records()
    shuffled = (await alice.poll(horizon))["stream"]
    assert shuffled != original
    assert sorted(map(json.dumps, shuffled)) == sorted(map(json.dumps, original))

    fake.faults.unknown_records(record={"mk_rec_type": "hologram", "x": 1})
    extra = (await alice.poll(horizon))["stream"]
    assert of_type(extra, "hologram") == [{"mk_rec_type": "hologram", "x": 1}]
    assert [r for r in extra if r["mk_rec_type"] != "hologram"] == original
    assert (await alice.poll(horizon))["stream"] == original
    assert fake.faults.counts == Counter({"duplicate": 1, "reorder": 1, "unknown_record": 1})


async def test_expire_session_and_force_resync_reach_parked_polls(
    fake: FakeFleep, alice: RawUser, bob: RawUser, conv: str
) -> None:
    bob_horizon, _ = await bob.drain(1)
    alice_horizon, _ = await alice.drain(1)
    answers: dict[str, httpx.Response] = {}

    async def park(name: str, user: RawUser, horizon: int) -> None:
        answers[name] = await user.raw("account/poll", {"event_horizon": horizon, "wait": True})

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(park, "bob", bob, bob_horizon)
            tg.start_soon(park, "alice", alice, alice_horizon)
            await fake.wait_for(lambda: fake.parked_polls == 2)
            assert fake.faults.expire_session("bob@example.com") == 1
            fake.faults.force_resync(alice.account_id)
    assert answers["bob"].status_code == 401
    assert answers["alice"].json()["event_horizon"] == 0
    assert fake.faults.counts == Counter({"expire_session": 1, "force_resync": 1})


async def test_chaos_is_seeded_counted_and_stoppable() -> None:
    async def run(seed: int) -> tuple[list[int], Counter[str]]:
        fake = FakeFleep(hold_seconds=0.1, seed=seed)
        fake.create_account("a@example.com", "pw", "A")
        async with fake.http_client() as http:
            user = await RawUser.login(http, "a@example.com", "pw")
            fake.faults.chaos(rate=0.3, kinds=["status_500", "status_503", "malformed"])
            statuses = []
            for _ in range(60):
                response = await user.raw("account/sync")
                try:
                    ok = response.status_code == 200 and "account_id" in response.json()
                except json.JSONDecodeError:
                    ok = False
                statuses.append(0 if ok else response.status_code)
            fake.faults.chaos(rate=0)
            assert (await user.raw("account/sync")).status_code == 200
        return statuses, fake.faults.counts

    first, counts = await run(7)
    again, counts_again = await run(7)
    other, _ = await run(8)
    assert first == again
    assert counts == counts_again
    assert first != other
    injected = sum(1 for s in first if s)
    assert 5 <= injected <= 35
    assert sum(counts.values()) == injected
    assert set(counts) <= {"status_500", "status_503", "malformed"}
    with pytest.raises(ValueError, match="unknown kinds"):
        FakeFleep().faults.chaos(rate=0.1, kinds=["lightning"])


async def test_admin_routes_script_faults_and_state_over_http(
    fake: FakeFleep, http: httpx.AsyncClient
) -> None:
    made = await http.post(
        "/_fakefleep/state",
        json={"action": "create_account", "email": "ann@example.com", "password": "pw"},
    )
    assert made.status_code == 200
    ann = await RawUser.login(http, "ann@example.com", "pw")
    conv = (
        await http.post(
            "/_fakefleep/state",
            json={"action": "create_conversation", "owner": "ann@example.com", "topic": "t"},
        )
    ).json()["conversation_id"]
    posted = await http.post(
        "/_fakefleep/state",
        json={"action": "post", "account": "ann@example.com", "conversation_id": conv, "text": "x"},
    )
    assert posted.json() == {"message_nr": 2}
    spec = {"kind": "status", "endpoint": "account/sync", "status": 503, "times": 1}
    scripted = await http.post("/_fakefleep/faults", json=spec)
    assert scripted.json()["pending"][0]["status"] == 503
    assert (await ann.raw("account/sync")).status_code == 503
    listing = (await http.get("/_fakefleep/faults")).json()
    assert listing == {"counts": {"status_503": 1}, "pending": []}
    state = (await http.get("/_fakefleep/state")).json()
    # Ann, and the Fleep Support account every new account gets a dialog with.
    assert [a["email"] for a in state["accounts"]] == ["ann@example.com", "support@fleep.io"]
    made_conv = next(c for c in state["conversations"] if c["conversation_id"] == conv)
    assert made_conv["last_message_nr"] == 2
    bad = await http.post("/_fakefleep/faults", json={"kind": "meteor"})
    assert bad.status_code == 400
    expired = await http.post(
        "/_fakefleep/state", json={"action": "expire_session", "account": "ann@example.com"}
    )
    assert expired.json() == {"expired": 1}
    assert (await ann.raw("account/sync")).status_code == 401


async def test_drop_and_hold_over_a_real_socket() -> None:
    async with FakeFleep.serve(port=0, hold_seconds=5.0) as server:
        fake = server.fake
        fake.create_account("a@example.com", "pw", "A")
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.port > 0
        assert fake.base_url == server.base_url
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as http:
            user = await RawUser.login(http, "a@example.com", "pw")
            conv = (await user.call("conversation/create", {"topic": "t"}))["header"]
            hook = await user.call(f"conversation/create_hook/{conv['conversation_id']}")
            assert hook["hook_info"]["hook_url"].startswith(server.base_url + "/hook/")
            fake.faults.drop("account/sync")
            with anyio.fail_after(5), pytest.raises(httpx.RemoteProtocolError):
                await user.raw("account/sync")
            assert (await user.raw("account/sync")).status_code == 200

            fake.faults.hold_poll(0.5)
            horizon = fake.horizon("a@example.com")
            with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
                await http.post(
                    "/api/account/poll",
                    json={"ticket": user.ticket, "event_horizon": horizon, "wait": False},
                    headers=user.cookie_header,
                    timeout=httpx.Timeout(5.0, read=0.1),
                )
            assert fake.faults.counts["hold_poll"] == 1
            with pytest.raises(RawCallError) as not_found:
                await user.call("conversation/sync/00000000-0000-4000-8000-000000000000")
            assert not_found.value.status_code == 430
