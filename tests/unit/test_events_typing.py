"""The handler API's types: checked record kinds, typed context accessors, error handler
signatures that mypy checks (a mistake is caught before the bot runs)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest

from fleep_async import FleepClient
from fleep_async.errors import UsageError
from fleep_async.events import Command, CommandMatch, EventEngine, Regex, Router
from fleep_async.events._dispatcher import Dispatcher
from fleep_async.models import RECORD_KINDS, RECORD_TYPES, RecordKind
from tests.unit.test_events_fakes import ScriptedRequester, msg
from tests.unit.test_events_router import ctx_for

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def test_record_kinds_are_exactly_the_modelled_record_types() -> None:
    assert set(get_args(RecordKind)) == set(RECORD_TYPES)
    assert set(RECORD_KINDS) == set(RECORD_TYPES)


@pytest.mark.parametrize("kinds", [["mesage"], ["message", "files"]])
def test_a_misspelt_kind_is_refused_naming_the_valid_ones(kinds: list[Any]) -> None:
    engine: EventEngine[Any] = EventEngine(ScriptedRequester(), Router())
    with pytest.raises(UsageError) as caught:
        engine.events(kinds=kinds)
    text = str(caught.value)
    assert repr(kinds[-1]) in text
    assert "'message'" in text
    assert "'file'" in text


def test_client_events_refuses_a_misspelt_kind_before_any_request() -> None:
    client = FleepClient("bot@example.com", "pw", base_url="http://127.0.0.1:9")
    with pytest.raises(UsageError, match="unknown record kind 'mesage'"):
        client.events(kinds=["mesage"])  # type: ignore[list-item]


def test_a_single_string_is_not_taken_for_a_list_of_letters() -> None:
    engine: EventEngine[Any] = EventEngine(ScriptedRequester(), Router())
    with pytest.raises(UsageError, match=r"not a string"):
        engine.events(kinds="message")  # type: ignore[arg-type]


def test_valid_kinds_are_accepted() -> None:
    engine: EventEngine[Any] = EventEngine(ScriptedRequester(), Router())
    assert engine.events(kinds=["message", "file", "conv"]) is not None
    assert engine.events(kinds=None) is not None


async def test_ctx_command_and_ctx_match_are_typed_views_of_the_filters_data() -> None:
    router = Router()
    seen: list[tuple[CommandMatch, str]] = []

    @router.message(Command("echo"), Regex(r"h(i+)"))
    async def echo(message: Any, ctx: Any) -> None:
        seen.append((ctx.command, ctx.match.group(1)))

    record, ctx = ctx_for(msg("c1", 1, text="/echo hiii there", account_id="alice"))
    await Dispatcher(router).feed(record, ctx)
    assert seen == [(CommandMatch(prefix="/", name="echo", args="hiii there"), "iii")]
    assert ctx.data["command"] is seen[0][0]  # ctx.data keeps working


def test_ctx_command_without_a_command_filter_says_so() -> None:
    _, ctx = ctx_for(msg("c1", 1, text="hello", account_id="alice"))
    with pytest.raises(UsageError, match="Command filter"):
        _ = ctx.command
    with pytest.raises(UsageError, match="Regex filter"):
        _ = ctx.match


def _mypy(source: str, tmp_path: Path) -> tuple[str, int]:
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")
    path = tmp_path / "bot_under_check.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            "--config-file",
            str(REPO / "pyproject.toml"),
            str(path),
        ]
    )
    return stdout + stderr, status


_ERROR_HANDLER = """
    from __future__ import annotations

    from fleep_async import Context, ErrorEvent, FleepClient, Router

    router = Router()

    @router.error(ValueError)
    async def on_error({params}) -> None:
        print({use})
"""


def test_an_error_handler_taking_the_exception_fails_mypy(tmp_path: Path) -> None:
    out, status = _mypy(
        _ERROR_HANDLER.format(params="exc: Exception, ctx: Context[FleepClient]", use="exc"),
        tmp_path,
    )
    assert status == 1, out
    # mypy points at the decorator line: the callback does not fit the error handler type.
    assert "bot_under_check.py:8: error" in out, out
    assert '"ErrorHandlerT"' in out, out
    assert "Callable[[Exception, Context[FleepClient]]" in out, out


@pytest.mark.parametrize(
    ("params", "use"),
    [
        ("event: ErrorEvent, ctx: Context[FleepClient]", "event.exception, ctx.kind"),
        ("event: ErrorEvent", "event.attempt"),
    ],
)
def test_an_error_handler_taking_the_error_event_passes_mypy(
    tmp_path: Path, params: str, use: str
) -> None:
    out, status = _mypy(_ERROR_HANDLER.format(params=params, use=use), tmp_path)
    assert status == 0, out


def test_streamed_records_and_ctx_command_are_typed_for_mypy(tmp_path: Path) -> None:
    source = """
        from __future__ import annotations

        from fleep_async import Command, Context, FleepClient, MessageRecord, Router

        router = Router()

        @router.message(Command("echo"))
        async def echo(message: MessageRecord, ctx: Context[FleepClient]) -> None:
            reveal_type(ctx.command.args)

        async def tail(client: FleepClient) -> None:
            async with client.events(kinds=["message"]) as stream:
                async for record in stream:
                    reveal_type(record)
                    print(record.text)
    """
    out, status = _mypy(source, tmp_path)
    assert 'Revealed type is "str"' in out, out
    # Not Any: the record is the union of record types, so .text needs narrowing first.
    assert "MessageRecord" in out
    assert 'has no attribute "text"' in out, out
    assert status == 1
