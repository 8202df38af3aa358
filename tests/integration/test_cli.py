"""The ``fleep-async`` command against FakeFleep served on loopback.

Commands run in-process (``cli.main`` in a worker thread, its own event loop, while the test's
loop serves FakeFleep), or as real processes where signals and the entry point matter. Every
in-process run's stdout and stderr are kept and checked for secrets at the end of each test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import attrs
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from fleep_async._cli._config import (
    SavedSession,
    default_session_path,
    load_session,
    save_session,
)
from fleep_async._cli._output import Output, SyncProgress, clean
from fleep_async._session import SessionState
from fleep_async.cli import main
from fleep_async.testing import Account, FakeFleep, FakeFleepServer, RawUser

REPO = Path(__file__).resolve().parents[2]
WAIT = 30.0
ALICE_PASSWORD = "alice-correct-horse-battery-staple"
BOB_PASSWORD = "bob-correct-horse-battery-staple"


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


class World:
    """A served FakeFleep, Alice and Bob in a conversation, a CLI bound to a session file."""

    def __init__(
        self,
        server: FakeFleepServer,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.server = server
        self.fake = server.fake
        self.base_url = server.base_url
        self.alice: Account = self.fake.create_account("alice@example.com", ALICE_PASSWORD, "Alice")
        self.bob: Account = self.fake.create_account("bob@example.com", BOB_PASSWORD, "Bob")
        self.conversation_id = self.fake.create_conversation(self.alice, "cli tests", [self.bob])
        self.session_file = tmp_path / "config" / "session.json"
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.outputs: list[str] = []
        self.secrets: set[str] = {ALICE_PASSWORD, BOB_PASSWORD}

    async def cli(self, *argv: str, stdin: str = "", session: bool = True) -> Result:
        """Run ``fleep-async [--session-file F] argv...`` in-process; collect its output."""
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = [*(["--session-file", str(self.session_file)] if session else []), *argv]
        self.capsys.readouterr()
        with anyio.fail_after(WAIT):
            code = await anyio.to_thread.run_sync(main, args, abandon_on_cancel=True)
        captured = self.capsys.readouterr()
        self.outputs.append(captured.out + captured.err)
        return Result(code, captured.out, captured.err)

    async def login(self, email: str = "alice@example.com", password: str = ALICE_PASSWORD) -> None:
        result = await self.cli(
            "--base-url", self.base_url, "login", "--email", email, "--password-stdin",
            stdin=password + "\n",
        )  # fmt: skip
        assert result.code == 0, result
        saved = load_session(self.session_file)
        assert saved is not None
        self.remember(saved.state)

    def remember(self, state: SessionState) -> None:
        self.secrets.update(s for s in (state.ticket, state.token_id) if s)

    def texts(self) -> list[str]:
        return [str(m["message"]) for m in self.fake.messages(self.conversation_id)]

    def assert_no_secrets(self) -> None:
        for output in self.outputs:
            for secret in self.secrets:
                assert secret not in output


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FLEEP_EMAIL", "FLEEP_PASSWORD", "FLEEP_BASE_URL", "FLEEP_SESSION_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


Served = Callable[[], contextlib.AbstractAsyncContextManager[World]]


@pytest.fixture
def served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Served:
    """``async with served() as world``: FakeFleep on loopback for the block (entered and left
    in the test's own task, as uvicorn's task group requires)."""

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[World]:
        # No welcome dialog: the tests count the conversations they made.
        async with FakeFleep.serve(hold_seconds=1.0, welcome=False) as server:
            world = World(server, tmp_path, capsys, monkeypatch)
            yield world
            world.assert_no_secrets()

    return start


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEEP_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


# -- arguments, entry points --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        ([], 2),
        (["frobnicate"], 2),
        (["send"], 2),
        (["send", "only-a-conversation"], 2),
        (["--timeout", "soon", "whoami"], 2),
        (["upload", "c"], 2),
    ],
)
def test_help_version_and_bad_arguments(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    captured = capsys.readouterr()
    if argv == ["--help"]:
        for command in ("demo", "fake-server", "login", "send", "upload", "listen"):
            assert command in captured.out
    if code == 2:
        assert "usage:" in captured.err


def test_the_console_script_and_python_m_run_main() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fleep-async"] == "fleep_async.cli:main"
    result = subprocess.run(
        [sys.executable, "-m", "fleep_async", "--version"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fleep-async ")


# -- login, sessions, exit codes ----------------------------------------------------------


@pytest.mark.asyncio
async def test_login_stores_an_owner_only_session_without_the_password(served: Served) -> None:
    async with served() as world:
        await world.login()
        mode = stat.S_IMODE(world.session_file.stat().st_mode)
        assert mode == 0o600
        assert stat.S_IMODE(world.session_file.parent.stat().st_mode) == 0o700
        content = world.session_file.read_text()
        data = json.loads(content)
        assert data["base_url"] == world.base_url
        assert data["account_id"] == world.alice.account_id
        assert data["ticket"]
        assert data["token_id"]
        assert ALICE_PASSWORD not in content
        assert "password" not in content
        assert "Logged in" in world.outputs[-1]
        assert "Alice" in world.outputs[-1]


@pytest.mark.asyncio
async def test_login_takes_the_password_from_the_environment(served: Served) -> None:
    async with served() as world:
        world.monkeypatch.setenv("FLEEP_PASSWORD", ALICE_PASSWORD)
        world.monkeypatch.setenv("FLEEP_EMAIL", "alice@example.com")
        world.monkeypatch.setenv("FLEEP_BASE_URL", world.base_url)
        result = await world.cli("login")
        assert result.code == 0, result
        assert load_session(world.session_file) is not None


@pytest.mark.asyncio
async def test_login_with_a_wrong_password_exits_3_and_stores_nothing(served: Served) -> None:
    async with served() as world:
        result = await world.cli(
            "--base-url", world.base_url, "login", "--email", "alice@example.com",
            "--password-stdin", stdin="wrong-password-123\n",
        )  # fmt: skip
        assert result.code == 3
        assert "authentication failed" in result.err
        assert "Invalid email or password." in result.err  # the server's own words
        assert "wrong-password-123" not in result.out + result.err
        assert not world.session_file.exists()


@pytest.mark.asyncio
async def test_login_without_a_password_and_no_terminal_exits_2(served: Served) -> None:
    async with served() as world:
        result = await world.cli("--base-url", world.base_url, "login", "--email", "a@example.com")
        assert result.code == 2
        assert "FLEEP_PASSWORD" in result.err


@pytest.mark.asyncio
async def test_an_unreachable_server_exits_4(served: Served) -> None:
    async with served() as world:
        url = f"http://127.0.0.1:{closed_port()}"
        result = await world.cli(
            "--base-url", url, "--retries", "0", "login", "--email", "alice@example.com",
            "--password-stdin", stdin=ALICE_PASSWORD + "\n",
        )  # fmt: skip
        assert result.code == 4
        assert "cannot reach the server" in result.err
        # A saved session for a server that is gone: the same.
        state = SessionState(account_id="a", ticket="t" * 20, token_id="k" * 20)
        save_session(world.session_file, SavedSession(base_url=url, state=state))
        result = await world.cli("--retries", "0", "whoami")
        assert result.code == 4
        assert "t" * 20 not in result.err
        # logout forgets the session locally even when the server cannot be told, and says so.
        result = await world.cli("--retries", "0", "logout")
        assert result.code == 4
        assert "the local session was removed" in result.err
        assert not world.session_file.exists()


@pytest.mark.asyncio
async def test_plain_http_to_a_remote_host_is_refused_before_any_request(served: Served) -> None:
    async with served() as world:
        result = await world.cli(
            "--base-url", "http://fleep.example.com", "login", "--email", "a@example.com",
            "--password-stdin", stdin="pw-that-must-not-travel\n",
        )  # fmt: skip
        assert result.code == 2
        assert "--allow-insecure-http" in result.err
        world.monkeypatch.setenv("FLEEP_BASE_URL", "http://10.1.2.3")
        assert (await world.cli("whoami")).code == 2


@pytest.mark.asyncio
async def test_not_logged_in_exits_3(served: Served) -> None:
    async with served() as world:
        result = await world.cli("whoami")
        assert result.code == 3
        assert "fleep-async login" in result.err


@pytest.mark.asyncio
async def test_whoami_in_text_and_json(served: Served) -> None:
    async with served() as world:
        await world.login()
        text = await world.cli("whoami")
        assert text.code == 0
        assert "Alice <alice@example.com>" in text.out
        as_json = await world.cli("whoami", "--json")
        assert json.loads(as_json.out) == {
            "account_id": world.alice.account_id,
            "display_name": "Alice",
            "email": "alice@example.com",
            "base_url": world.base_url,
        }


@pytest.mark.asyncio
async def test_env_credentials_work_without_a_session_file(served: Served) -> None:
    async with served() as world:
        world.monkeypatch.setenv("FLEEP_EMAIL", "bob@example.com")
        world.monkeypatch.setenv("FLEEP_PASSWORD", BOB_PASSWORD)
        world.monkeypatch.setenv("FLEEP_BASE_URL", world.base_url)
        result = await world.cli("whoami", "--json")
        assert result.code == 0, result
        assert json.loads(result.out)["email"] == "bob@example.com"
        assert not world.session_file.exists()


@pytest.mark.asyncio
async def test_a_saved_session_is_never_sent_to_another_server(served: Served) -> None:
    async with served() as world:
        await world.login()
        other = f"http://127.0.0.1:{closed_port()}"
        result = await world.cli("--base-url", other, "whoami")
        assert result.code == 2  # refused up front, not a network error from trying
        assert world.base_url in result.err


@pytest.mark.asyncio
async def test_an_expired_session_exits_3_and_is_forgotten(served: Served) -> None:
    async with served() as world:
        await world.login()
        world.fake.expire_session(world.alice)
        result = await world.cli("whoami")
        assert result.code == 3
        assert "fleep-async login" in result.err
        assert not world.session_file.exists()


@pytest.mark.asyncio
async def test_logout_ends_the_session_on_the_server_and_removes_the_file(served: Served) -> None:
    async with served() as world:
        await world.login()
        kept = world.session_file.read_bytes()
        result = await world.cli("logout")
        assert result.code == 0
        assert "Logged out" in result.out
        assert not world.session_file.exists()
        assert (await world.cli("whoami")).code == 3
        # The old ticket is dead on the server too.
        world.session_file.write_bytes(kept)
        assert (await world.cli("whoami")).code == 3
        assert (await world.cli("logout")).code == 0  # nothing left: still fine


@pytest.mark.asyncio
async def test_the_default_session_file_is_under_xdg_config_home(
    served: Served, tmp_path: Path
) -> None:
    async with served() as world:
        assert default_session_path({"XDG_CONFIG_HOME": "/x"}) == Path(
            "/x/fleep-async/session.json"
        )
        assert default_session_path({"FLEEP_SESSION_FILE": "/y/s.json"}) == Path("/y/s.json")
        result = await world.cli(
            "--base-url", world.base_url, "login", "--email", "bob@example.com",
            "--password-stdin", stdin=BOB_PASSWORD + "\n", session=False,
        )  # fmt: skip
        assert result.code == 0
        path = tmp_path / "xdg" / "fleep-async" / "session.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        saved = load_session(path)
        assert saved is not None
        world.remember(saved.state)


# -- conversations, send, upload ----------------------------------------------------------


@pytest.mark.asyncio
async def test_conversations_in_text_and_json(served: Served) -> None:
    async with served() as world:
        await world.login()
        text = await world.cli("conversations")
        assert text.code == 0
        assert world.conversation_id in text.out
        assert "cli tests" in text.out
        rows = json.loads((await world.cli("conversations", "--json")).out)
        assert rows == [
            {
                "conversation_id": world.conversation_id,
                "topic": "cli tests",
                "members": 2,
                "unread_count": rows[0]["unread_count"],
                "last_message_time": rows[0]["last_message_time"],
            }
        ]


@pytest.mark.asyncio
async def test_send_from_an_argument_from_stdin_and_as_json(served: Served) -> None:
    async with served() as world:
        await world.login()
        first = await world.cli("send", world.conversation_id, "hello from the command line")
        assert first.code == 0
        assert "Sent" in first.out
        second = await world.cli(
            "send", world.conversation_id, "-", "--json", stdin="piped\nin two lines\n"
        )
        assert second.code == 0
        answer = json.loads(second.out)
        assert answer["conversation_id"] == world.conversation_id
        assert isinstance(answer["message_nr"], int)
        texts = world.texts()
        assert any("hello from the command line" in t for t in texts)
        assert any("piped" in t and "in two lines" in t for t in texts)


@pytest.mark.asyncio
async def test_send_errors_have_their_exit_codes(served: Served) -> None:
    async with served() as world:
        await world.login()
        assert (await world.cli("send", world.conversation_id, "-", stdin="\n")).code == 2
        assert (await world.cli("send", "not-a-conversation-id", "x")).code == 2
        unknown = await world.cli("send", "6a2f41a3-c54c-fce8-32d2-0324e1c32e22", "x")
        assert unknown.code == 1
        assert "not_found" in unknown.err


@pytest.mark.asyncio
async def test_upload_posts_the_file_with_its_message(served: Served, tmp_path: Path) -> None:
    async with served() as world:
        await world.login()
        report = tmp_path / "report.txt"
        report.write_bytes(b"quarterly numbers\n")
        result = await world.cli(
            "upload", world.conversation_id, str(report), "--message", "the report", "--json"
        )
        assert result.code == 0, result
        answer = json.loads(result.out)
        assert answer["file_name"] == "report.txt"
        assert answer["size"] == len(b"quarterly numbers\n")
        last = world.texts()[-1]
        assert "the report" in last
        assert "report.txt" in last
        missing = await world.cli("upload", world.conversation_id, str(tmp_path / "nope.txt"))
        assert missing.code == 2


# -- listen -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_listen_resumes_from_the_stored_horizon(served: Served) -> None:
    async with served() as world:
        await world.login()
        async with anyio.create_task_group() as tg:
            results: list[Result] = []

            async def live() -> None:
                results.append(
                    await world.cli("listen", "--json", "--skip-backlog", "--limit", "1")
                )

            tg.start_soon(live)
            await world.fake.wait_for(lambda: world.fake.parked_polls >= 1, timeout=WAIT)
            await world.fake.post_as(world.bob, world.conversation_id, "live one")
        (first,) = results
        assert first.code == 0, first
        event = json.loads(first.out)
        assert event["text"] == "live one"
        assert event["sender"] == "Bob"
        assert event["mk_rec_type"] == "message"
        assert world.session_file.with_name("session.horizon.json").exists()

        # While nobody listens; the next run picks up exactly these, then only what is new.
        for text in ("while away 1", "while away 2"):
            await world.fake.post_as(world.bob, world.conversation_id, text)
        second = await world.cli("listen", "--json", "--limit", "2")
        assert [json.loads(line)["text"] for line in second.out.splitlines()] == [
            "while away 1",
            "while away 2",
        ]
        await world.fake.post_as(world.bob, world.conversation_id, "third")
        third = await world.cli("listen", "--json", "--limit", "1")
        assert json.loads(third.out)["text"] == "third"


@pytest.mark.asyncio
async def test_listen_prints_readable_lines_with_time_topic_and_name(served: Served) -> None:
    async with served() as world:
        await world.login()
        await world.fake.post_as(world.bob, world.conversation_id, "hi \x1b[31mthere")
        result = await world.cli("tail", "--limit", "2", "--conversation", world.conversation_id)
        assert result.code == 0, result
        lines = result.out.splitlines()
        assert len(lines) == 2
        assert all(re.match(r"^\[\d\d:\d\d:\d\d\] #cli tests ", line) for line in lines)
        assert lines[-1].endswith("Bob: hi \\x1b[31mthere")  # escape sequences are not emitted
        assert "\x1b" not in result.out


@pytest.mark.asyncio
async def test_listen_feeds_the_sync_progress(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served() as world:
        from fleep_async._cli import _commands

        seen: list[float] = []

        class Recording(SyncProgress):
            def update(self, fraction: float) -> None:
                seen.append(fraction)
                super().update(fraction)

        monkeypatch.setattr(_commands, "SyncProgress", Recording)
        # One conversation per sync batch: four batches, each with its "created" message.
        world.fake.world.config = attrs.evolve(world.fake.world.config, sync_batch_size=1)
        for n in range(3):
            world.fake.create_conversation(world.alice, f"extra {n}", [world.bob])
        await world.login()
        result = await world.cli("listen", "--limit", "4")
        assert result.code == 0, result
        assert result.out.count("created the conversation") == 4
        assert seen == [0.25, 0.5, 0.75, 1.0]
        assert seen == sorted(seen)
        assert seen[-1] == 1.0


@pytest.mark.asyncio
async def test_listen_ctrl_c_exits_130_and_never_prints_hook_secrets(served: Served) -> None:
    async with served() as world:
        await world.login()
        hook_url = world.fake.create_hook(world.alice, world.conversation_id, "CI")
        hook_keys = {h.hook_key for h in world.fake.world.hooks_by_url.values()}
        world.secrets.update({hook_url, hook_url.rsplit("/", 1)[-1], *hook_keys})
        command = [
            sys.executable, "-m", "fleep_async", "--session-file", str(world.session_file),
            "listen", "--json", "--all-kinds", "--skip-backlog",
        ]  # fmt: skip
        out = ""
        async with await anyio.open_process(command, env=child_env()) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            try:
                with anyio.fail_after(WAIT):
                    async for chunk in TextReceiveStream(process.stderr):
                        if "listening as Alice" in chunk:
                            break
                    await world.fake.wait_for(lambda: world.fake.parked_polls >= 1, timeout=WAIT)
                    async with httpx.AsyncClient() as http:
                        posted = await http.post(
                            hook_url, json={"message": "build ok", "user": "CI"}
                        )
                        assert posted.status_code == 200
                    async for chunk in TextReceiveStream(process.stdout):
                        out += chunk
                        if "build ok" in out:
                            break
                    process.send_signal(signal.SIGINT)
                    code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
            err = "".join([chunk async for chunk in TextReceiveStream(process.stderr)])
        world.outputs.append(out + err)
        assert code == 130, err
        assert "Traceback" not in err
        message = next(json.loads(line) for line in out.splitlines() if "build ok" in line)
        assert message["sender"] == "CI"
        assert "hook_key" not in message


@pytest.mark.asyncio
async def test_verbose_logs_debug_lines_but_no_secrets(served: Served) -> None:
    async with served() as world:
        await world.login()
        result = await world.cli("--verbose", "send", world.conversation_id, "loud")
        assert result.code == 0
        assert "DEBUG fleep_async" in result.err
        # world's teardown checks the password, ticket and token_id are in no output


# -- fake-server ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fake_server_prints_its_url_and_demo_accounts_and_stops_on_ctrl_c() -> None:
    command = [
        sys.executable, "-m", "fleep_async", "fake-server", "--port", "0", "--hold", "1",
        "--seed-demo",
    ]  # fmt: skip
    text = ""
    async with await anyio.open_process(command, env=child_env()) as process:
        assert process.stdout is not None
        try:
            with anyio.fail_after(WAIT):
                async for chunk in TextReceiveStream(process.stdout):
                    text += chunk
                    if "Ctrl-C" in text:
                        break
                found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
                assert found is not None, text
                creds = re.search(r"Alice\s+(\S+)\s+password (\S+)", text)
                assert creds is not None, text
                async with httpx.AsyncClient(base_url=found.group(1)) as http:
                    alice = await RawUser.login(http, creds.group(1), creds.group(2))
                    assert alice.display_name == "Alice"
                    assert f"Web chat: {found.group(1)}/chat/\n" in text
                    page = await http.get("/chat/")
                    assert page.status_code == 200
                    assert "<title>FakeFleep chat</title>" in page.text
                process.send_signal(signal.SIGINT)
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
    assert code == 130
    assert "Conversation 'fleep-async demo': " in text


# -- output helpers -------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_output_is_plain_off_a_terminal_and_styled_on_one() -> None:
    plain = io.StringIO()
    Output(plain).parts([("Alice", "bold cyan"), (": hi", "")])
    assert plain.getvalue() == "Alice: hi\n"
    term = FakeTerminal()
    Output(term).parts([("Alice", "bold cyan"), (": hi [bold]x[/bold]", "")])
    assert "\x1b[" in term.getvalue()
    assert "[bold]x[/bold]" in term.getvalue()  # text is never parsed as markup
    assert clean("a\x1b[2Jb\x07\tc\n") == "a\\x1b[2Jb\\x07\tc\n"


def test_the_progress_bar_shows_only_on_a_terminal() -> None:
    piped = io.StringIO()
    with SyncProgress(piped, description="Initial sync") as progress:
        progress.update(0.5)
        progress.update(1.0)
    assert piped.getvalue() == ""
    term = FakeTerminal()
    with SyncProgress(term, description="Initial sync") as progress:
        progress.update(0.5)
    assert "Initial sync" in term.getvalue()


# -- newcomer rough edges: option checks, local errors, signals, paths ----------------------


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--timeout", "-1", "whoami"], "--timeout"),
        (["--timeout", "0", "send", "c", "hi"], "--timeout"),
        (["whoami", "--timeout", "nan"], "--timeout"),
        (["--retries", "-5", "whoami"], "--retries"),
        (["conversations", "--limit", "-1"], "--limit"),
        (["fake-server", "--port", "70000"], "--port"),
        (["demo", "--demo-timeout", "0"], "--demo-timeout"),
    ],
)
def test_global_options_are_checked_before_the_session_is_loaded(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A valid-looking saved session for a server that does not exist: never reached.
    session_file = tmp_path / "session.json"
    state = SessionState(account_id="a", ticket="t" * 20, token_id="k" * 20)
    url = f"http://127.0.0.1:{closed_port()}"
    save_session(session_file, SavedSession(base_url=url, state=state))
    assert main(["--session-file", str(session_file), *argv]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err
    assert "not logged in" not in err
    assert "RetryPolicy" not in err


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_each_subcommand_lists_only_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    connection = ("--base-url", "--session-file", "--timeout", "--retries", "--allow-insecure")
    for local in (["fake-server"], ["demo"]):
        text = _help(local, capsys)
        assert "--verbose" in text
        for option in connection:
            assert option not in text, (local, option)
    for remote in (["whoami"], ["send"], ["listen"], ["login"]):
        text = _help(remote, capsys)
        for option in connection:
            assert option in text, (remote, option)
    assert "--base-url" not in _help(["logout"], capsys)
    assert "--session-file" in _help(["logout"], capsys)
    # The top level still documents them all, and the exit codes.
    top = _help([], capsys)
    assert "--retries" in top
    assert "143 terminated" in top
    # A subcommand refuses an option it does not take.
    assert main(["fake-server", "--retries", "3"]) == 2
    assert "unrecognized arguments: --retries" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_a_session_file_that_cannot_be_stored_fails_before_logging_in(
    served: Served, tmp_path: Path
) -> None:
    async with served() as world:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        for bad in (blocker / "session.json", tmp_path):
            world.session_file = bad
            result = await world.cli(
                "--base-url", world.base_url, "login", "--email", "alice@example.com",
                "--password-stdin", stdin=ALICE_PASSWORD + "\n",
            )  # fmt: skip
            assert result.code == 5, result
            assert f"cannot store the session at {bad}" in result.err
            assert "Traceback" not in result.err
        assert world.fake.world.sessions == {}  # no session was opened for nothing
        # Missing directories are created (owner-only), and the login works.
        world.session_file = tmp_path / "missing" / "deeper" / "session.json"
        await world.login()
        assert stat.S_IMODE(world.session_file.parent.stat().st_mode) == 0o700


@pytest.mark.asyncio
async def test_upload_of_a_directory_says_it_is_a_directory(served: Served, tmp_path: Path) -> None:
    async with served() as world:
        await world.login()
        before = world.texts()
        result = await world.cli("upload", world.conversation_id, str(tmp_path))
        assert result.code == 2
        assert f"{tmp_path} is a directory" in result.err
        assert "no such file" not in result.err
        result = await world.cli("upload", world.conversation_id, str(tmp_path / "nope.txt"))
        assert result.code == 2
        assert "no such file" in result.err
        assert world.texts() == before  # nothing was posted


@pytest.mark.parametrize("command", ["fake-server", "demo"])
def test_a_busy_port_exits_5_with_a_hint(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main([command, "--port", str(port)]) == 5
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in err
    assert "pick another with --port" in err
    assert "Errno" not in err


async def _read_until(stream: anyio.abc.ByteReceiveStream, marker: str) -> str:
    text = ""
    async for chunk in TextReceiveStream(stream):
        text += chunk
        if marker in text:
            return text
    raise AssertionError(f"{marker!r} never came; got {text!r}")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("argv", "ready"),
    [
        (["fake-server", "--port", "0", "--hold", "1"], "Ctrl-C to stop"),
        (["demo", "--keep-running", "--pace", "0", "--no-color"], "keep running until Ctrl-C"),
    ],
)
async def test_sigterm_exits_143(argv: list[str], ready: str) -> None:
    command = [sys.executable, "-m", "fleep_async", *argv]
    async with await anyio.open_process(command, env=child_env()) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            with anyio.fail_after(WAIT):
                await _read_until(process.stdout, ready)
                process.terminate()
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
        err = "".join([chunk async for chunk in TextReceiveStream(process.stderr)])
    assert code == 143, err
    assert "Traceback" not in err


@pytest.mark.asyncio
async def test_listen_exits_143_on_sigterm(served: Served) -> None:
    async with served() as world:
        await world.login()
        command = [
            sys.executable, "-m", "fleep_async", "--session-file", str(world.session_file),
            "listen", "--skip-backlog",
        ]  # fmt: skip
        async with await anyio.open_process(command, env=child_env()) as process:
            assert process.stderr is not None
            try:
                with anyio.fail_after(WAIT):
                    await _read_until(process.stderr, "listening as Alice")
                    await world.fake.wait_for(lambda: world.fake.parked_polls >= 1, timeout=WAIT)
                    process.terminate()
                    code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
        assert code == 143


@pytest.mark.asyncio
async def test_an_expired_session_during_listen_is_reported_once_with_the_login_hint(
    served: Served,
) -> None:
    async with served() as world:
        await world.login()
        polls_before = world.fake.parked_polls
        results: list[Result] = []

        async def listen() -> None:
            results.append(await world.cli("listen", "--skip-backlog"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await world.fake.wait_for(lambda: world.fake.parked_polls > polls_before, timeout=WAIT)
            world.fake.expire_session(world.alice)
        (result,) = results
        assert result.code == 3, result
        lines = [line for line in result.err.splitlines() if "listening as" not in line]
        assert len(lines) == 1, result.err  # one message, not a log line and then the error
        assert "the saved session is no longer valid" in lines[0]
        assert "run `fleep-async login`" in lines[0]
        assert not world.session_file.exists()


def test_the_session_file_follows_the_platform_conventions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    linux = default_session_path({}, platform="linux", home=home)
    assert linux == home / ".config" / "fleep-async" / "session.json"
    assert default_session_path({"XDG_CONFIG_HOME": "/x"}, platform="linux", home=home) == Path(
        "/x/fleep-async/session.json"
    )
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    assert default_session_path({"XDG_CONFIG_HOME": "rel"}, platform="linux", home=home) == linux
    mac = default_session_path({}, platform="darwin", home=home)
    assert mac == home / "Library" / "Application Support" / "fleep-async" / "session.json"
    assert default_session_path({"XDG_CONFIG_HOME": "/x"}, platform="darwin", home=home) == Path(
        "/x/fleep-async/session.json"
    )
    windows = default_session_path(
        {"APPDATA": str(tmp_path / "Roaming"), "XDG_CONFIG_HOME": "/x"}, platform="win32", home=home
    )
    assert windows == tmp_path / "Roaming" / "fleep-async" / "session.json"
    assert default_session_path({}, platform="win32", home=home) == (
        home / "AppData" / "Roaming" / "fleep-async" / "session.json"
    )
    explicit = {"FLEEP_SESSION_FILE": "/y/s.json"}
    for platform in ("linux", "darwin", "win32"):
        assert default_session_path(explicit, platform=platform, home=home) == Path("/y/s.json")
    # A session saved on macOS where earlier versions put it is still found.
    legacy = home / ".config" / "fleep-async" / "session.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("{}")
    assert default_session_path({}, platform="darwin", home=home) == legacy
    mac.parent.mkdir(parents=True)
    mac.write_text("{}")
    assert default_session_path({}, platform="darwin", home=home) == mac


_SHIM = """#!/bin/sh
# Stands in for .venv/bin/python: logs each call; "-m pip" is logged, not run.
echo "$*" >> "{log}"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi
PYTHONPATH="{repo}" exec "{python}" "$@"
"""


def test_scripts_demo_installs_only_when_pyproject_changed(tmp_path: Path) -> None:
    """The real ``scripts/demo`` in a copy of the project, with a logging python in ``.venv``
    (so the test installs nothing): the second run skips pip, a changed pyproject does not."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "scripts" / "demo").write_bytes((REPO / "scripts" / "demo").read_bytes())
    (project / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    log = tmp_path / "calls.log"
    shim = project / ".venv" / "bin" / "python"
    shim.parent.mkdir(parents=True)
    shim.write_text(_SHIM.format(log=log, repo=REPO, python=sys.executable))
    shim.chmod(0o755)

    def run_demo() -> list[str]:
        log.write_text("")
        done = subprocess.run(
            ["bash", str(project / "scripts" / "demo"), "--help"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "--keep-running" in done.stdout
        return [line for line in log.read_text().splitlines() if line.startswith("-m pip")]

    assert len(run_demo()) == 1  # first run: installs
    assert run_demo() == []  # nothing changed: no install
    with (project / "pyproject.toml").open("a") as handle:
        handle.write("\n# a new dependency, say\n")
    assert len(run_demo()) == 1
    assert run_demo() == []


def test_examples_are_listed_and_copied_out_without_overwriting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["examples"]) == 0
    listing = capsys.readouterr().out
    assert "echo_bot.py" in listing
    assert "test_my_bot.py" in listing
    assert "__init__" not in listing
    target = tmp_path / "mybot"
    assert main(["examples", "--copy", str(target)]) == 0
    shipped = REPO / "fleep_async" / "examples"
    assert (target / "echo_bot.py").read_bytes() == (shipped / "echo_bot.py").read_bytes()
    assert not (target / "__init__.py").exists()
    (target / "echo_bot.py").write_text("# my edits\n")
    capsys.readouterr()
    assert main(["examples", "--copy", str(target)]) == 0
    assert "left as they are: " in capsys.readouterr().out
    assert (target / "echo_bot.py").read_text() == "# my edits\n"  # never overwritten
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["examples", "--copy", str(blocker)]) == 5
    assert "cannot copy the examples" in capsys.readouterr().err
