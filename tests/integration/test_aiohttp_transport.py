"""The optional aiohttp transport: asyncio only, and no cookie leaks between accounts."""

from __future__ import annotations

import anyio
import pytest

from fleep_async import FleepClient, UsageError
from fleep_async._aiohttp import aiohttp_transport
from fleep_async.testing import FakeFleep


@pytest.mark.asyncio
async def test_accounts_sharing_one_aiohttp_transport_keep_their_own_sessions() -> None:
    fake = FakeFleep(hold_seconds=0.5)
    alice = fake.create_account("alice@example.com", "pw", "Alice")
    bob = fake.create_account("bob@example.com", "pw", "Bob")
    shared = aiohttp_transport()
    with anyio.fail_after(20):
        async with FakeFleep.serve(fake=fake) as server:
            # A host name, not an IP: aiohttp's default jar ignores cookies from IP addresses.
            base_url = server.base_url.replace("127.0.0.1", "localhost")
            a = FleepClient("alice@example.com", "pw", base_url=base_url, transport=shared)
            b = FleepClient("bob@example.com", "pw", base_url=base_url, transport=shared)
            await a.start()
            # Bob's login answer sets Bob's token_id cookie; a cookie jar in the shared
            # transport would send it with Alice's next call.
            await b.start()
            alice_session = a.session_state
            assert (await a.account.sync()).account_id == alice.account_id
            # Not rescued by a re-login after a 401 either: Alice's session is the same one.
            assert a.session_state == alice_session
            assert (await b.account.sync()).account_id == bob.account_id
            await a.aclose()
            await b.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_aiohttp_transport_refuses_trio_with_a_usage_error() -> None:
    client = FleepClient(base_url="https://fleep.test", transport=aiohttp_transport())
    with pytest.raises(UsageError, match="asyncio only"):
        await client.request("classificators", auth=False)
    await client.aclose()
