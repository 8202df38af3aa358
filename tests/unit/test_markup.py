"""Fleep message XML <-> plain text (the rules: docs/fakefleep.md, "Messages and text")."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleep_async.markup import MAX_DEPTH, MAX_INPUT_CHARS, file_keys, xml_to_text
from fleep_async.testing._world.render import FileRef, render


def text_to_xml(text: str, attachments: list[tuple[str, str]] | tuple[()] = ()) -> str:
    """The server's rendering, as FakeFleep plays it."""
    return render(text, [FileRef(key, name) for key, name in attachments])


# --- the reference algorithm's doctests, verbatim --------------------------------------------


def test_reference_doctest_paragraph_break_and_quote() -> None:
    xml = "<msg><p>Para<br/></p><p><q>&gt; Quote</q></p></msg>"
    assert xml_to_text(xml) == "Para\n\n\n> Quote\n"


def test_reference_doctest_link_markup() -> None:
    xml = (
        '<msg><p><a flp="https://fleep.io&lt;&lt;" fls="&gt;&gt;" href="https://fleep.io">'
        "Fleep</a> is the best</p></msg>"
    )
    assert xml_to_text(xml) == "https://fleep.io<<Fleep>> is the best\n"
    assert xml_to_text(xml, no_markup=True) == "Fleep is the best\n"


# --- verbatim server renderings ----------------------------------------------------------------

VERBATIM = [
    ("msgSend1", (), "<msg><p>msgSend1</p></msg>"),
    (
        "First message with url: www.google.com",
        (),
        '<msg><p>First message with url: <a href="http://www.google.com">www.google.com</a>'
        "</p></msg>",
    ),
    (
        "",
        [("I4dpFlmQSXq1stnB1kvi3w", "avatar1.jpg")],
        '<msg><file key="I4dpFlmQSXq1stnB1kvi3w">avatar1.jpg</file></msg>',
    ),
    (
        "fileUploadAndSend",
        [("k1", "example1.txt"), ("k2", "example2.txt")],
        '<msg><p>fileUploadAndSend</p><file key="k1">example1.txt</file>'
        '<file key="k2">example2.txt</file></msg>',
    ),
    ("", (), "<msg><p/></msg>"),
]


@pytest.mark.parametrize(("text", "attachments", "xml"), VERBATIM)
def test_text_to_xml_matches_the_server_examples(
    text: str, attachments: list[tuple[str, str]], xml: str
) -> None:
    assert text_to_xml(text, attachments) == xml


@pytest.mark.parametrize(
    ("xml", "text"),
    [
        ("<msg><p>msgSend1</p></msg>", "msgSend1\n"),
        (VERBATIM[1][2], "First message with url: www.google.com\n"),
        ('<msg><file key="I4dp">avatar1.jpg</file></msg>', ""),
        (VERBATIM[3][2], "fileUploadAndSend\n"),
        ("<msg><p/></msg>", ""),
        ("", ""),
        (
            '<msg><p>human <emo kind="esmile">:)</emo><br/></p><p>Happy Fleeping!</p></msg>',
            "human :)\n\n\nHappy Fleeping!\n",
        ),
        ('<msg><p>text</p><file key="abc" is_deleted="true"/></msg>', "text\n"),
        ("<msg><p>a</p><hr/><p>b</p></msg>", "a\n\nb\n"),
        (
            "<msg><p><b>bold</b> <i>it</i> <mark>hit</mark> <pre>code()</pre></p></msg>",
            "bold it hit code()\n",
        ),
        ('<msg><p>(We <i flp="_" fls="_">love</i> feedback.)</p></msg>', "(We _love_ feedback.)\n"),
        (
            "<msg><p>message via email</p><p><q>-- <br/>Helmo</q></p></msg>",
            "message via email\n\n-- \nHelmo\n",
        ),
    ],
)
def test_xml_to_text(xml: str, text: str) -> None:
    assert xml_to_text(xml) == text


