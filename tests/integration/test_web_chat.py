"""FakeFleep's web chat (``/chat/``) in a real browser: headless Chromium driven by Playwright.

A person logs in on the page, talks to DemoBot (the demo's own router, running as a real
``FleepClient`` over loopback), uploads and downloads files, and posts to a webhook. The page is
a Fleep client like any other: what it shows comes from ``account/poll``; the server's own
records are the independent check. A screenshot is kept in ``tests/artifacts/``.

Needs Debian's ``chromium`` at /usr/bin/chromium (``scripts/test`` installs it when run as root)
and the ``playwright`` package (the dev extra). Without them these tests fail and say why.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleep_async import FleepClient
from fleep_async.demo import PEOPLE, TOPIC, build_router
from fleep_async.markup import xml_to_text
from fleep_async.testing import FakeFleep, FakeFleepServer

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("FLEEP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # required as root (CI runs as root)
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start, and on a closed network its connections
    # are refused.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000  # each expect(): the bot's reply crosses two long polls on a shared machine
TEST_BUDGET = 120.0
NOTES = b"shopping list\nmilk\neggs\n"


@pytest.fixture
def async_playwright() -> Any:
    """Playwright's entry point, after checking that the browser is there (fails, never skips)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the web chat is tested in a real browser. "
            "`bash scripts/test` installs Debian's chromium package when run as root; otherwise "
            "run `apt-get install chromium` (or point FLEEP_TEST_CHROMIUM at a Chromium binary)."
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is missing ({exc}): pip install -e '.[dev]'")
    return async_playwright


@asynccontextmanager
async def demo_bot_server() -> AsyncIterator[FakeFleepServer]:
    """FakeFleep over loopback with DemoBot (the demo's router) listening, plus Alice."""
    async with FakeFleep.serve("127.0.0.1", 0, hold_seconds=5.0, seed=3) as server:
        fake = server.fake
        for email, password, name in (PEOPLE["bot"], PEOPLE["alice"]):
            fake.create_account(email, password, name)
        email, password, _ = PEOPLE["bot"]
        async with (
            FleepClient(email, password, base_url=server.base_url) as bot,
            anyio.create_task_group() as tg,
        ):
            bot.router.include_router(build_router(rng=random.Random(1)))
            run = functools.partial(bot.run, backlog="skip", dedup=True, min_poll_interval=0.05)
            await tg.start(run)  # returns once the bot listens
            yield server
            bot.stop(deadline=2.0)
            tg.cancel_scope.cancel()


