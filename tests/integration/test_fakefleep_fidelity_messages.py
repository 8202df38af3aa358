"""FakeFleep's messages, message events and downloads answer as the real server does (issue 12).

Facts from Fleep's public server tests (its message-event, file-range and task specs), restated
in our own words and calls; each test is named after the real behaviour.
"""

from __future__ import annotations

import os
import re
import struct

import httpx
import pytest

from fleep_async._converter import parse_record
from fleep_async.models import UnknownRecord
from fleep_async.testing import FakeFleep, RawUser
from tests.integration.conftest import Record, client_event, of_type, store_events

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
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
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


# ------------------------------------------------------------------ image metadata


def jpeg(width: int, height: int, orientation: int | None = None, order: str = ">") -> bytes:
    """A JPEG's start, an optional EXIF block with the orientation tag, and its frame header."""
    exif = b""
    if orientation is not None:
        mark = b"MM" if order == ">" else b"II"
        ifd = struct.pack(order + "H", 1) + struct.pack(order + "HHI", 0x0112, 3, 1)
        ifd += struct.pack(order + "H", orientation) + b"\x00\x00" + struct.pack(order + "I", 0)
        tiff = mark + struct.pack(order + "HI", 42, 8) + ifd
        body = b"Exif\x00\x00" + tiff
        exif = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x11\x00"
    return b"\xff\xd8" + exif + sof + b"\xff\xd9" + b"\x00" * 8


async def test_a_jpeg_file_record_carries_its_exif_orientation(alice: RawUser, conv: str) -> None:
    upright = await attached_file(alice, conv, "a.jpg", jpeg(40, 30, orientation=1))
    turned = await attached_file(alice, conv, "b.jpg", jpeg(40, 30, orientation=6, order="<"))
    plain = await attached_file(alice, conv, "c.jpg", jpeg(40, 30))
    text = await attached_file(alice, conv, "d.txt", b"hello")
    assert (upright["orientation"], turned["orientation"]) == (1, 6)
    assert plain["orientation"] is None
    assert text["orientation"] is None


async def test_a_tall_image_gets_a_575_pixel_thumbnail(
    http: httpx.AsyncClient, alice: RawUser, conv: str
) -> None:
    tall = await attached_file(alice, conv, "tall.jpg", jpeg(566, 800))
    wide = await attached_file(alice, conv, "wide.jpg", jpeg(680, 573))
    assert "thumb_url_575" not in wide
    assert {"thumb_url_50", "thumb_url_100"} <= set(wide)
    got = await http.get(tall["thumb_url_575"], headers=alice.cookie_header)
    assert got.status_code == 200


# ------------------------------------------------------------------ message events


async def test_done_notifications_are_switched_by_events_with_compact_system_messages(
    alice: RawUser, conv: str
) -> None:
    on = await store_events(
        alice, client_event("conv:enable_done_notifications", 1, conversation_id=conv)
    )
    assert of_type(on, "request")[0]["status_code"] == 200
    assert of_type(on, "conv")[-1]["has_done_notifications"] is True
    (notice,) = of_type(on, "message")
    assert notice["mk_message_type"] == "enable_done_notifs"
    assert notice["mk_message_state"] == "urn:fleep:message:mk_message_state:system"
    assert notice["message"] == '{"sysmsg_text":"{author} enabled task notifications."}'
    off = await store_events(
        alice, client_event("conv:disable_done_notifications", 2, conversation_id=conv)
    )
    assert of_type(off, "conv")[-1]["has_done_notifications"] is False
    assert of_type(off, "message")[0]["mk_message_type"] == "disable_done_notifs"


