"""Testing tools: :class:`FakeFleep`, a faithful local Fleep server, and its pytest plugin.

Importing this package is cheap and needs no server dependencies; the names below load the
Starlette app on first use (install the ``testing`` extra: the ``server`` extra's starlette,
uvicorn and python-multipart, and pytest).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleep_async.testing._fake import FakeFleep
    from fleep_async.testing._http.errors import ApiError
    from fleep_async.testing._http.faults import Faults
    from fleep_async.testing._http.server import FakeFleepServer
    from fleep_async.testing._world.world import Account, OutboxMail
    from fleep_async.testing.helpers import RawUser

__all__ = [
    "Account",
    "ApiError",
    "FakeFleep",
    "FakeFleepServer",
    "Faults",
    "OutboxMail",
    "RawUser",
]

_WHERE = {
    "Account": "fleep_async.testing._world.world",
    "ApiError": "fleep_async.testing._http.errors",
    "FakeFleep": "fleep_async.testing._fake",
    "FakeFleepServer": "fleep_async.testing._http.server",
    "Faults": "fleep_async.testing._http.faults",
    "OutboxMail": "fleep_async.testing._world.world",
    "RawUser": "fleep_async.testing.helpers",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        # Say what to install, not only which module is missing.
        raise ModuleNotFoundError(
            f"fleep_async.testing.{name} needs FakeFleep's dependencies ({exc}); install them "
            "with: pip install 'fleep-async[testing]'",
            name=exc.name,
        ) from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