@asynccontextmanager
async def chat_page(
    server: FakeFleepServer, async_playwright: Any
) -> AsyncIterator[tuple[Any, list[str]]]:
    """A fresh browser page on the chat, and its errors: any left at the end fail the test."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 800}, accept_downloads=True
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(server.base_url + "/chat/")
            yield page, errors
            assert errors == [], errors
        finally:
            await browser.close()


def bot_texts(fake: FakeFleep, conversation_id: str) -> list[str]:
    """What DemoBot posted, as the server stores it."""
    bot_id = fake.account(PEOPLE["bot"][0]).account_id
    return [
        xml_to_text(m["message"]).strip()
        for m in fake.messages(conversation_id)
        if m["account_id"] == bot_id and m["mk_message_type"] == "text" and not m.get("hook_key")
    ]


def message_from(page: Any, author: str, text: str | re.Pattern[str]) -> Any:
    """A message in the open conversation by ``author`` whose body matches ``text``."""
    body = page.locator(".msg-body", has_text=text)
    return page.locator("li.msg", has=page.locator(".author", has_text=author)).filter(has=body)


async def test_a_person_chats_with_demobot_in_the_browser(
    request: pytest.FixtureRequest, async_playwright: Any
) -> None:
    from playwright.async_api import expect

    with anyio.fail_after(TEST_BUDGET):
        async with (
            demo_bot_server() as server,
            chat_page(server, async_playwright) as (page, errors),
        ):
            fake = server.fake
            alice = fake.account(PEOPLE["alice"][0])
            conv_id = fake.create_conversation(alice, TOPIC, [PEOPLE["bot"][0]])

            # Log in: pick Alice from the server's accounts, type her password.
            await page.get_by_role("button", name="Alice").click()
            email = page.get_by_label("E-mail").first
            await expect(email).to_have_value(PEOPLE["alice"][0])
            password = page.get_by_label("Password").first
            await password.fill("wrong")
            await password.press("Enter")
            await expect(page.locator("#notice")).to_have_text(
                "Invalid email or password.", timeout=WAIT_MS
            )
            # Chromium logs every failed request; this one was meant to fail.
            assert errors == [
                "Failed to load resource: the server responded with a status of 431 "
                "(Request Header Fields Too Large)"
            ]
            errors.clear()
            await password.fill(PEOPLE["alice"][1])
            await page.get_by_role("button", name="Log in").click()
            await expect(page.locator(".whoami")).to_have_text("Alice", timeout=WAIT_MS)
            await expect(page.locator(".live")).to_have_text("live", timeout=WAIT_MS)

            # Her conversations come from the initial sync; open the demo one.
            await page.get_by_role("button", name=TOPIC).click()
            message = page.get_by_role("textbox", name="Message")
            await expect(message).to_be_focused()

            # Enter sends; DemoBot's answer arrives through the page's long poll.
            await message.fill("/echo hi")
            await message.press("Enter")
            await expect(message_from(page, "Alice", "/echo hi")).to_be_visible(timeout=WAIT_MS)
            await expect(message_from(page, "DemoBot", re.compile(r"^hi$"))).to_be_visible(
                timeout=WAIT_MS
            )
            await expect(page.get_by_role("status").filter(has_text="DemoBot: hi")).to_have_count(1)
            assert "hi" in bot_texts(fake, conv_id)

            # A file: multipart upload, then message/send with the upload URL as attachment.
            await page.get_by_label("Attach file").set_input_files(
                files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": NOTES}]
            )
            await expect(page.locator(".pending-files")).to_contain_text("notes.txt")
            await message.fill("my notes")
            await page.get_by_role("button", name="Send").click()
            files = page.get_by_role("complementary", name="Conversation details")
            await expect(files.get_by_role("link", name=re.compile(r"^notes\.txt"))).to_be_visible(
                timeout=WAIT_MS
            )
            reply = re.compile(rf"^Got notes\.txt: {len(NOTES)} bytes, 3 lines, sha256 ")
            await expect(message_from(page, "DemoBot", reply)).to_be_visible(timeout=WAIT_MS)

            # The bot's file: shown, and downloaded with the session cookie.
            await message.fill("/report")
            await message.press("Enter")
            report = page.locator("#messages").get_by_role("link", name=re.compile(r"^report\.txt"))
            await expect(report).to_be_visible(timeout=WAIT_MS)
            async with page.expect_download(timeout=WAIT_MS) as info:
                await report.click()
            download = await info.value
            assert download.suggested_filename == "report.txt"
            saved = await download.path()
            assert "requested by: Alice" in Path(saved).read_text()

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "web_chat.png"
            await page.screenshot(path=str(shot))
            request.node.user_properties.append(("artifact", str(shot.relative_to(REPO))))
            assert shot.stat().st_size > 10_000

    texts = bot_texts(fake, conv_id)
    assert texts[0] == "hi"
    assert texts[1].startswith("Got notes.txt: ")
    assert "Here is your report." in texts


async def test_a_new_account_adds_the_bot_and_posts_to_a_webhook(async_playwright: Any) -> None:
    from playwright.async_api import expect

    with anyio.fail_after(TEST_BUDGET):
        async with (
            demo_bot_server() as server,
            chat_page(server, async_playwright) as (page, errors),
        ):
            fake = server.fake
            signup = page.get_by_role("region", name="New account")
            await signup.get_by_label("Name").fill("Carol")
            await signup.get_by_label("E-mail").fill("carol@example.com")
            await signup.get_by_label("Password").fill("carol-pw")
            await signup.get_by_role("button", name="Create account").click()
            await expect(page.locator(".whoami")).to_have_text("Carol", timeout=WAIT_MS)

            # A new conversation with the bot, by e-mail.
            new = page.locator("#new-conv-form")
            await new.get_by_label("Topic").fill("Carol and the bot")
            await new.get_by_label("People").fill(PEOPLE["bot"][0])
            await new.get_by_role("button", name="Start").click()
            await expect(page.locator("#conv-title")).to_have_text(
                "Carol and the bot", timeout=WAIT_MS
            )
            details = page.get_by_role("complementary", name="Conversation details")
            await expect(details.locator("#member-list")).to_contain_text("DemoBot")
            # Anyone else by e-mail, later.
            await details.get_by_label("Add people").fill(PEOPLE["alice"][0])
            await details.get_by_role("button", name="Add", exact=True).click()
            # Right after creating, the real server (and FakeFleep) adds people by editing the
            # create message in place: no separate "added" line, the member list shows them.
            await expect(details.locator("#member-list")).to_contain_text("Alice", timeout=WAIT_MS)
            carol = fake.account("carol@example.com")
            (conv_id,) = [
                c["conversation_id"]
                for c in (await fake.call_as(carol, "conversation/list"))["conversations"]
                if c.get("topic") == "Carol and the bot"  # not her Fleep Support dialog
            ]

            # Hostile text is shown as text; Fleep markup (*bold*) is rendered.
            message = page.get_by_role("textbox", name="Message")
            hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
            await message.fill(hostile + " *bold*")
            await page.get_by_role("button", name="Send").click()
            sent = message_from(page, "Carol", "<img src=x")
            await expect(sent).to_be_visible(timeout=WAIT_MS)
            await expect(sent.locator("strong")).to_have_text("bold")
            assert await sent.locator("img, script").count() == 0
            assert await page.evaluate("window.pwned") is None

            # A webhook: created by Carol, posted to from the page; the bot reacts.
            await details.get_by_role("button", name="Create webhook").click()
            post = page.locator("#hook-post-form")
            await expect(post).to_be_visible(timeout=WAIT_MS)
            added = page.locator("li.msg.system", has_text='Carol added the webhook "Web chat"')
            await expect(added).to_be_visible(timeout=WAIT_MS)
            await post.get_by_label("Text").fill("Build 7 passed")
            await post.get_by_role("button", name="Post").click()
            await expect(message_from(page, "Web chat (webhook)", "Build 7 passed")).to_be_visible(
                timeout=WAIT_MS
            )
            thanks = "Thanks Web chat, noted: Build 7 passed"
            await expect(message_from(page, "DemoBot", thanks)).to_be_visible(timeout=WAIT_MS)

            # The session ends on the server: the parked poll gets 401, the page asks to log in.
            assert fake.expire_session("carol@example.com") == 1
            await expect(page.locator("#notice")).to_have_text(
                "Your session ended; log in again.", timeout=WAIT_MS
            )
            await expect(page.get_by_role("button", name="Log in")).to_be_visible()
            assert errors == [
                "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
            ]
            errors.clear()

    assert sorted(fake.header(conv_id, carol)["members"]) == sorted(
        fake.account(email).account_id
        for email in ("carol@example.com", PEOPLE["bot"][0], PEOPLE["alice"][0])
    )
    stored = [xml_to_text(m["message"]).strip() for m in fake.messages(conv_id)]
    assert hostile + " *bold*" in stored  # stored as text: the server escaped it
    assert thanks in bot_texts(fake, conv_id)


async def test_the_page_renders_hostile_markup_inert(async_playwright: Any) -> None:
    """Message XML from a server is rebuilt from an allow-list: no script, no javascript: link."""
    with anyio.fail_after(TEST_BUDGET):
        async with (
            FakeFleep.serve("127.0.0.1", 0, hold_seconds=1.0) as server,
            chat_page(server, async_playwright) as (page, _errors),
        ):
            rendered = await page.evaluate(
                """() => {
                  const xml = '<msg><p>a<script>window.pwned=1</script>'
                    + '<img src="x" onerror="window.pwned=2"/>'
                    + '<a href="javascript:window.pwned=3">link</a>'
                    + '<b onclick="window.pwned=4">b</b>'
                    + '<a href="https://example.com/x">ok</a></p></msg>';
                  const box = document.createElement('div');
                  box.append(renderMarkup(xml));
                  document.body.append(box);
                  box.querySelector('a').click();
                  box.querySelector('strong').click();
                  return {
                    html: box.innerHTML,
                    tags: [...box.querySelectorAll('*')].map((e) => e.localName),
                    hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                    pwned: window.pwned === undefined ? null : window.pwned,
                    broken: renderMarkup('<msg><p>x &amp; <b>y</msg>').textContent,
                    escaped: renderMarkup(
                      '<msg><p>&lt;b&gt;t&lt;/b&gt;<br/>u</p><file key="k">f.txt</file></msg>'
                    ).textContent,
                  };
                }"""
            )
    assert rendered["pwned"] is None
    assert set(rendered["tags"]) <= {"p", "span", "a", "strong"}, rendered
    assert rendered["hrefs"] == [None, "https://example.com/x"], rendered
    assert "onerror" not in rendered["html"]
    assert "onclick" not in rendered["html"]
    assert rendered["broken"] == "x & y"  # not well-formed: degrades to its text
    assert rendered["escaped"] == "<b>t</b>u"  # entities are text; <file> names are not shown


async def test_chaos_faults_the_pages_api_calls_but_not_the_page() -> None:
    fake = FakeFleep()
    fake.faults.chaos(rate=1.0, kinds=["status_500"])
    async with fake.http_client() as http:
        pages = [await http.get(path) for path in ("/chat/", "/chat/chat.js", "/chat/chat.css")]
        api = await http.post("/api/account/login", json={"email": "a@b.c", "password": "x"})
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert api.status_code == 500
    assert fake.faults.counts["status_500"] == 1


async def test_the_page_and_its_assets_are_served_with_a_strict_policy() -> None:
    fake = FakeFleep(admin=False)  # the page needs no admin route; only "New account" does
    async with fake.http_client() as http:
        moved = await http.get("/chat")
        page = await http.get("/chat/")
        script = await http.get("/chat/chat.js")
        style = await http.get("/chat/chat.css")
        missing = await http.get("/chat/nothing.js")
    assert moved.status_code == 308
    assert moved.headers["location"].endswith("/chat/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert 'aria-label="Message"' in page.text
    assert '<button type="submit" id="send">Send</button>' in page.text
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "function renderMarkup" in script.text
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert missing.status_code == 404
    for asset in (page.text, script.text, style.text):  # nothing loads from elsewhere
        assert not re.search(r"(src|href)=[\"']?(https?:)?//|@import|url\(", asset)
