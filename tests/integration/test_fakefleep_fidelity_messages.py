"""FakeFleep's messages, message events and downloads answer as the real server does (issue 12).

Facts from Fleep's public server tests (its message-event, file-range and task specs), restated
in our own words and calls; each test is named after the real behaviour.
"""

from __future__ import annotations

import os
import re

import httpx
import pytest

from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import Record, of_type

pytestmark = pytest.mark.asyncio


async def attached_file(alice: RawUser, conv: str, name: str, data: bytes) -> Record:
    """Upload ``data`` as ``name``, post it in ``conv`` and return its ``file`` record."""
    entry = await alice.upload(name, data, "application/octet-stream")
    sent = await alice.call(f"message/store/{conv}", {"attachments": [entry["upload_url"]]})
    return of_type(sent["stream"], "file")[0]


# ------------------------------------------------------------------ downloads


async def test_a_file_url_joined_to_the_base_url_with_a_double_slash_downloads(
    fake: FakeFleep, http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    data = os.urandom(300)
    file_rec = await attached_file(alice, conv, "blob.bin", data)
    # Clients join "<base>/" and "/file/...": the front end merges the slashes.
    url = f"{fake.base_url}/{file_rec['file_url']}"
    assert "//file/" in url
    got = await http.get(url, headers=alice.cookie_header)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="blob.bin"'
    assert got.headers["content-security-policy"] == "default-src 'none'"
    assert re.fullmatch(r"private, max-age=\d+", got.headers["cache-control"])
    assert got.headers["accept-ranges"] == "bytes"


async def test_several_byte_ranges_answer_multipart_byteranges_with_a_length_per_part(
    http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    data = os.urandom(4096)
    file_rec = await attached_file(alice, conv, "ranges.bin", data)
    spans = [(0, 18), (200, 294), (4000, 4095)]
    wanted = ", ".join(f"{a}-{b}" for a, b in spans)
    got = await http.get(
        file_rec["file_url"], headers={**alice.cookie_header, "Range": f"bytes={wanted}"}
    )
    assert got.status_code == 206
    media, _, boundary = got.headers["content-type"].partition("; boundary=")
    assert media == "multipart/byteranges"
    body = got.content
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    parts = body[: -len(f"\r\n--{boundary}--\r\n")].split(f"--{boundary}\r\n".encode())[1:]
    seen = []
    for part in parts:
        head, _, rest = part.partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line
        )
        length = int(headers["Content-Length"])
        first, last = map(int, headers["Content-Range"].split(" ")[1].split("/")[0].split("-"))
        assert headers["Content-Range"].endswith(f"/{len(data)}")
        assert rest[:length] == data[first : last + 1]
        seen.append((first, last))
    assert seen == spans


async def test_a_range_past_the_end_is_not_satisfiable(
    http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    file_rec = await attached_file(alice, conv, "short.bin", b"0123456789")
    got = await http.get(
        file_rec["file_url"], headers={**alice.cookie_header, "Range": "bytes=50-60"}
    )
    assert got.status_code == 416
    assert got.headers["content-range"] == "bytes */10"