def test_skip_quote_drops_quoted_text() -> None:
    xml = "<msg><p>message via email</p><p><q>-- <br/>Helmo</q></p></msg>"
    assert "Helmo" not in xml_to_text(xml, skip_quote=True)
    assert xml_to_text(xml, skip_quote=True).startswith("message via email")


def test_no_markup_drops_flp_and_fls() -> None:
    xml = '<msg><p><b flp="*" fls="*">bold</b> and <i flp="_" fls="_">it</i></p></msg>'
    assert xml_to_text(xml) == "*bold* and _it_\n"
    assert xml_to_text(xml, no_markup=True) == "bold and it\n"


def test_self_closing_element_emits_prefix_and_suffix() -> None:
    assert xml_to_text('<msg><p>a<x flp="[" fls="]"/>b</p></msg>') == "a[]b\n"


def test_file_keys() -> None:
    xml = (
        '<msg><p>x</p><file key="k1">a.txt</file><file key="k2" is_deleted="true"/>'
        "<file key='k3'>c.txt</file></msg>"
    )
    assert file_keys(xml) == ["k1", "k3"]
    assert file_keys(xml, include_deleted=True) == ["k1", "k2", "k3"]
    assert file_keys("<msg><p>no files</p></msg>") == []


# --- entities ------------------------------------------------------------------------------


def test_predefined_entities_and_character_references_are_decoded() -> None:
    xml = "<msg><p>&lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#X43; &#128512;</p></msg>"
    assert xml_to_text(xml) == "<>&\"' ABC \U0001f600\n"


def test_other_entities_stay_literal() -> None:
    assert (
        xml_to_text("<msg><p>&nbsp;&copy; &unknown; & x</p></msg>")
        == "&nbsp;&copy; &unknown; & x\n"
    )


def test_invalid_character_references_become_replacement_characters() -> None:
    assert xml_to_text("<msg><p>&#0;&#xD800;&#x110000;</p></msg>") == "\ufffd\ufffd\ufffd\n"


def test_entities_in_attributes_are_decoded() -> None:
    xml = '<msg><p><a flp="&#60;&amp;" fls="&apos;" href="x">t</a></p></msg>'
    assert xml_to_text(xml) == "<&t'\n"


# --- hostile and malformed input -----------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    "<!DOCTYPE lolz [\n"
    ' <!ENTITY lol "lol">\n'
    ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
    ' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n'
    ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
    ' <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">\n'
    ' <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">\n'
    ' <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">\n'
    ' <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">\n'
    ' <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">\n'
    ' <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">\n'
    "]>\n"
    "<msg><p>&lol9;</p></msg>"
)


