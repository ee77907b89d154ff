"""Command-line options generated from a dataclass, the way transformers' `HfArgumentParser` does for `run_clm.py`.

A config field declares itself once: its type and default in the annotation, and in `field(metadata=...)` its
`help`, `min`/`max` and `choices`. `add_dataclass_arguments` turns each field into `--field-name` (the types,
choices and help from that declaration) and `namespace_to_dataclass` lays the options given over a base config;
the Train form reads the same metadata (`meta`) for its widgets' limits. Hand-written, not HfArgumentParser
itself: that one needs transformers (seconds to import; `python -m core --help` must stay fast) and sets every
default at parse time, while here an option not given leaves the base (a `--config` file or a preset) alone."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def meta(cls, name: str) -> dict:
    """A field's metadata: help, min, max, choices (each optional)."""
    return dict(next(f for f in dataclasses.fields(cls) if f.name == name).metadata)


def kind(cls, name: str) -> type:
    """A field's value type as an option reads it: `int | None` -> int."""
    return _plain(typing.get_type_hints(cls)[name])


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_fields(cls) -> list[dataclasses.Field]:
    """The fields that are options: those not marked `cli: False` in their metadata."""
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("cli", True)]


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, aliases: dict[str, list[str]] | None = None,
                            exclude: tuple[str, ...] = ()) -> None:
    """One option per field of `cls`; `aliases` gives a field other flag names too ({"dataset": ["--data"]}).
    Every option defaults to None, so that `namespace_to_dataclass` knows which ones were given."""
    aliases = aliases or {}
    hints = typing.get_type_hints(cls)  # the string annotations of `from __future__ import annotations` as types
    for field in cli_fields(cls):
        if field.name in exclude:
            continue
        kind, info = _plain(hints[field.name]), field.metadata
        options: dict = {"dest": field.name, "default": None, "help": _help(field)}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) in (list, tuple):
            options.update(nargs="+", type=typing.get_args(kind)[0], metavar=field.name.upper().removesuffix("S"))
        else:
            options["type"] = kind
        if info.get("choices"):
            options["choices"] = list(info["choices"])
        parser.add_argument(*aliases.get(field.name, []), flag(field.name), **options)


def namespace_to_dataclass(args: argparse.Namespace, cls, base=None):
    """`base` (default: `cls()`) with every option that was given on the command line."""
    given = {f.name: getattr(args, f.name) for f in cli_fields(cls) if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base if base is not None else cls(), **given)


def _plain(kind):
    """`int | None` -> int: an option left out is what None means."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _help(field: dataclasses.Field) -> str:
    text = field.metadata.get("help", "")
    default = field.default if field.default is not dataclasses.MISSING else None
    if default not in (None, "") and "default" not in text:
        text = f"{text} (default {default})" if text else f"default {default}"
    return text.replace("%", "%%")  # argparse formats help with %
