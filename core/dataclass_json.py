"""A dataclass from JSON text or a JSON object, checked against the dataclass's own field types.

One mechanism for every configuration the lab reads from JSON (a run's TrainConfig; decoding settings and the
cleaning recipe can use it too): text that is not JSON, unknown keys, missing required keys and values of the
wrong type become one `UserError` line that names the field, the type it wants and what it got, instead of a
TypeError much later.

JSON has one number type, so an int is accepted where a float is wanted and a whole float (8.0) where an int is;
a bool is never a number, and NaN or infinity is never a number either (Python's json reads them).
Hand-written, not pydantic (here only as typer's dependency): its TypeAdapter takes no config for a plain
dataclass, so every config class would have to carry pydantic settings; its strict mode refuses JSON's 8.0 for
an int, its lax mode takes "8"; and its messages are worded for developers. dacite (not installed) checks with
isinstance, so true passes for an int and NaN for a float."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from functools import cache

from core.errors import UserError

_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", type(None): "null",
          list: "a list", tuple: "a list", dict: "an object"}
_GIVEN = {str: "the string", int: "the number", float: "the number", bool: "", type(None): "",
          list: "the list", tuple: "the list", dict: "the object"}


def parse(text: str, *, where: str = "config"):
    """json.loads, with each way it fails as one line that starts with `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError.coded("json_invalid", where=where, reason=exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise UserError.coded("json_too_deep", where=where) from None
    except ValueError:  # the only other one: an integer longer than Python converts (int_max_str_digits)
        raise UserError.coded("json_number_long", where=where, digits=sys.get_int_max_str_digits()) from None


def from_dict(cls, data, *, where: str = "config"):
    """`cls(**data)` once every key is a field of `cls` and every value has its field's type (nested dataclasses,
    lists, tuples, dicts and `X | None` included). `where` starts each message: "the config file run.json"."""
    if not isinstance(data, dict):
        raise UserError.coded("json_not_object", where=where, given=_given(data))
    hints = _hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise UserError.coded("options_unknown", where=where, unknown=", ".join(unknown), known=", ".join(known))
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UserError.coded("options_missing", where=where, missing=", ".join(missing))
    return cls(**{key: convert(hints[key], value, where=f"{where}: {key}") for key, value in data.items()})


def convert(kind, value, *, where: str):
    """`value` as type `kind`, or a UserError saying "<where> must be <kind>, not <value>"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return convert(option, value, where=where)
            except UserError:
                continue
        if _infinite(value) and (int in args or float in args):
            raise _not_finite(value, where)
        raise _wrong(kind, value, where)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where=where)
    if origin in (list, tuple) or kind in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _wrong(kind, value, where)
        item = args[0] if args else typing.Any  # list[X] and tuple[X, ...]
        items = [convert(item, v, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or kind) is tuple else items
    if origin is dict or kind is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _wrong(kind, value, where)
        item = args[1] if args else typing.Any
        return {k: convert(item, v, where=f"{where}.{k}") for k, v in value.items()}
    return _scalar(kind, value, where)


def _scalar(kind, value, where: str):
    if _infinite(value) and kind in (int, float):
        raise _not_finite(value, where)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (str, bool) and isinstance(value, kind):
        return value
    if kind is type(None) and value is None:
        return None
    raise _wrong(kind, value, where)


def _infinite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _not_finite(value, where: str) -> UserError:
    return UserError.coded("value_not_finite", where=where, value=value)


def _wrong(kind, value, where: str) -> UserError:
    return UserError.coded("value_wrong_type", where=where, kind=describe(kind), given=_given(value))


def describe(kind) -> str:
    """A type in words: `int | None` -> "a whole number or null"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin in (list, tuple) and args:
        return f"a list of {_plural(args[0])}"
    if dataclasses.is_dataclass(kind):
        return "an object"
    return _NAMES.get(origin or kind, getattr(kind, "__name__", str(kind)))


def _plural(kind) -> str:
    words = describe(kind)
    return {"a string": "strings", "a whole number": "whole numbers", "a number": "numbers", "an object": "objects",
            "a list": "lists", "true or false": "true or false values"}.get(words, words)


def _given(value) -> str:
    """What was given, as JSON writes it: `the string "8"`, `true`, `null`, `a list [1, 2]`."""
    try:
        shown = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        shown = type(value).__name__
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    kind = _GIVEN.get(type(value), type(value).__name__)
    return f"{kind} {shown}".strip()


@cache
def _hints(cls) -> dict:
    # get_type_hints turns the string annotations of `from __future__ import annotations` back into types
    return typing.get_type_hints(cls)
