"""Dataclass-driven conversion: the fields of `maild.settings` are the accepted keys and their
type hints the accepted types, so a new setting needs no parsing code."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import StrEnum
from typing import Any

from maild.config.checks import check_field, check_ticket_formats
from maild.config.where import At
from maild.settings import Settings, TicketSettings

_TOML_TYPES = {str: "a string", int: "an integer", bool: "a boolean (true/false)"}


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    # `source` records where the settings came from; it is not a setting.
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name != "source"}


def _required(cls: type) -> set[str]:
    missing = dataclasses.MISSING
    return {f.name for f in dataclasses.fields(cls) if f.default is f.default_factory is missing}


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if isinstance(tp, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, StrEnum)


def _describe(value: Any) -> str:
    kind = {str: "string", bool: "boolean", int: "integer", float: "float", list: "array"}
    name = "table" if isinstance(value, dict) else kind.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if not isinstance(value, dict | list) else name


def build(cls: type, data: Any, at: At) -> Any:
    """An instance of the dataclass `cls` from a TOML table, every field converted and checked."""
    if not isinstance(data, dict):
        raise at.error(f"expected a table, got {_describe(data)}")
    fields = field_types(cls)
    for key in data:
        if key not in fields:
            what = "section; sections are" if cls is Settings else "key; accepted keys are"
            raise at.child(key).error(f"unknown {what}: {', '.join(fields)}")
    values = {}
    for name, tp in fields.items():
        if name in data:
            values[name] = _convert(tp, data[name], at.child(name))
            check_field(cls, name, values[name], at.child(name))
        elif name in _required(cls):
            raise at.child(name).error("missing; this key is required")
    built = cls(**values)
    if isinstance(built, TicketSettings):
        check_ticket_formats(built, at)
    return built


def _convert(tp: Any, value: Any, at: At) -> Any:
    base, optional = unwrap_optional(tp)
    if value is None and optional:
        return None
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return build(base, value, at)
    if typing.get_origin(base) is tuple:
        if not isinstance(value, list):
            raise at.error(f"expected an array, got {_describe(value)}")
        item_type = typing.get_args(base)[0]
        return tuple(_convert(item_type, v, at.item(i)) for i, v in enumerate(value))
    if is_enum(base):
        choices = [member.value for member in base]
        if value not in choices:
            raise at.error(f"{value!r} is not one of: {', '.join(choices)}")
        return base(value)
    if type(value) is base:  # exact: TOML true is not the integer 1
        return value
    raise at.error(f"expected {_TOML_TYPES.get(base, base)}, got {_describe(value)}")
