"""Every wire rule for stream records: raw JSON objects <-> typed records.

Two cattrs converters:

* :data:`converter`, lenient, used at runtime: unknown keys are ignored, enum-like fields stay
  plain strings (new values never fail), absent fields are ``None``. Record classes are decoded
  by hooks generated here (see below), everything else by cattrs.
* :data:`strict_converter`, used by tests: cattrs-generated hooks with detailed validation,
  extra keys forbidden and exact primitive types, to prove that every real example decodes
  with no field missed.

Speed. A poll page holds up to thousands of records with 50-odd fields each, most of them
absent. cattrs' generated hooks call a Python function per present field and then the attrs
``__init__`` with every field as a keyword argument, several times the cost of the JSON parse.
The hooks generated here are straight-line code per record class, with an inline
``__class__`` test per present value. They fill the slots of a private subclass that has the
record's memory layout and the plain ``object.__setattr__``, then assign ``__class__`` to make it
the frozen record: the frozen ``__setattr__`` and the ``__init__`` are skipped (records have no
validators or converters, so nothing is lost). Records of one kind arrive in a handful of key
layouts; a layout seen a few times gets its own function, which reads exactly the keys present
and sets the others to ``None`` without testing for them. Only field names of our own classes
are ever written into generated source, never wire keys. Elements of list fields are not
type-checked by the lenient decoder; the strict one checks them. ``benchmarks/bench_parse.py``
measures the result against ``orjson.loads`` alone.

Tagged union. :func:`parse_record` looks ``mk_rec_type`` up in a dict of those pre-built
functions instead of using a cattrs union strategy. A type without a class becomes an
:class:`~fleep_async.models.UnknownRecord` keeping the raw object. A record whose
``mk_rec_type`` is missing or not a string raises :class:`~fleep_async.errors.DecodeError`: every
record on the wire has one, so its absence means the data is not a stream record at all.

Errors. Wrong field types, missing required fields and non-objects raise
:class:`~fleep_async.errors.DecodeError` naming the record type and field, never the value (it
may be a secret such as a hook URL), and never a cattrs exception.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn

from fleep_async.errors import DecodeError
from fleep_async.models.records import (
    RECORD_TYPES,
    BaseRecord,
    Record,
    UnknownRecord,
)

__all__ = [
    "LAYOUT_DECODERS",
    "converter",
    "parse_record",
    "parse_stream",
    "strict_converter",
    "structure",
    "unstructure",
]

_T = TypeVar("_T")

_log = logging.getLogger("fleep_async.converter")

#: The runtime converter (lenient).
converter: Final = cattrs.Converter(detailed_validation=False)
#: The test converter: extra keys forbidden, exact types, detailed errors.
strict_converter: Final = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

_StructureFn = Callable[..., Any]


# --- field kinds -------------------------------------------------------------------------------

# How a field's value is checked and stored; derived from its annotation.
(
    _STR,
    _INT,
    _BOOL,
    _FLOAT,
    _STR_OR_NUMBER,
    _STRS,
    _RECORDS,
    _LIST,
    _MAPPING,
    _ANY,
    _STR_OR_MAPPING,
) = range(11)

_SCALAR_KINDS: Final = {str: _STR, int: _INT, bool: _BOOL, float: _FLOAT}
_EXPECTED: Final = {
    _STR: "a string",
    _INT: "an integer",
    _BOOL: "a boolean",
    _FLOAT: "a number",
    _STR_OR_NUMBER: "a string or a number",
    _STRS: "a list",
    _RECORDS: "a list",
    _LIST: "a list",
    _MAPPING: "an object",
    _STR_OR_MAPPING: "a string or an object",
}


def _strip_none(tp: Any) -> tuple[Any, bool]:
    """Return (the type without ``None``, whether ``None`` was part of it)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) != len(typing.get_args(tp))
        inner = args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
        return inner, optional
    return tp, False


def _kind(tp: Any) -> tuple[int, type[BaseRecord] | None]:
    if tp is Any:
        return _ANY, None
    if tp in _SCALAR_KINDS:
        return _SCALAR_KINDS[tp], None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if set(typing.get_args(tp)) == {str, float}:
            return _STR_OR_NUMBER, None
        if _is_str_or_mapping_args(typing.get_args(tp)):
            return _STR_OR_MAPPING, None
    elif origin is tuple:
        item = typing.get_args(tp)[0]
        if item is str:
            return _STRS, None
        if isinstance(item, type) and issubclass(item, BaseRecord):
            return _RECORDS, item
        return _LIST, None
    elif origin in (Mapping, dict):
        return _MAPPING, None
    msg = f"no wire rule for field type {tp!r}"
    raise TypeError(msg)


