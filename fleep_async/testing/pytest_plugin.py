"""pytest plugin (entry point ``fleep_async``): the ``fake_fleep`` fixture.

Import-light on purpose: installing fleep-async without the ``testing`` extra must not break
pytest, so Starlette is imported only when a test asks for the fixture. A test that asks for it
without the extra *fails*, with the install command: a skip would let a bot's CI go green with
no bot test run.

Usage::

    async def test_my_bot(fake_fleep):
        bot = fake_fleep.create_account("bot@example.com", "pw", "Bot")
        ...

Options per test: ``@pytest.mark.fake_fleep(hold_seconds=0.5, seed=3)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fleep_async.testing._fake import FakeFleep

DEFAULT_HOLD_SECONDS = 2.0
INSTALL_COMMAND = "pip install 'fleep-async[testing]'"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_fleep`` marker (for ``--strict-markers``)."""
    config.addinivalue_line(
        "markers", "fake_fleep(**options): FakeFleep constructor options for the fake_fleep fixture"
    )


@pytest.fixture
def fake_fleep(request: pytest.FixtureRequest) -> Iterator[FakeFleep]:
    """A fresh in-process FakeFleep (``hold_seconds`` defaults to 2 s for tests).

    Use ``fake_fleep.transport()`` and ``fake_fleep.base_url`` for your client.
    """
    try:
        from fleep_async.testing._fake import FakeFleep
    except ImportError as exc:
        pytest.fail(
            f"the fake_fleep fixture needs FakeFleep's dependencies ({exc}); install them with: "
            f"{INSTALL_COMMAND}",
            pytrace=False,
        )
    options: dict[str, Any] = {"hold_seconds": DEFAULT_HOLD_SECONDS}
    marker = request.node.get_closest_marker("fake_fleep")
    if marker is not None:
        options.update(marker.kwargs)
    fake = FakeFleep(**options)
    yield fake
    fake.release_polls()
