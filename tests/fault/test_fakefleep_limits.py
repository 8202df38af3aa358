"""FakeFleep's own input limits: request bodies are capped (413), upload names stay one segment.

Before, FakeFleep accepted an 800 MB JSON body and a 600 MB upload (server peak 2.45 GB), and an
upload named ``../../../../x`` came back with the raw ``../`` segments in its ``upload_url``.
The caps are checked on the announced ``Content-Length`` (nothing read) and while the body
streams in (nothing held past the cap plus one chunk): these tests count the chunks the server
pulled from the client.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import anyio
import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.fault.conftest import GUARD

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CHUNKS = 64  # a 64 MiB body, offered one MiB at a time


@pytest.fixture
def anyio_backend() -> str:
    # asyncio only: on trio, httpx's request-body generator, left unfinished by the refusal,
    # is collected without aclose() and warns (the caps themselves are plain ASGI).
    return "asyncio"


class Body:
    """A request body produced on demand; counts the chunks the server pulled."""

    def __init__(self, chunks: int = CHUNKS, chunk: bytes = b" " * MiB) -> None:
        self.chunks = chunks
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


def capped_fake() -> FakeFleep:
    return FakeFleep(hold_seconds=0.2, seed=4, max_body_bytes=MiB, max_upload_bytes=2 * MiB)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json()["error_id"] == "request_too_large"
    assert "exceeds" in response.json()["error_message"]


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
async def test_a_json_body_over_the_cap_is_refused_while_streaming(announced: bool) -> None:
    fake = capped_fake()
    body = Body()
    headers = {"content-type": "application/json"}
    if announced:
        headers["content-length"] = str(CHUNKS * MiB)
    with anyio.fail_after(GUARD):
        async with fake.http_client() as http:
            response = await http.post("/api/account/login", content=body, headers=headers)
    assert_refused(response)
    # Announced: refused before reading; chunked: at the first chunk past the cap.
    assert body.pulled <= (0 if announced else 2)


async def test_an_upload_over_the_cap_is_refused_and_stores_nothing() -> None:
    fake = capped_fake()
    fake.create_account("alice@example.com", "pw", "Alice")
    with anyio.fail_after(GUARD):
        async with fake.http_client() as http:
            alice = await RawUser.login(http, "alice@example.com", "pw")
            small = await alice.upload("small.bin", b"x" * MiB)  # under the upload cap
            body = Body(chunks=CHUNKS)
            response = await http.put(
                "/api/file/upload/",
                params={"ticket": alice.ticket},
                content=body,
                headers={**alice.cookie_header, "content-type": "application/octet-stream"},
            )
    assert small["upload_url"]
    assert_refused(response)
    assert body.pulled <= 3
    assert len(fake.world.files) == 1  # only the small one


@pytest.mark.parametrize(
    "name", ["../../../../x", "..", "a/../../b", "..\\..\\win.ini", "q?x=1#frag", "%2e%2e%2fx"]
)
async def test_upload_names_never_put_raw_segments_in_the_upload_url(name: str) -> None:
    fake = FakeFleep(hold_seconds=0.2, seed=4)
    fake.create_account("alice@example.com", "pw", "Alice")
    with anyio.fail_after(GUARD):
        async with fake.http_client() as http:
            alice = await RawUser.login(http, "alice@example.com", "pw")
            entry = await alice.upload(name, b"data")
    url = urlsplit(entry["upload_url"])
    assert url.query == ""
    assert url.fragment == ""
    segments = url.path.split("/")
    assert len(segments) == 4  # "", "upload", the id, the name
    assert ".." not in segments
    assert "." not in segments
    assert posixpath.normpath(url.path) == url.path
    assert "/" not in unquote(segments[-1])
    assert "\\" not in unquote(segments[-1])
