"""fleep-async: the async Python client for the Fleep team messenger."""

from __future__ import annotations

from fleep_async._version import __version__

__all__ = ["__version__"]
