"""Fleep message markup: the server's XML (``<msg><p>..</p></msg>``) to plain text.

:func:`xml_to_text` follows the reference client's algorithm (paragraphs, line breaks, skipped
``<file>`` and optionally ``<q>`` contents, ``flp``/``fls`` prefix and suffix attributes).
Clients send plain text and the server renders the XML; FakeFleep's renderer
(``fleep_async.testing._world.render``) plays the server's part.

The parser is a small hand-written tokenizer over one compiled regular expression, not
``xml.sax``/``expat``, because:

* it has no DTD machinery at all: ``<!DOCTYPE``/``<!ENTITY`` declarations are skipped, and only
  the five predefined entities and numeric character references are decoded. Nothing else is
  ever expanded (no billion laughs, no external entities);
* message bodies are small and sometimes not well-formed (truncated, stray ``&`` or ``<``). The
  tokenizer is tolerant, so malformed input degrades to tag-stripped, entity-decoded text instead
  of an all-or-nothing parse error; there is a single code path and it never raises;
* every pattern is linear in the input, the input is capped at :data:`MAX_INPUT_CHARS` and the
  open-element stack at :data:`MAX_DEPTH`, so time and memory are bounded.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_DEPTH", "MAX_INPUT_CHARS", "file_keys", "xml_to_text"]

#: Longer inputs are truncated to this many characters before parsing.
MAX_INPUT_CHARS: Final = 1 << 20
#: Elements nested deeper than this are treated as transparent (their text is kept).
MAX_DEPTH: Final = 256

# One token per match; text is whatever lies between matches. Groups: 1 end-tag name,
# 2 start-tag name, 3 start-tag attributes (with a trailing "/" when self-closing), 4 CDATA text.
# Attribute text is "[^<>]*" and the DOCTYPE internal subset "[^\]]*": no nested quantifiers,
# so a hostile input cannot trigger catastrophic backtracking.
_TOKEN_RE: Final = re.compile(
    r"<(?:"
    r"/\s*([A-Za-z_][^\s/<>]*)\s*>"
    r"|([A-Za-z_][^\s/<>]*)([^<>]*)>"
    r"|!\[CDATA\[(.*?)(?:\]\]>|\Z)"
    r"|!--.*?(?:-->|\Z)"
    r"|![Dd][Oo][Cc][Tt][Yy][Pp][Ee][^\[>]*(?:\[[^\]]*\]?)?[^>]*>?"
    r"|[!?][^>]*>?"
    r")",
    re.S,
)
_ATTR_RE: Final = re.compile(r"""([^\s=/<>"']+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>/]+))""")
_ENTITY_RE: Final = re.compile(r"&(?:#[xX]([0-9A-Fa-f]{1,8})|#([0-9]{1,9})|(lt|gt|amp|quot|apos));")
_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(m: re.Match[str]) -> str:
    name = m.group(3)
    if name is not None:
        return _NAMED[name]
    hex_digits = m.group(1)
    code = int(hex_digits, 16) if hex_digits is not None else int(m.group(2))
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _unescape(text: str) -> str:
    """Decode the five XML entities and numeric character references; leave anything else."""
    if "&" not in text:
        return text
    return _ENTITY_RE.sub(_entity, text)


def _attrs(raw: str) -> dict[str, str]:
    if "=" not in raw:
        return {}
    out: dict[str, str] = {}
    for m in _ATTR_RE.finditer(raw):
        value = m.group(2)
        if value is None:
            value = m.group(3) if m.group(3) is not None else m.group(4)
        out[m.group(1)] = _unescape(value)
    return out


def xml_to_text(xml: str, *, skip_quote: bool = False, no_markup: bool = False) -> str:
    """Convert a Fleep message body to plain text; never raises.

    ``<p>`` starts a new paragraph (a blank line) once there is text, ``<br/>`` is a newline,
    ``<file>`` contents are skipped (and ``<q>`` contents with ``skip_quote``), and unless
    ``no_markup`` the ``flp``/``fls`` attributes (the markup the author typed, such as ``*`` or
    ``url<<``) are put back around the element's text. A non-empty result ends with ``"\\n"``.

    >>> xml_to_text('<msg><p>Para<br/></p><p><q>&gt; Quote</q></p></msg>')
    'Para\\n\\n\\n> Quote\\n'

    Args:
        xml: the ``message`` field of a message record (well-formed or not).
        skip_quote: drop quoted text (``<q>``), e.g. quoted email replies.
        no_markup: do not restore the typed markup from ``flp``/``fls``.

    Returns:
        The text; ``""`` when there is none.
    """
    if not isinstance(xml, str) or not xml:
        return ""
    if len(xml) > MAX_INPUT_CHARS:
        xml = xml[:MAX_INPUT_CHARS]
    out: list[str] = []
    emit = out.append
    # Open elements: (name, suffix to emit on close or None, whether the element skips content).
    stack: list[tuple[str, str | None, bool]] = []
    # How many elements of each name are on the stack: a stray end tag is then dismissed without
    # scanning the stack (a flood of them under a deep stack would cost MAX_DEPTH steps each).
    open_names: dict[str, int] = {}
    skip = 0
    pos = 0
    for m in _TOKEN_RE.finditer(xml):
        start = m.start()
        if start > pos and not skip:
            emit(_unescape(xml[pos:start]))
        pos = m.end()
        end_name = m.group(1)
        if end_name is not None:
            # Close the innermost open element with this name and anything left open inside it.
            if open_names.get(end_name):
                while True:
                    open_name, suffix, skipping = stack.pop()
                    open_names[open_name] -= 1
                    if skipping:
                        skip -= 1
                    elif suffix and not skip:
                        emit(suffix)
                    if open_name == end_name:
                        break
            continue
        name = m.group(2)
        if name is None:
            cdata = m.group(4)
            if cdata and not skip:
                emit(cdata)
            continue
        raw_attrs = m.group(3)
        closed = raw_attrs.endswith("/")
        if name == "p":
            if out and not skip:
                emit("\n\n")
        elif name == "br":
            if not skip:
                emit("\n")
            continue
        starts_skip = name == "file" or (skip_quote and name == "q")
        prefix = suffix = None
        if not no_markup and not starts_skip and "fl" in raw_attrs:
            attrs = _attrs(raw_attrs)
            prefix = attrs.get("flp")
            suffix = attrs.get("fls")
        if prefix and not skip:
            emit(prefix)
        if closed:
            if suffix and not skip:
                emit(suffix)
        elif len(stack) < MAX_DEPTH:
            stack.append((name, suffix, starts_skip))
            open_names[name] = open_names.get(name, 0) + 1
            if starts_skip:
                skip += 1
    if pos < len(xml) and not skip:
        emit(_unescape(xml[pos:]))
    text = "".join(out)
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def file_keys(xml: str, *, include_deleted: bool = False) -> list[str]:
    """Return the ``key`` of every ``<file>`` element in a message body, in order.

    Args:
        xml: the message body.
        include_deleted: also return keys of deleted attachments (``is_deleted="true"``).
    """
    if not isinstance(xml, str) or "<file" not in xml:
        return []
    keys: list[str] = []
    for m in _TOKEN_RE.finditer(xml[:MAX_INPUT_CHARS]):
        if m.group(2) != "file":
            continue
        attrs = _attrs(m.group(3))
        key = attrs.get("key")
        if key and (include_deleted or attrs.get("is_deleted") != "true"):
            keys.append(key)
    return keys
