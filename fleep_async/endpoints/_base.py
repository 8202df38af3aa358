"""The request base class and the registry every request class joins when it is defined.

A request class is a frozen attrs class whose fields are the endpoint's parameters, named as on
the wire. The class attributes say everything the generic call path needs::

    @attrs.frozen(kw_only=True)
    class MessageSend(Endpoint[ConversationSyncResult]):
        PATH = "message/send/{conversation_id}"
        IDEMPOTENCY_KEY = True

        conversation_id: str = attrs.field(converter=to_uuid)
        message: str | None = None

The generic parameter (``ConversationSyncResult``) is the result type; the flags are:

- ``RETRY_SAFE``: repeating the call cannot change anything twice (reads, forward-only marks), so
  the transport may retry it.
- ``IDEMPOTENCY_KEY``: the endpoint accepts ``client_req_id``. The id is fixed when the request
  object is built, so every attempt carries the same one, and such calls are retried too.
- ``LONG_POLL``: the server holds the request (``account/poll``); use the long-poll pool and
  read timeout.
- ``MULTIPART``: a file upload; the ``files`` field is sent as multipart parts, not JSON.
- ``AUTH``: the call needs a session (``False`` for login, registration and the like).
- ``PAGER``: how :func:`~fleep_async.services.paginate` walks the endpoint's pages.
- ``TRAILING_SLASH``: the URL ends in ``/`` (``file/upload/external/``), as Fleep's own clients
  call it; the registry key stays without it.

Path rules: a path is lower-case ``area/op[/sub]`` plus ``{param}`` templates, without leading or
trailing slash. Every template parameter is a field holding an id that its converter has parsed as
a UUID and re-rendered canonically; :meth:`Endpoint.path` checks that again before rendering, so
user input never reaches a URL path unchecked.
"""

from __future__ import annotations

import functools
import keyword
import re
import string
from collections.abc import Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Generic,
    TypeVar,
    get_args,
    get_origin,
)

import attrs

from fleep_async.errors import UsageError

if TYPE_CHECKING:
    from fleep_async.endpoints._paging import Pager

__all__ = [
    "PATH_RULE",
    "REGISTRY",
    "Endpoint",
    "R",
    "path_parameters",
    "service_location",
]

R = TypeVar("R", covariant=True)

PATH_RULE: Final = re.compile(r"^[a-z][a-z0-9_]*(?:/(?:[a-z0-9_]+|\{[a-z_]+\}))*$")
"""The naming rule every registered path follows."""

REGISTRY: dict[str, type[Endpoint[Any]]] = {}
"""Every request class, keyed by its path template (``"message/send/{conversation_id}"``)."""

WIRE: Final = "wire"
"""Field metadata key: ``False`` keeps a field out of the JSON body (upload parts)."""