def _is_str_or_mapping_args(args: tuple[Any, ...]) -> bool:
    rest = [a for a in args if a is not type(None)]
    return (
        len(rest) == 2
        and str in rest
        and any(typing.get_origin(a) in (Mapping, dict) for a in rest)
    )


def _hints(cls: type[Any]) -> dict[str, Any]:
    # The record modules use postponed annotations: resolve them (once per class, see _PLANS).
    return typing.get_type_hints(cls)


# --- failures (kept out of the generated code so it stays small) -------------------------------


def _wrong_type(rec_type: str, field: str, kind: int, value: object) -> typing.NoReturn:
    if value is None:
        msg = f"cannot decode a {rec_type!r} record: required field {field!r} is missing or null"
    else:
        msg = (
            f"cannot decode a {rec_type!r} record: field {field!r} must be {_EXPECTED[kind]}, "
            f"not {type(value).__name__}"
        )
    raise DecodeError(msg)


def _not_object(what: str, value: object) -> typing.NoReturn:
    msg = f"cannot decode {what}: expected a JSON object, got {type(value).__name__}"
    raise DecodeError(msg)


# --- the lenient, fast hooks -------------------------------------------------------------------

# Conditions under which a present value has the wrong type, per kind; "v" is the value.
_BAD: Final = {
    _STR: "v.__class__ is not str",
    _INT: "v.__class__ is not int",
    _BOOL: "v.__class__ is not bool",
    _FLOAT: "v.__class__ is not float and v.__class__ is not int",
    _STR_OR_NUMBER: "v.__class__ is not str and v.__class__ is not float "
    "and v.__class__ is not int",
    _MAPPING: "not isinstance(v, _Mapping)",
    _STR_OR_MAPPING: "v.__class__ is not str and not isinstance(v, _Mapping)",
}


# A key layout seen this many times in one record class gets its own specialised function.
_SPECIALIZE_AFTER: Final = 4
# At most this many specialised layouts per class (partial headers vary); then generic only.
_MAX_SHAPES: Final = 16
# Layouts counted per class before counting stops (bounds memory on a very varied stream).
_MAX_COUNTED: Final = 256


_Plan = tuple[tuple[str, int, type[BaseRecord] | None, bool], ...]
_PLANS: dict[type[BaseRecord], _Plan] = {}


