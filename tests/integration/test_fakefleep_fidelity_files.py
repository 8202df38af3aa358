"""FakeFleep's uploads and file records are shaped as the real server's (issue 12).

Facts from Fleep's public server tests, restated in our own words: the ``file/upload`` answer
of a JPEG carries only name, size, type, hash and URLs (no dimensions, no ``is_animated``); a
PNG's answer carries its width and height (no ``is_animated``); once attached, an image's
``file`` record carries dimensions, ``is_animated: false`` and thumbnails, and a PDF's file record
carries thumbnails too (of its first page), while other files get none.
"""

from __future__ import annotations

import struct

import pytest

from fleep_async.testing import RawUser
from tests.integration.conftest import of_type

pytestmark = pytest.mark.asyncio

UPLOAD_BASE_KEYS = {"file_id", "upload_url", "name", "size", "file_type", "file_sha256"}


def png(width: int, height: int) -> bytes:
    """The first bytes of a PNG: signature and IHDR, which is all a size reader needs."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4


def jpeg(width: int, height: int) -> bytes:
    """A JPEG's start and frame header (SOF0), which carries its size."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9" + b"\x00" * 8


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def test_jpeg_upload_answer_has_no_dimensions_nor_is_animated(alice: RawUser) -> None:
    entry = await alice.upload("photo.jpg", jpeg(40, 30), "image/jpeg")
    assert entry["file_type"] == "image/jpeg"
    assert set(entry) == UPLOAD_BASE_KEYS


async def test_png_upload_answer_has_its_dimensions_but_no_is_animated(alice: RawUser) -> None:
    entry = await alice.upload("diagram.png", png(7, 5), "image/png")
    assert entry["file_type"] == "image/png"
    assert set(entry) == UPLOAD_BASE_KEYS | {"width", "height"}
    assert (entry["width"], entry["height"]) == (7, 5)


async def test_attached_jpeg_file_record_has_dimensions_not_animated_and_thumbnails(
    alice: RawUser, conv: str
) -> None:
    entry = await alice.upload("photo.jpg", jpeg(40, 30), "image/jpeg")
    sent = await alice.call(f"message/store/{conv}", {"attachments": [entry["upload_url"]]})
    rec = of_type(sent["stream"], "file")[0]
    assert (rec["width"], rec["height"], rec["is_animated"]) == (40, 30, False)
    assert rec["thumb_url_50"]
    assert rec["thumb_url_100"]


async def test_attached_pdf_file_record_has_thumbnails_but_no_dimensions(
    alice: RawUser, conv: str
) -> None:
    entry = await alice.upload("paper.pdf", PDF, "application/pdf")
    assert set(entry) == UPLOAD_BASE_KEYS
    sent = await alice.call(f"message/store/{conv}", {"attachments": [entry["upload_url"]]})
    rec = of_type(sent["stream"], "file")[0]
    assert rec["file_type"] == "application/pdf"
    assert rec["thumb_url_50"]
    assert rec["thumb_url_100"]
    assert (rec["width"], rec["height"], rec["is_animated"]) == (None, None, None)


async def test_other_attachments_have_no_thumbnails(alice: RawUser, conv: str) -> None:
    entry = await alice.upload("notes.txt", b"hello")
    assert entry["file_type"] == "application/octet-stream"
    sent = await alice.call(f"message/store/{conv}", {"attachments": [entry["upload_url"]]})
    rec = of_type(sent["stream"], "file")[0]
    assert "thumb_url_50" not in rec
    assert "thumb_url_100" not in rec
