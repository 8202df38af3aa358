"""The handler table: one entry per API path, plus typed parameter access.

Handlers are registered with :func:`handler` under their Fleep path (``"message/send"``) and say
whether the path carries an id (``/{conversation_id}``, ``/{team_id}``). Unknown body keys are
ignored and JSON ``null`` means "not given", as the real server does.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import attrs

from fleep_async.testing._http.errors import bad_request, unauthorized
from fleep_async.testing._world.ids import is_uuid

if TYPE_CHECKING:
    from starlette.requests import Request

    from fleep_async.testing._http.faults import Faults
    from fleep_async.testing._world.state import AccountState, Session
    from fleep_async.testing._world.world import World

PathId = Literal["none", "conversation", "team", "organisation", "optional_conversation"]
Result = dict[str, Any]
Handler = Callable[["Ctx"], Result | Awaitable[Result]]


class Params:
    """Typed, validating access to a JSON body (400 on a wrong type)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def has(self, name: str) -> bool:
        """True when the key is present and not null."""
        return self.body.get(name) is not None

    def raw(self, name: str) -> Any:
        """The raw value (None when absent or null)."""
        return self.body.get(name)

    def _missing(self, name: str, required: bool) -> None:
        if required:
            raise bad_request(f"Missing required field: {name}.")

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string field."""
        value = self.body.get(name)
        if value is None:
            self._missing(name, required)
            return None
        if not isinstance(value, str):
            raise bad_request(f"Invalid value for {name}: expected text.")
        if required and not value.strip():
            raise bad_request(f"Missing required field: {name}.")
        return value

    def req_text(self, name: str) -> str:
        """A required string field."""
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """An integer field (numeric strings accepted)."""
        value = self.body.get(name)
        if value is None:
            self._missing(name, required)
            return None
        if isinstance(value, bool):
            raise bad_request(f"Invalid value for {name}: expected an integer.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise bad_request(f"Invalid value for {name}: expected an integer.")

    def req_integer(self, name: str) -> int:
        """A required integer field."""
        value = self.integer(name, required=True)
        assert value is not None
        return value

    def number(self, name: str) -> float | None:
        """A numeric field."""
        value = self.body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad_request(f"Invalid value for {name}: expected a number.")
        try:
            return float(value)
        except ValueError:
            raise bad_request(f"Invalid value for {name}: expected a number.") from None

    def flag(self, name: str, *, default: bool | None = None) -> bool | None:
        """A boolean field ("true"/"false" strings accepted: one seed types them as text)."""
        value = self.body.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad_request(f"Invalid value for {name}: expected a boolean.")

    def uuid(self, name: str, *, required: bool = False) -> str | None:
        """A hyphenated UUID string."""
        value = self.text(name, required=required)
        if value is not None and not is_uuid(value):
            raise bad_request(f"Invalid value for {name}: expected a UUID.")
        return value.lower() if value is not None else None

    def req_uuid(self, name: str) -> str:
        """A required UUID string."""
        value = self.uuid(name, required=True)
        assert value is not None
        return value

    def texts(
        self, name: str, *, required: bool = False, skip_nulls: bool = False
    ) -> list[str] | None:
        """A list of strings (a single string is taken as a one-item list); ``skip_nulls``
        drops ``null`` items instead of refusing them."""
        value = self.body.get(name)
        if value is None:
            self._missing(name, required)
            return None
        if isinstance(value, str):
            return [value]
        if skip_nulls and isinstance(value, list):
            value = [v for v in value if v is not None]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"Invalid value for {name}: expected a list of text.")
        return list(value)

    def uuids(
        self, name: str, *, required: bool = False, skip_nulls: bool = False
    ) -> list[str] | None:
        """A list of UUID strings (``skip_nulls``: see :meth:`texts`)."""
        values = self.texts(name, required=required, skip_nulls=skip_nulls)
        if values is None:
            return None
        if not all(is_uuid(v) for v in values):
            raise bad_request(f"Invalid value for {name}: expected a list of UUIDs.")
        return [v.lower() for v in values]


@attrs.define
class Ctx:
    """Everything a handler gets."""

    world: World
    faults: Faults
    params: Params
    path: str
    path_id: str | None
    account: AccountState | None = None
    session: Session | None = None
    request: Request | None = None
    # Session cookies to set on the response: (token_id, remember_me).
    cookies: list[tuple[str, bool]] = attrs.field(factory=list)

    @property
    def me(self) -> AccountState:
        """The authenticated account."""
        if self.account is None:
            raise unauthorized()
        return self.account

    @property
    def conversation_id(self) -> str:
        """The conversation id from the path (validated as a UUID)."""
        if self.path_id is None:
            raise bad_request("Missing conversation id in the URL.")
        return self.path_id


@attrs.frozen
class Spec:
    """One registered endpoint."""

    path: str
    func: Handler
    path_id: PathId = "none"
    auth: bool = True
    body: Literal["json", "upload"] = "json"
    # De-duplicates by ``client_req_id``: only where Fleep's server tests prove the real
    # server does (message/store); elsewhere a repeated id is a new call.
    idempotent_key: bool = False

    @property
    def is_async(self) -> bool:
        """True for coroutine handlers."""
        return inspect.iscoroutinefunction(self.func)


HANDLERS: dict[str, Spec] = {}


def handler(
    path: str,
    *,
    path_id: PathId = "none",
    auth: bool = True,
    body: Literal["json", "upload"] = "json",
    idempotent_key: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler for an API path."""

    def register(func: Handler) -> Handler:
        if path in HANDLERS:
            raise RuntimeError(f"duplicate handler for {path}")
        HANDLERS[path] = Spec(path, func, path_id, auth, body, idempotent_key)
        return func

    return register


def load_handlers() -> dict[str, Spec]:
    """Import every handler module (registering them) and return the table."""
    import importlib

    from fleep_async.testing._handlers import AREAS

    for area in AREAS:
        importlib.import_module(f"fleep_async.testing._handlers.{area}")

    return HANDLERS


def resolve(path: str) -> tuple[Spec, str | None] | None:
    """Match ``area/op[/id]`` (slashes already trimmed) to a handler and its path id."""
    load_handlers()
    spec = HANDLERS.get(path)
    if spec is not None:
        # An id-taking path without its id still resolves: the handler answers 400.
        return spec, None
    head, _, tail = path.rpartition("/")
    spec = HANDLERS.get(head)
    if spec is None or spec.path_id == "none" or not tail:
        return None
    return spec, tail


def endpoint_key(path: str) -> str:
    """The registry key for a request path (for fault matching), or the path itself."""
    trimmed = path.strip("/")
    if trimmed.startswith("api/"):
        found = resolve(trimmed[4:].strip("/"))
        return found[0].path if found else trimmed[4:]
    return trimmed.split("/", 1)[0]