def _field_plan(cls: type[BaseRecord]) -> _Plan:
    """(name, kind, item class, required) for every field of ``cls``."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = _hints(cls)
        plan = _PLANS[cls] = tuple(
            (field.name, *_kind(_strip_none(hints[field.name])[0]), field.default is attrs.NOTHING)
            for field in attrs.fields(cls)
        )
    return plan


def _make_structure_fn(cls: type[BaseRecord], shape: tuple[str, ...] | None = None) -> _StructureFn:
    """Generate a lenient structure function for ``cls``.

    Without ``shape`` the function tests every field with ``in``. With ``shape`` (the exact key
    order of the dicts it will see) it takes the values by position and sets the other fields
    to ``None`` without testing: the ``in`` tests are most of the generic function's cost, and
    keyed reads compare strings. Such a function must only be given a plain ``dict`` whose
    ``tuple(d)`` equals ``shape`` (how every caller finds it: ``_SHAPES[cls][tuple(d)]``).
    """
    rec_type = cls.REC_TYPE
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_builder": _builder_class(cls),
        "_new": object.__new__,
        "_Mapping": Mapping,
        "_dict": dict,
        "_tuple": tuple,
        "_list": list,
        "_wrong": _wrong_type,
        "_not_object": _not_object,
    }
    lines = ["def structure(o, _t=None):"]
    if shape is None:
        lines.append("    if o.__class__ is not _dict and not isinstance(o, _Mapping):")
        lines.append(f"        _not_object({'a ' + repr(rec_type) + ' record'!r}, o)")
    lines.append("    obj = _new(_builder)")
    # With a shape, the dict's values come in the shape's key order: they are unpacked by
    # position (no hashing, no string comparison: the dict's keys are the JSON parser's
    # string objects, never our literals, so each keyed read costs a full string compare).
    place = {key: i for i, key in enumerate(shape)} if shape is not None else {}
    if place:
        lines.append(f"    {', '.join(f'v{i}' for i in range(len(place)))}, = o.values()")

    def read(name: str) -> str:
        return f"v{place[name]}" if place else f"o[{name!r}]"

    for i, (name, kind, item_cls, required) in enumerate(_field_plan(cls)):
        fail = f"_wrong({rec_type!r}, {name!r}, {kind}, v)"
        if required:  # never None
            lines.append(f"    v = {read(name)}" if shape else f"    v = o.get({name!r})")
            if kind in _BAD:
                lines.append(f"    if v is None or {_BAD[kind]}: {fail}")
            else:
                lines.append(f"    if v is None: {fail}")
            lines.append(f"    obj.{name} = v")
            continue
        if shape is not None and name not in place:
            lines.append(f"    obj.{name} = None")
            continue
        indent = "    "
        if shape is None:
            lines.append(f"    if {name!r} in o:")
            indent = "        "
        lines.append(f"{indent}v = {read(name)}")
        if kind in _BAD:
            # The type test first: present values are rarely null in the poll stream.
            lines.append(f"{indent}if ({_BAD[kind]}) and v is not None: {fail}")
        elif kind in (_STRS, _LIST, _RECORDS):
            if kind == _RECORDS:
                assert item_cls is not None
                namespace[f"_item{i}"] = _LENIENT[item_cls.REC_TYPE]
                convert = f"_tuple([_item{i}(x) for x in v])"
            else:
                convert = "_tuple(v)"
            lines.append(f"{indent}if v.__class__ is _list or v.__class__ is _tuple:")
            lines.append(f"{indent}    v = {convert}")
            lines.append(f"{indent}elif v is not None: {fail}")
        lines.append(f"{indent}obj.{name} = v")
        if shape is None:
            lines.append(f"    else: obj.{name} = None")
    # The builder has the record's exact slot layout: turn it into the (frozen) record.
    lines.append("    obj.__class__ = _cls")
    lines.append("    return obj")
    suffix = "" if shape is None else f"_{len(_SHAPES[cls])}"
    return _compile(lines, namespace, f"structure_{cls.__name__}{suffix}")


def _builder_class(cls: type[BaseRecord]) -> type[Any]:
    builder = _BUILDERS.get(cls)
    if builder is None:
        # A subclass with no slots of its own and the plain object.__setattr__: its instances
        # have the record's memory layout, so the decoder fills the slots with ordinary (fast,
        # specialised) attribute stores, then assigns __class__ to make it the frozen record.
        # This skips attrs' frozen __setattr__ and the 50-argument __init__, the two costs that
        # dominate decoding otherwise.
        builder = _BUILDERS[cls] = type(
            f"_{cls.__name__}Builder",
            (cls,),
            {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
        )
    return builder


_BUILDERS: dict[type[BaseRecord], type[Any]] = {}
# Specialised functions by class and key layout (inspected by tests).
_SHAPES: dict[type[BaseRecord], dict[tuple[str, ...], _StructureFn]] = {}


def _make_decoder(cls: type[BaseRecord]) -> _StructureFn:
    """The lenient decoder of one record class.

    It picks a function specialised for the dict's key layout (records of one kind arrive in a
    handful of layouts) and falls back to the generic function, compiled on first use so that
    importing the library stays cheap.
    """
    shapes = _SHAPES[cls] = {}
    counts: dict[tuple[str, ...], int] = {}
    generic: _StructureFn | None = None

    def get_generic() -> _StructureFn:
        nonlocal generic
        if generic is None:
            generic = _make_structure_fn(cls)
        return generic

    def decode(o: Any, _t: Any = None) -> Any:
        if o.__class__ is dict:
            shape = tuple(o)
            fn = shapes.get(shape)
            if fn is not None:
                return fn(o)
            seen = counts.get(shape, 0) + 1
            if seen >= _SPECIALIZE_AFTER and len(shapes) < _MAX_SHAPES:
                counts.pop(shape, None)
                # A layout that lacks a required field always fails: it keeps the generic
                # function (and its error message) without being counted again.
                fn = shapes[shape] = _specialise(cls, shape) or get_generic()
                return fn(o)
            if len(counts) < _MAX_COUNTED:
                counts[shape] = seen
        return get_generic()(o)

    decode.__name__ = decode.__qualname__ = f"decode_{cls.__name__}"
    return decode


def _specialise(cls: type[BaseRecord], shape: tuple[str, ...]) -> _StructureFn | None:
    present = set(shape)
    if any(required and name not in present for name, _, _, required in _field_plan(cls)):
        return None
    return _make_structure_fn(cls, shape)


def _make_unstructure_fn(cls: type[BaseRecord]) -> Callable[[Any], dict[str, Any]]:
    """Generate the unstructure function of one record class: wire shape, ``None`` omitted."""
    namespace: dict[str, Any] = {"_list": list}
    lines = ["def unstructure(obj):", f"    d = {{'mk_rec_type': {cls.REC_TYPE!r}}}"]
    for i, (name, kind, item_cls, _) in enumerate(_field_plan(cls)):
        lines.append(f"    v = obj.{name}")
        if kind == _RECORDS:
            assert item_cls is not None
            namespace[f"_item{i}"] = converter.get_unstructure_hook(item_cls)
            value = f"[_item{i}(x) for x in v]"
        elif kind in (_STRS, _LIST):
            value = "_list(v)"
        else:
            value = "v"
        lines.append(f"    if v is not None: d[{name!r}] = {value}")
    lines.append("    return d")
    return _compile(lines, namespace, f"unstructure_{cls.__name__}")


def _compile(lines: list[str], namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<fleep_async generated {name}>", "exec")
    exec(code, namespace)  # noqa: S102  # our own generated source, no outside input
    fn: Callable[..., Any] = namespace[lines[0][4 : lines[0].index("(")]]
    fn.__name__ = fn.__qualname__ = name
    return fn


def _structure_unknown(o: Any, _t: Any = None) -> UnknownRecord:
    if o.__class__ is not dict and not isinstance(o, Mapping):
        _not_object("a record", o)
    rec_type = o.get("mk_rec_type")
    if rec_type.__class__ is not str:
        msg = "cannot decode a record: 'mk_rec_type' is missing or not a string"
        raise DecodeError(msg)
    return UnknownRecord(mk_rec_type=rec_type, raw=o)


def _unstructure_unknown(obj: UnknownRecord) -> dict[str, Any]:
    return {**obj.raw, "mk_rec_type": obj.mk_rec_type}


def _is_record_class(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseRecord) and tp.REC_TYPE in RECORD_TYPES


#: The lenient decoder of every modelled record type, by ``mk_rec_type``.
_LENIENT: Final[dict[str, _StructureFn]] = {
    rec_type: _make_decoder(cls) for rec_type, cls in RECORD_TYPES.items()
}
converter.register_structure_hook_factory(_is_record_class, lambda cls: _LENIENT[cls.REC_TYPE])
#: The specialised functions of every modelled record type by key layout (the same dicts as
#: ``_SHAPES``, filled by the decoders): parse_record looks a record's layout up itself, one
#: call level less than going through the decoder.
_SHAPES_BY_TYPE: Final[dict[str, dict[tuple[str, ...], _StructureFn]]] = {
    rec_type: _SHAPES[cls] for rec_type, cls in RECORD_TYPES.items()
}
LAYOUT_DECODERS: Final[Mapping[str, Mapping[tuple[str, ...], Callable[[Any], Record]]]] = (
    _SHAPES_BY_TYPE
)
"""For a caller that decodes many records whose ``mk_rec_type`` it has read (the event
engine's page pass): for a plain ``dict`` ``raw`` (``raw.__class__ is dict``),
``LAYOUT_DECODERS[kind].get(tuple(raw))`` is the function specialised for that exact key
layout, when there is one; ``fn(raw)`` is what :func:`parse_record` returns. It reads the
values by position: never call it with another mapping or another layout. Without one (a new
layout, an unmodelled kind, not a plain dict), call :func:`parse_record`. Read-only: the
decoders fill it as layouts recur."""
converter.register_unstructure_hook_factory(_is_record_class, _make_unstructure_fn)
converter.register_structure_hook(UnknownRecord, _structure_unknown)
converter.register_unstructure_hook(UnknownRecord, _unstructure_unknown)


def _is_record_union(tp: Any) -> bool:
    return tp is BaseRecord or tp == Record


# --- the strict hooks ----------------------------------------------------------------------------


def _strict_scalar(kind: int, types_: tuple[type, ...]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _t: Any) -> Any:
        if value.__class__ not in types_:
            msg = f"must be {_EXPECTED[kind]}, not {type(value).__name__}"
            raise TypeError(msg)
        return value

    return hook


strict_converter.register_structure_hook(str, _strict_scalar(_STR, (str,)))
strict_converter.register_structure_hook(int, _strict_scalar(_INT, (int,)))
strict_converter.register_structure_hook(bool, _strict_scalar(_BOOL, (bool,)))
strict_converter.register_structure_hook(float, _strict_scalar(_FLOAT, (float, int)))
strict_converter.register_structure_hook(Any, lambda value, _t: value)
_str_or_number = _strict_scalar(_STR_OR_NUMBER, (str, float, int))


def _is_str_or_number(tp: Any) -> bool:
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    return set(typing.get_args(tp)) - {type(None)} == {str, float}


strict_converter.register_structure_hook_func(
    _is_str_or_number,
    lambda value, tp: None if value is None else _str_or_number(value, tp),
)


def _strict_str_or_mapping(value: Any, _t: Any) -> Any:
    if value is None or value.__class__ is str or isinstance(value, Mapping):
        return value
    msg = f"must be {_EXPECTED[_STR_OR_MAPPING]}, not {type(value).__name__}"
    raise TypeError(msg)


def _is_str_or_mapping(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp)
    return origin in (typing.Union, types.UnionType) and _is_str_or_mapping_args(
        typing.get_args(tp)
    )


strict_converter.register_structure_hook_func(_is_str_or_mapping, _strict_str_or_mapping)


def _strict_tuple_factory(tp: Any) -> Callable[[Any, Any], Any]:
    item_hook = strict_converter.get_structure_hook(typing.get_args(tp)[0])
    item_type = typing.get_args(tp)[0]

    def hook(value: Any, _t: Any) -> tuple[Any, ...]:
        # cattrs would accept any iterable (a string becomes a tuple of characters).
        if type(value) not in (list, tuple):
            msg = f"must be a list, not {type(value).__name__}"
            raise TypeError(msg)
        return tuple(item_hook(item, item_type) for item in value)

    return hook


def _is_homogeneous_tuple(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp)
    return origin is tuple and typing.get_args(tp)[1:] == (Ellipsis,)


strict_converter.register_structure_hook_factory(_is_homogeneous_tuple, _strict_tuple_factory)


def _strict_record_factory(cls: type[BaseRecord]) -> Callable[[Any, Any], Any]:
    if cls is UnknownRecord:
        return _structure_unknown
    base = make_dict_structure_fn(
        cls,
        strict_converter,
        _cattrs_forbid_extra_keys=True,
        _cattrs_detailed_validation=True,
    )

    def hook(value: Any, tp: Any) -> Any:
        if not isinstance(value, Mapping):
            _not_object(f"a {cls.REC_TYPE!r} record", value)
        if "mk_rec_type" in value:
            if value["mk_rec_type"] != cls.REC_TYPE:
                msg = f"cannot decode a {cls.REC_TYPE!r} record: 'mk_rec_type' does not match"
                raise DecodeError(msg)
            value = {k: v for k, v in value.items() if k != "mk_rec_type"}
        return base(value, tp)

    return hook


strict_converter.register_structure_hook_factory(
    lambda tp: _is_record_class(tp) or tp is UnknownRecord, _strict_record_factory
)
converter.register_structure_hook_func(_is_record_union, lambda value, _t: parse_record(value))
strict_converter.register_structure_hook_func(
    _is_record_union, lambda value, _t: parse_record(value, strict=True)
)
strict_converter.register_unstructure_hook(UnknownRecord, _unstructure_unknown)


# --- public functions ----------------------------------------------------------------------------


def parse_record(raw: Mapping[str, Any], *, strict: bool = False) -> Record:
    """Decode one stream record, dispatching on its ``mk_rec_type``.

    Args:
        raw: the record as decoded from JSON.
        strict: use :data:`strict_converter` (tests): extra keys and loose types fail.

    Returns:
        The typed record; an :class:`~fleep_async.models.UnknownRecord` for unmodelled types.

    Raises:
        DecodeError: not an object, ``mk_rec_type`` missing or not a string, a required field
            missing, or a field of the wrong type.
    """
    if raw.__class__ is dict:
        rec_type = raw.get("mk_rec_type")
        if not strict and rec_type.__class__ is str:
            # The hot path: a layout seen before has its own function (see _make_decoder).
            shapes = _SHAPES_BY_TYPE.get(rec_type)
            if shapes is not None:
                fn = shapes.get(tuple(raw))
                if fn is not None:
                    result: Record = fn(raw)
                    return result
    elif not isinstance(raw, Mapping):
        _not_object("a record", raw)
    else:
        rec_type = raw.get("mk_rec_type")
    if rec_type.__class__ is not str:
        msg = "cannot decode a record: 'mk_rec_type' is missing or not a string"
        raise DecodeError(msg)
    if strict:
        cls = RECORD_TYPES.get(rec_type, UnknownRecord)
        record: Record = structure(raw, cls, strict=True)  # type: ignore[assignment]
        return record
    decode = _LENIENT.get(rec_type)
    if decode is None:
        return UnknownRecord(mk_rec_type=rec_type, raw=raw)
    decoded: Record = decode(raw)
    return decoded


def parse_stream(
    raw: Sequence[Mapping[str, Any]], *, strict: bool = False, tolerant: bool = False
) -> list[Record]:
    """Decode a ``stream`` list of records (see :func:`parse_record`), keeping their order.

    Args:
        raw: the list as decoded from JSON.
        strict: use :data:`strict_converter` (tests): extra keys and loose types fail.
        tolerant: decode record by record as the event engine does: a record that does not
            fit its class is kept as an :class:`~fleep_async.models.UnknownRecord` (its raw
            object), an item that is no record at all is dropped, each with a warning. Used
            for API answers, whose change the server has already made.

    Raises:
        DecodeError: ``raw`` is not a list, or (unless ``tolerant``) one of its records cannot
            be decoded.
    """
    if raw.__class__ is not list and not isinstance(raw, list | tuple):
        msg = f"cannot decode a stream: expected a JSON array, got {type(raw).__name__}"
        raise DecodeError(msg)
    if strict:
        return [parse_record(item, strict=True) for item in raw]
    if tolerant:
        return _parse_tolerant(raw)
    table = _LENIENT
    out: list[Record] = []
    append = out.append
    for item in raw:
        # Fast path inline; anything unusual goes through parse_record.
        if item.__class__ is dict:
            rec_type = item.get("mk_rec_type")
            if rec_type.__class__ is str:
                fn = table.get(rec_type)
                if fn is not None:
                    append(fn(item))
                    continue
        append(parse_record(item))
    return out


def _parse_tolerant(raw: Sequence[Any]) -> list[Record]:
    out: list[Record] = []
    for item in raw:
        try:
            out.append(parse_record(item))
        except DecodeError as exc:
            rec_type = item.get("mk_rec_type") if isinstance(item, Mapping) else None
            if isinstance(rec_type, str):
                _log.warning("kept a record as UnknownRecord: %s", exc)
                out.append(UnknownRecord(mk_rec_type=rec_type, raw=item))
            else:
                _log.warning("dropped a stream item that is not a record: %s", exc)
    return out


def structure(obj: Any, cls: type[_T], *, strict: bool = False) -> _T:
    """Decode ``obj`` into ``cls`` (a record class, ``Record``, or any type cattrs handles).

    Raises:
        DecodeError: ``obj`` does not fit ``cls``.
    """
    conv = strict_converter if strict else converter
    try:
        result: _T = conv.structure(obj, cls)
    except DecodeError:
        raise
    except BaseValidationError as exc:
        lines = cattrs.transform_error(exc, path="$")
        msg = f"cannot decode {_type_name(cls)}: " + "; ".join(lines[:5])
        raise DecodeError(msg[:500]) from exc
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # The exception text may quote the value, which may be a secret: keep only its type.
        msg = f"cannot decode {_type_name(cls)}: {type(exc).__name__}"
        raise DecodeError(msg) from exc
    return result


def unstructure(obj: Any) -> Any:
    """Encode a record (or a list of them, or any value) to its wire shape; ``None`` is omitted."""
    return converter.unstructure(obj)


def _type_name(cls: Any) -> str:
    if isinstance(cls, type) and issubclass(cls, BaseRecord):
        return f"a {cls.REC_TYPE!r} record" if cls.REC_TYPE else "a record"
    return getattr(cls, "__name__", None) or repr(cls)