def test_billion_laughs_is_not_expanded() -> None:
    start = time.perf_counter()
    text = xml_to_text(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0
    assert "lollol" not in text
    assert "&lol9;" in text
    assert "ENTITY" not in text


def test_external_entities_are_never_resolved() -> None:
    xml = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><msg><p>&e;</p></msg>'
    assert xml_to_text(xml) == "&e;\n"


def test_deep_nesting_is_bounded() -> None:
    depth = 200_000
    xml = "<msg><p>" + "<b>" * depth + "deep" + "</b>" * depth + "</p></msg>"
    start = time.perf_counter()
    assert xml_to_text(xml) == "deep\n"
    assert time.perf_counter() - start < 5.0


def test_nesting_beyond_the_limit_keeps_text_and_later_elements() -> None:
    xml = "<q>" * (MAX_DEPTH + 10) + "inner" + "</q>" * (MAX_DEPTH + 10) + "<p>after</p>"
    assert xml_to_text(xml) == "inner\n\nafter\n"


def test_oversized_input_is_truncated() -> None:
    xml = "<msg><p>" + "a" * (MAX_INPUT_CHARS * 2) + "</p></msg>"
    text = xml_to_text(xml)
    assert 0 < len(text) <= MAX_INPUT_CHARS + 1
    assert set(text) == {"a", "\n"}


def test_quadratic_patterns_stay_fast() -> None:
    # Unterminated tags, comments and declarations are the classic backtracking traps.
    nasty = [
        "<a" + " " * 100_000,
        "<!--" + "-" * 100_000,
        "<!DOCTYPE [" + "<" * 50_000,
        "<" * 100_000,
    ]
    for xml in nasty:
        start = time.perf_counter()
        xml_to_text(xml)
        assert time.perf_counter() - start < 2.0, xml[:12]


@pytest.mark.parametrize(
    ("xml", "text"),
    [
        ("<msg><p>unclosed <b>bold", "unclosed bold\n"),
        ("<msg><p>a < b && c > d</p></msg>", "a < b && c > d\n"),
        ("plain text, no markup", "plain text, no markup\n"),
        ("<msg><p>x</i></b></p></msg>", "x\n"),
        ("<msg><p>cdata <![CDATA[<b>raw</b>]]></p></msg>", "cdata <b>raw</b>\n"),
        ("<msg><!-- a comment --><p>t</p><?pi x?></msg>", "t\n"),
        ("<msg><p>a</p", "a</p\n"),
    ],
)
def test_malformed_input_degrades_to_stripped_decoded_text(xml: str, text: str) -> None:
    assert xml_to_text(xml) == text


def test_non_string_input_gives_empty_text() -> None:
    assert xml_to_text(None) == ""  # type: ignore[arg-type]
    assert file_keys(None) == []  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "<msg>", "</msg>", "<p>", "</p>", "<p/>", "<br/>", "<b>", "</b>", "<q>", "</q>",
        '<file key="k">', "</file>", '<a href="x" flp="&lt;" fls="&gt;">', "</a>", "<hr/>",
        "&amp;", "&lt;", "&#65;", "&#x;", "&", "<", ">", "<!--", "-->", "<![CDATA[", "]]>",
        "<!DOCTYPE", "[", "]", '"', "'", "=", "/", " ", "\n", "text", "é", "\U0001f600",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    result = xml_to_text(text)
    assert isinstance(result, str)
    assert result == "" or result.endswith("\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=60).map("".join))
def test_arbitrary_xmlish_strings_never_raise(xml: str) -> None:
    assert isinstance(xml_to_text(xml), str)
    assert isinstance(xml_to_text(xml, skip_quote=True, no_markup=True), str)
    assert isinstance(file_keys(xml), list)


_SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="<>&\"'"),
    max_size=20,
)


def _element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    tags = st.sampled_from(["p", "b", "i", "q", "pre", "mark", "a", "emo"])
    return st.builds(
        lambda tag, parts: f"<{tag}>{''.join(parts)}</{tag}>", tags, st.lists(children, max_size=4)
    )


_WELL_FORMED = st.recursive(
    _SAFE_TEXT | st.just("<br/>") | st.just("<hr/>"), _element, max_leaves=25
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WELL_FORMED, max_size=5))
def test_well_formed_input_leaves_no_tags(parts: list[str]) -> None:
    xml = "<msg>" + "".join(parts) + "</msg>"
    text = xml_to_text(xml)
    assert "<" not in text
    assert ">" not in text


_TYPED = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=6)
    | st.sampled_from(["\n", "\n\n", " ", "*", "_", "<<", ">>", "www.", "https://", "&lt;"]),
    max_size=25,
).map("".join)


def _normalised(text: str) -> str:
    # Blank lines (with any spaces on them) separate paragraphs; their exact form is lost, and
    # a body of only white space renders as an empty message.
    if not text.strip():
        return ""
    return re.sub(r"\n[ \t]*\n+", "\n\n", text.strip("\n"))


@settings(max_examples=400, deadline=None)
@given(_TYPED)
def test_rendered_text_converts_back_to_itself(text: str) -> None:
    expected = _normalised(text)
    assert xml_to_text(text_to_xml(text)) == (expected + "\n" if expected else "")
