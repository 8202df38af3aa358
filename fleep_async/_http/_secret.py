"""A wrapper that keeps a secret out of reprs, and so out of traceback locals.

Error reporters (Sentry and the like, or ``traceback.TracebackException(...,
capture_locals=True)``) record the ``repr`` of every local of every frame in a traceback. A
password, ticket or cookie held in a plain ``str`` or ``bytes`` local would be recorded whole, so
the request path keeps them in a :class:`Secret` and reveals the value only inside the short
call that hands it to httpx: by the time an error is raised that frame is gone.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Secret"]

_V = TypeVar("_V", str, bytes)


class Secret(Generic[_V]):
    """A value whose ``repr`` and ``str`` are ``Secret('***')``; :meth:`reveal` gives it back."""

    __slots__ = ("_value",)

    def __init__(self, value: _V) -> None:
        self._value: _V = value

    def reveal(self) -> _V:
        """The secret value: use it inline, never bind it to a name that outlives the call."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")

    @staticmethod
    def wrap(value: str | Secret[str] | None) -> Secret[str] | None:
        """``value`` as a :class:`Secret` (``None`` stays ``None``; a Secret is kept as is)."""
        if value is None or isinstance(value, Secret):
            return value
        return Secret(value)

    @staticmethod
    def of(value: str | Secret[str]) -> Secret[str]:
        """``value`` as a :class:`Secret` (a Secret is kept as is)."""
        return value if isinstance(value, Secret) else Secret(value)
