"""FakeFleep served over a real socket: the URLs it gives work as given."""

from __future__ import annotations

import anyio
import pytest

from fleep_async import FleepClient
from fleep_async.testing import FakeFleep


@pytest.mark.asyncio
async def test_served_on_ipv6_loopback_the_base_url_brackets_the_host_and_works() -> None:
    fake = FakeFleep(hold_seconds=0.5, welcome=False)
    alice = fake.create_account("alice@example.com", "pw", "Alice")
    with anyio.fail_after(20):
        async with FakeFleep.serve(host="::1", port=0, fake=fake) as server:
            assert server.base_url == f"http://[::1]:{server.port}"
            assert server.base_url == fake.base_url
            assert server.chat_url.startswith(f"http://[::1]:{server.port}/")
            async with FleepClient("alice@example.com", "pw", base_url=server.base_url) as client:
                assert (await client.account.sync()).account_id == alice.account_id