@functools.lru_cache(maxsize=512)  # a handful of templates, looked up on every call
def path_parameters(path: str) -> tuple[str, ...]:
    """Return the ``{param}`` names of a path template, in order."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(path) if name)


_BODY_FIELDS: dict[type, tuple[str, ...]] = {}  # one entry per request class, made on first use


def _body_fields(cls: type) -> tuple[str, ...]:
    """The fields of a request class that go into its JSON body, in order."""
    names = _BODY_FIELDS.get(cls)
    if names is None:
        in_path = set(path_parameters(getattr(cls, "PATH", "")))
        names = _BODY_FIELDS[cls] = tuple(
            field.name
            for field in attrs.fields(cls)
            if field.name not in in_path and field.metadata.get(WIRE, True)
        )
    return names


def service_location(path: str) -> tuple[str, str]:
    """Return ``(area, method)`` of the service method for ``path``.

    The rule: the area is the first path segment; the method is the remaining literal segments
    joined with ``_`` (templates dropped), with a trailing ``_`` when that is a Python keyword
    (``contact/import`` is ``contact.import_``). A one-segment path (``search``,
    ``classificators``) is the area object itself, called directly: its method is
    ``"__call__"``.

    >>> service_location("contact/sync/list")
    ('contact', 'sync_list')
    >>> service_location("message/send/{conversation_id}")
    ('message', 'send')
    >>> service_location("contact/import")
    ('contact', 'import_')
    >>> service_location("search")
    ('search', '__call__')
    """
    literal = [part for part in path.split("/") if not part.startswith("{")]
    action = "_".join(literal[1:]) or "__call__"
    if keyword.iskeyword(action):
        action += "_"
    return literal[0], action


def _result_type(cls: type) -> type[Any] | None:
    for base in cls.__dict__.get("__orig_bases__", ()):
        if get_origin(base) is Endpoint:
            (arg,) = get_args(base)
            if isinstance(arg, type):
                return arg
    return None


def _wire_value(value: Any) -> Any:
    # Converters store lists as tuples (frozen requests stay hashable); JSON wants lists.
    if isinstance(value, tuple | list):
        return [_wire_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _wire_value(item) for key, item in value.items()}
    return value


class Endpoint(Generic[R]):
    """Base of every request class; see the module docstring for the flags.

    Subclasses are frozen attrs classes; defining one with a ``PATH`` registers it in
    :data:`REGISTRY` (a second class for the same path raises at import time).
    """

    __slots__ = ()

    PATH: ClassVar[str]
    RESULT: ClassVar[type[Any]]
    RETRY_SAFE: ClassVar[bool] = False
    IDEMPOTENCY_KEY: ClassVar[bool] = False
    LONG_POLL: ClassVar[bool] = False
    MULTIPART: ClassVar[bool] = False
    AUTH: ClassVar[bool] = True
    PAGER: ClassVar[Pager | None] = None
    TRAILING_SLASH: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        result = _result_type(cls)
        if result is not None:
            cls.RESULT = result
        if "PATH" not in cls.__dict__:
            return  # an abstract intermediate class
        path = cls.PATH
        if not PATH_RULE.match(path):
            raise TypeError(f"{cls.__qualname__}.PATH {path!r} breaks the path naming rule")
        if not hasattr(cls, "RESULT"):
            raise TypeError(f"{cls.__qualname__} must subclass Endpoint[ResultType]")
        if cls.IDEMPOTENCY_KEY and cls.RETRY_SAFE:
            raise TypeError(f"{cls.__qualname__}: IDEMPOTENCY_KEY already makes it retry-safe")
        existing = REGISTRY.get(path)
        # attrs builds a slotted class by re-creating it, so the same class body arrives here
        # twice; the second one (the finished attrs class) replaces the first.
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise TypeError(
                f"duplicate endpoint {path!r}: {existing.__qualname__} and {cls.__qualname__}"
            )
        REGISTRY[path] = cls

    @classmethod
    def path_parameters(cls) -> tuple[str, ...]:
        """The names of the fields that go into the URL path."""
        return path_parameters(cls.PATH)

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def path(self) -> str:
        """Return the path with its parameters filled in (``message/send/<uuid>``), plus the
        trailing slash of a ``TRAILING_SLASH`` endpoint.

        Raises:
            UsageError: a path parameter is not a canonical UUID string.
        """
        values: dict[str, str] = {}
        for name in self.path_parameters():
            value = getattr(self, name)
            # The converter already did this; checking again here means that no subclass can
            # put an unchecked value into a URL path by forgetting the converter.
            if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
                raise UsageError(f"{name} must be a canonical UUID string")
            values[name] = value
        path = self.PATH.format_map(values)
        return path + "/" if self.TRAILING_SLASH else path

    def body(self) -> dict[str, Any]:
        """Return the JSON body: every set parameter by its wire name; unset (``None``) omitted."""
        body: dict[str, Any] = {}
        for name in _body_fields(type(self)):
            value = getattr(self, name)
            if value is not None:
                body[name] = _wire_value(value)
        return body

    def is_retry_safe(self) -> bool:
        """Whether the transport may repeat this call (see ``RETRY_SAFE``/``IDEMPOTENCY_KEY``)."""
        if self.RETRY_SAFE:
            return True
        return self.IDEMPOTENCY_KEY and getattr(self, "client_req_id", None) is not None


# What ``str(uuid.UUID(...))`` prints, and only that: 8-4-4-4-12 lower-case hex digits.
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
