"""Plain text with Fleep markup -> Fleep message XML, as the server renders it.

Rules (docs/fakefleep.md, "Messages and text"; tests/unit/test_markup.py has the examples):

- ``& < >`` are escaped; the whole body is ``<msg>...</msg>``;
- blank lines separate paragraphs ``<p>...</p>``; a single newline is ``<br/>``;
- bare ``http(s)://`` URLs and ``www.`` hosts become ``<a href="...">`` (``www.`` gets
  ``http://``); ``url<<label>>`` becomes
  ``<a flp="url&lt;&lt;" fls="&gt;&gt;" href="url">label</a>``;
- ``*bold*`` -> ``<b flp="*" fls="*">bold</b>``, ``_italic_`` -> ``<i flp="_" fls="_">italic</i>``;
- attachments follow the text as ``<file key="...">name</file>`` (deleted ones as
  ``<file key="..." is_deleted="true"/>``);
- empty text without attachments is ``<msg><p/></msg>``.

Not rendered (passed through as text): emoticons, ``>`` quotes, code blocks, mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

_PARAGRAPH_SPLIT: Final = re.compile(r"\n[ \t]*\n+")
# A URL runs to the next whitespace or markup-significant char; trailing punctuation is
# trimmed afterwards (a sentence ending in a link keeps its full stop outside the link).
_URL: Final = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_LABEL: Final = re.compile(r"<<([^<>\n]+)>>")
_TRAILING: Final = ".,;:!?'\")]}"
_EMPHASIS: Final = re.compile(
    r"(?<![\w*])\*(?=\S)(?P<b>[^*\n]*?\S)\*(?![\w*])"
    r"|(?<![\w_])_(?=\S)(?P<i>[^_\n]*?\S)_(?![\w_])"
)


class FileRef(NamedTuple):
    """An attachment reference rendered after the text."""

    attachment_id: str
    file_name: str
    is_deleted: bool = False


def urls(text: str | None) -> list[str]:
    """The URLs a text links to, as rendered (``www.`` hosts get ``http://``), in order."""
    out = []
    for match in _URL.finditer(text or ""):
        url = match.group(0).rstrip(_TRAILING)
        if url.lower().startswith("www."):
            url = "http://" + url
        if url not in out:
            out.append(url)
    return out


def escape(text: str) -> str:
    """Escape text content."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(text: str) -> str:
    """Escape an attribute value (double-quoted)."""
    return escape(text).replace('"', "&quot;")


def render(text: str | None, attachments: Iterable[FileRef] = ()) -> str:
    """Render plain text (plus attachment refs) to Fleep message XML."""
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    parts: list[str] = []
    if body.strip():
        for para in _PARAGRAPH_SPLIT.split(body):
            lines = para.split("\n")
            parts.append("<p>" + "<br/>".join(_inline_with_links(line) for line in lines) + "</p>")
    files = [_file(ref) for ref in attachments]
    if not parts and not files:
        return "<msg><p/></msg>"
    return "<msg>" + "".join(parts) + "".join(files) + "</msg>"


def _file(ref: FileRef) -> str:
    key = escape_attr(ref.attachment_id)
    if ref.is_deleted:
        return f'<file key="{key}" is_deleted="true"/>'
    return f'<file key="{key}">{escape(ref.file_name)}</file>'


def _split_url(raw: str) -> tuple[str, str]:
    """Split a URL match into (url, trailing punctuation that belongs to the sentence)."""
    url = raw
    while url and url[-1] in _TRAILING:
        # Keep a closing parenthesis that balances one inside the URL (wiki-style links).
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url, raw[len(url) :]


def _inline_with_links(line: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        match = _URL.search(line, pos)
        if match is None:
            out.append(_inline(line[pos:]))
            return "".join(out)
        out.append(_inline(line[pos : match.start()]))
        raw = match.group(0)
        # "url<<label>>": the URL pattern stops before "<", so a label starts right after it.
        label = _LABEL.match(line, match.end())
        url, tail = (raw, "") if label is not None else _split_url(raw)
        href = url if url.lower().startswith(("http://", "https://")) else "http://" + url
        if label is not None:
            out.append(
                f'<a flp="{escape_attr(url + "<<")}" fls="{escape_attr(">>")}" '
                f'href="{escape_attr(href)}">{escape(label.group(1))}</a>'
            )
            pos = label.end()
        else:
            out.append(f'<a href="{escape_attr(href)}">{escape(url)}</a>')
            out.append(escape(tail))
            pos = match.end()


def _inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _EMPHASIS.finditer(text):
        out.append(escape(text[pos : match.start()]))
        if match.group("b") is not None:
            out.append(f'<b flp="*" fls="*">{_inline(match.group("b"))}</b>')
        else:
            out.append(f'<i flp="_" fls="_">{_inline(match.group("i"))}</i>')
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)