async def test_completing_a_task_with_done_notifications_on_posts_task_completed(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    await store_events(
        alice, client_event("conv:enable_done_notifications", 1, conversation_id=conv)
    )
    todo = await store_events(
        alice, client_event("message:add_todo", 2, conversation_id=conv, message="t")
    )
    nr = of_type(todo, "request")[0]["identifier"]["message_nr"]
    done = await store_events(
        alice, client_event("message:set_done", 3, conversation_id=conv, message_nr=nr)
    )
    states = {m["mk_message_type"]: m for m in of_type(done, "message")}
    assert states["text"]["mk_message_state"] == "urn:fleep:message:mk_message_state:done"
    completed = states["task_completed"]
    assert completed["message"] == (
        '{"task_message_nr":' + str(nr) + ',"sysmsg_text":"{author} completed a task."}'
    )
    # The other member sees the notice in the flow too.
    bob_messages = [m["mk_message_type"] for m in fake.messages(conv)]
    assert bob_messages.count("task_completed") == 1
    # Without notifications a completed task posts nothing.
    await store_events(
        alice, client_event("conv:disable_done_notifications", 4, conversation_id=conv)
    )
    todo2 = await store_events(
        alice, client_event("message:add_todo", 5, conversation_id=conv, message="u")
    )
    nr2 = of_type(todo2, "request")[0]["identifier"]["message_nr"]
    done2 = await store_events(
        alice, client_event("message:set_done", 6, conversation_id=conv, message_nr=nr2)
    )
    assert [m["mk_message_type"] for m in of_type(done2, "message")] == ["text"]


async def test_a_message_with_a_url_comes_with_a_preview_record(alice: RawUser, conv: str) -> None:
    sent = await store_events(
        alice,
        client_event("message:add_plain", 1, conversation_id=conv, message="see www.example.org"),
    )
    nr = of_type(sent, "request")[0]["identifier"]["message_nr"]
    (preview,) = of_type(sent, "preview")
    assert (preview["conversation_id"], preview["message_nr"]) == (conv, nr)
    assert preview["attached_url"] == "http://www.example.org"
    plain = await store_events(
        alice, client_event("message:add_plain", 2, conversation_id=conv, message="no")
    )
    assert of_type(plain, "preview") == []
    # Switching the preview off marks the message and drops its preview.
    off = await store_events(
        alice, client_event("message:disable_preview", 3, conversation_id=conv, message_nr=nr)
    )
    assert of_type(off, "message")[0]["is_url_preview_disabled"] is True
    assert of_type(off, "preview") == []


async def test_disabling_url_previews_posts_a_system_message_and_marks_new_messages(
    alice: RawUser, conv: str
) -> None:
    stored = await alice.call(f"conversation/store/{conv}", {"is_url_preview_disabled": True})
    headers = [stored.get("header"), *of_type(stored.get("stream", []), "conv")]
    assert any(h and h.get("is_url_preview_disabled") is True for h in headers)
    _, records = await alice.drain(0)
    notice = [m for m in of_type(records, "message") if m["mk_message_type"] == "no_url_previews"]
    assert len(notice) == 1
    sent = await store_events(
        alice, client_event("message:add_plain", 1, conversation_id=conv, message="www.example.org")
    )
    assert of_type(sent, "message")[0]["is_url_preview_disabled"] is True
    assert of_type(sent, "preview") == []


async def test_task_sections_are_added_one_below_another_renamed_and_a_repeat_adds_nothing(
    alice: RawUser, conv: str
) -> None:
    first = await store_events(
        alice, client_event("section:task:add", 1, conversation_id=conv, section_name="A")
    )
    request = of_type(first, "request")[0]
    (section,) = of_type(first, "section")
    assert request["identifier"] == {"conversation_id": conv, "section_id": section["section_id"]}
    assert section == {
        "mk_rec_type": "section",
        "conversation_id": conv,
        "section_id": section["section_id"],
        "name": "A",
        "mk_section_type": "urn:fleep:section:mk_section_type:task",
        "mk_section_subtype": "urn:fleep:section:mk_section_subtype:user",
        "weight": 2**32 - 65536,
        "is_deleted": False,
    }
    repeat = await store_events(
        alice, client_event("section:task:add", 1, conversation_id=conv, section_name="B")
    )
    assert of_type(repeat, "section") == [section]
    second = await store_events(
        alice, client_event("section:task:add", 2, conversation_id=conv, section_name="C")
    )
    assert of_type(second, "section")[0]["weight"] == 2**32 - 2 * 65536
    renamed = await store_events(
        alice,
        client_event(
            "section:task:rename",
            3,
            conversation_id=conv,
            section_id=section["section_id"],
            section_name="A2",
        ),
    )
    assert of_type(renamed, "section")[0]["name"] == "A2"
    unknown = await store_events(
        alice,
        client_event(
            "section:task:rename",
            4,
            conversation_id=conv,
            section_id="00000000-0000-4000-8000-000000000000",
            section_name="x",
        ),
    )
    assert of_type(unknown, "request")[0]["status_code"] == 430


async def test_every_event_answer_record_decodes_strictly_with_the_client_types(
    alice: RawUser, conv: str
) -> None:
    stream = await store_events(
        alice,
        client_event("conv:enable_done_notifications", 1, conversation_id=conv),
        client_event("message:add_todo", 2, conversation_id=conv, message="www.example.org"),
        client_event("section:task:add", 3, conversation_id=conv, section_name="S"),
    )
    nr = of_type(stream, "request")[1]["identifier"]["message_nr"]
    stream += await store_events(
        alice, client_event("message:set_done", 4, conversation_id=conv, message_nr=nr)
    )
    kinds = {r["mk_rec_type"] for r in stream}
    assert {"request", "message", "conv", "preview", "section"} <= kinds
    for record in stream:
        assert not isinstance(parse_record(record, strict=True), UnknownRecord), record


async def test_an_event_edit_after_the_delete_succeeds_and_leaves_the_message_deleted(
    fake: FakeFleep, alice: RawUser, conv: str
) -> None:
    # Fleep's editev spec: the edit's request record is a 200, the message stays deleted and
    # empty; changing a deleted message's kind (pin, todo) is still refused.
    nr = (await alice.call(f"message/store/{conv}", {"message": "soon gone"}))["result_message_nr"]
    await alice.call(f"message/delete/{conv}", {"message_nr": nr})
    records = await store_events(
        alice,
        client_event("message:edit", 1, conversation_id=conv, message_nr=nr, message="late"),
        client_event("message:set_pinned", 2, conversation_id=conv, message_nr=nr),
    )
    edit, pin = of_type(records, "request")
    assert (edit["status_code"], pin["status_code"]) == (200, 400)
    (kept,) = [m for m in fake.messages(conv) if m["message_nr"] == nr]
    assert (kept["message"], kept["mk_message_state"]) == (
        "",
        "urn:fleep:message:mk_message_state:deleted",
    )
