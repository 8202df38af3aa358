"""Shared pytest configuration."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--chaos-long", action="store_true", help="run the long chaos profile")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: use --run-slow")
    skip_long = pytest.mark.skip(reason="long chaos profile: use --chaos-long")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(skip_slow)
        if "chaos_long" in item.keywords and not config.getoption("--chaos-long"):
            item.add_marker(skip_long)


@pytest.fixture
def anyio_backend() -> str:
    """Tests marked ``pytest.mark.anyio`` run on asyncio unless a module parametrizes trio too."""
    return "asyncio"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the artefacts tests kept (``("artifact", path)`` user properties), e.g. screenshots."""
    kept = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "call"
        for name, value in report.user_properties
        if name == "artifact"
    ]
    if kept:
        terminalreporter.section("test artefacts")
        for path in kept:
            terminalreporter.write_line(f"kept: {path}")
