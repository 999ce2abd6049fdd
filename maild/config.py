"""Loading the configuration: one TOML file plus `MAILD_<SECTION>_<KEY>` overrides -> `Settings`.

The file is `--config FILE`, else `$MAILD_CONFIG`, else `./maild.toml`; with none of them the
product defaults apply, but a file that is named and missing is an error. Parsing is driven by
the dataclasses of `maild.settings`: their field names are the accepted keys and their type hints
the accepted types, so a new setting needs no parsing code. Every mistake raises `ConfigError`
with the file (or environment variable), the dotted key (`groups[0].members[1].mode`) and what
to fix. Relative SQLite paths in `database.url` are resolved against the current directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2.sandbox
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from maild.errors import ConfigError
from maild.settings import (
    AgentConfig,
    ApiSettings,
    DatabaseSettings,
    DepartmentConfig,
    GroupConfig,
    OutboundSettings,
    Settings,
    SmtpSettings,
    TicketSettings,
)

DEFAULT_PATH = "maild.toml"
ENV_CONFIG = "MAILD_CONFIG"
ENV_PREFIX = "MAILD_"
DEFAULTS_SOURCE = "<defaults>"
# Zero means something here ("never receives", "no autoresponses"); other integers must be >= 1.
_ZERO_ALLOWED = frozenset({"max_tickets", "max_per_sender"})
_TOML_TYPES = {str: "a string", int: "an integer", bool: "a boolean (true/false)"}
_TEMPLATES = jinja2.sandbox.SandboxedEnvironment()  # only parses: templates are checked at start
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclasses.dataclass(frozen=True)
class _At:
    """Where a value came from: the file (or env var naming it) and its dotted key."""

    source: str
    key: str = ""
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def child(self, name: str) -> _At:
        return dataclasses.replace(self, key=f"{self.key}.{name}" if self.key else name)

    def item(self, index: int) -> _At:
        return dataclasses.replace(self, key=f"{self.key}[{index}]")

    def under(self, *path: str | int) -> _At:
        """`at.under(0, "members", 1)` is `at.item(0).child("members").item(1)`."""
        at = self
        for part in path:
            at = at.item(part) if isinstance(part, int) else at.child(part)
        return at

    def error(self, reason: str) -> ConfigError:
        return ConfigError(self.origins.get(self.key, self.source), self.key or "(file)", reason)


def load_settings(path: str | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read, override from the environment, validate; raise `ConfigError` on any mistake."""
    source, file = _find_file(path, environ)
    data = _read_toml(file, source) if file is not None else {}
    at = _At(source, origins=_apply_env(data, environ))
    settings = _build(Settings, data, at)
    _check_references(settings, at)
    database = dataclasses.replace(settings.database, url=_absolute_sqlite(settings.database.url))
    return dataclasses.replace(settings, source=source, database=database)


def _find_file(path: str | None, environ: Mapping[str, str]) -> tuple[str, Path | None]:
    if path is not None:
        return path, _existing(path, "--config")
    named = environ.get(ENV_CONFIG, "")
    if named:
        return named, _existing(named, ENV_CONFIG)
    default = Path(DEFAULT_PATH)
    return (DEFAULT_PATH, default) if default.is_file() else (DEFAULTS_SOURCE, None)


def _existing(path: str, named_by: str) -> Path:
    if Path(path).exists():
        return Path(path)
    raise ConfigError(path, named_by, "no such file; check the path (or omit it for defaults)")


def _read_toml(file: Path, source: str) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", f"not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "(file)", "not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(source, "(file)", f"cannot read it: {exc.strerror}") from exc


# --- environment overrides ---------------------------------------------------------------


def _sections() -> dict[str, type]:
    """The singleton sections ([database], [smtp], ...): the Settings fields that are tables."""
    fields = _field_types(Settings).items()
    return {k: t for k, t in fields if isinstance(t, type) and dataclasses.is_dataclass(t)}


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge MAILD_<SECTION>_<KEY> into `data`; return which keys came from which variable.

    Variables whose <SECTION> is not a section (MAILD_CONFIG, MAILD_TEST_POSTGRES_URL) are not
    settings; a known section with an unknown key is a typo and fails like one in the file."""
    origins: dict[str, str] = {}
    sections = _sections()
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX) :].lower() if name.startswith(ENV_PREFIX) else ""
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            continue
        key = rest[len(section) + 1 :]
        at = _At(name, f"{section}.{key}")
        fields = _field_types(sections[section])
        if key not in fields:
            known = ", ".join(f"{ENV_PREFIX}{section}_{k}".upper() for k in fields)
            raise at.error(f"unknown setting; [{section}] can be overridden by: {known}")
        table = data.setdefault(section, {})
        if isinstance(table, dict):  # otherwise _build reports the malformed section
            table[key] = _parse_text(fields[key], environ[name], at)
            origins[at.key] = name
    return origins


def _parse_text(tp: Any, text: str, at: _At) -> Any:
    """An environment variable's text as the TOML value it stands for."""
    base, optional = _unwrap_optional(tp)
    if optional and text == "":
        return None
    if base is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise at.error(f"expected true or false, got {text!r}")
        return text.lower() in _TRUE
    if base is int:
        try:
            return int(text)
        except ValueError:
            raise at.error(f"expected an integer, got {text!r}") from None
    if base is str or _is_enum(base):
        return text
    raise at.error("cannot be set from the environment; set it in the config file")


# --- generic, dataclass-driven conversion ------------------------------------------------


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    # `source` records where the settings came from; it is not a setting.
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name != "source"}


def _required(cls: type) -> set[str]:
    missing = dataclasses.MISSING
    return {f.name for f in dataclasses.fields(cls) if f.default is f.default_factory is missing}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if isinstance(tp, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, StrEnum)


def _describe(value: Any) -> str:
    kind = {str: "string", bool: "boolean", int: "integer", float: "float", list: "array"}
    name = "table" if isinstance(value, dict) else kind.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if not isinstance(value, dict | list) else name


def _build(cls: type, data: Any, at: _At) -> Any:
    """An instance of the dataclass `cls` from a TOML table, every field converted and checked."""
    if not isinstance(data, dict):
        raise at.error(f"expected a table, got {_describe(data)}")
    fields = _field_types(cls)
    for key in data:
        if key not in fields:
            what = "section; sections are" if cls is Settings else "key; accepted keys are"
            raise at.child(key).error(f"unknown {what}: {', '.join(fields)}")
    values = {}
    for name, tp in fields.items():
        if name in data:
            values[name] = _convert(tp, data[name], at.child(name))
            _check_field(cls, name, values[name], at.child(name))
        elif name in _required(cls):
            raise at.child(name).error("missing; this key is required")
    built = cls(**values)
    if isinstance(built, TicketSettings):
        _check_ticket_formats(built, at)
    return built


def _convert(tp: Any, value: Any, at: _At) -> Any:
    base, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        return _build(base, value, at)
    if typing.get_origin(base) is tuple:
        if not isinstance(value, list):
            raise at.error(f"expected an array, got {_describe(value)}")
        item_type = typing.get_args(base)[0]
        return tuple(_convert(item_type, v, at.item(i)) for i, v in enumerate(value))
    if _is_enum(base):
        choices = [member.value for member in base]
        if value not in choices:
            raise at.error(f"{value!r} is not one of: {', '.join(choices)}")
        return base(value)
    if type(value) is base:  # exact: TOML true is not the integer 1
        return value
    raise at.error(f"expected {_TOML_TYPES.get(base, base)}, got {_describe(value)}")


# --- checks on single values -------------------------------------------------------------


def _check_field(cls: type, name: str, value: Any, at: _At) -> None:
    if type(value) is int and value < (0 if name in _ZERO_ALLOWED else 1):
        raise at.error(f"must be at least {0 if name in _ZERO_ALLOWED else 1}, got {value}")
    if name == "name" and not value.strip():
        raise at.error("must not be empty")
    check = _FIELD_CHECKS.get((cls, name))
    if check is not None:
        check(value, at)


def _check_listen(value: str, at: _At) -> None:
    host, sep, port = value.rpartition(":")
    if not (sep and host.strip("[]") and port.isdigit() and 1 <= int(port) <= 65535):
        raise at.error(f"{value!r} is not host:port with a port 1-65535 (e.g. 127.0.0.1:2525)")


def _optional(check: Callable[[str, _At], None]) -> Callable[[str, _At], None]:
    """The check for a string setting where "" means "not set"."""
    return lambda value, at: check(value, at) if value else None


def _check_address(value: str, at: _At) -> None:
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):
        parsed = None
    if parsed is None or not parsed.domain or parsed.addr_spec != value:
        raise at.error(f"{value!r} is not an email address (expected local@domain, no name)")


def _check_addresses(values: tuple[str, ...], at: _At) -> None:
    for index, value in enumerate(values):
        _check_address(value, at.item(index))


def _check_times(values: tuple[str, ...], at: _At) -> None:
    for index, value in enumerate(values):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise at.item(index).error(f"{value!r} is not a time of day HH:MM (UTC), e.g. 06:30")


def _check_template(value: str, at: _At) -> None:
    try:
        _TEMPLATES.parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise at.error(f"not a valid Jinja2 template: {exc.message} (line {exc.lineno})") from None


def _check_database_url(value: str, at: _At) -> None:
    hint = "use sqlite:///path/to/maild.db or postgresql://user@host/dbname"
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise at.error(f"{value!r} is not a database URL; {hint}") from None
    if backend not in ("sqlite", "postgresql"):
        raise at.error(f"unsupported database {backend!r}; {hint}")


def _check_ticket_formats(tickets: TicketSettings, at: _At) -> None:
    try:
        first, second = tickets.format_number(1), tickets.format_number(2)
    except (KeyError, IndexError, ValueError) as exc:
        raise at.child("number_format").error(
            f"cannot be formatted ({exc}); use {{prefix}} and {{seq}}, e.g. {{prefix}}-{{seq:06d}}"
        ) from None
    if first == second:
        raise at.child("number_format").error("must contain {seq} so that numbers differ")
    if len(tickets.format_number(10**12)) > 50:
        raise at.child("number_format").error("makes numbers longer than 50 characters")
    try:
        tag = tickets.tag("N")
    except (KeyError, IndexError, ValueError) as exc:
        raise at.child("subject_tag").error(f"cannot be formatted ({exc})") from None
    if "{number}" not in tickets.subject_tag or "N" not in tag:
        raise at.child("subject_tag").error("must contain {number}, e.g. [#{number}]")


_FIELD_CHECKS: dict[tuple[type, str], Callable[[Any, _At], None]] = {
    (SmtpSettings, "listen"): _check_listen,
    (ApiSettings, "listen"): _check_listen,
    (OutboundSettings, "relay"): _optional(_check_listen),  # "": write .eml files instead
    (OutboundSettings, "from_address"): _check_address,
    (DepartmentConfig, "addresses"): _check_addresses,
    (AgentConfig, "email"): _optional(_check_address),
    (GroupConfig, "rebalance_times"): _check_times,
    (DatabaseSettings, "url"): _check_database_url,
    **{
        (DepartmentConfig, f"autoresponder_{k}"): _check_template
        for k in ("subject", "body", "html")
    },
}


def _absolute_sqlite(url: str) -> str:
    """`sqlite:///var/maild.db` means var/maild.db under the current directory; pin it now so
    that the database does not move if the process changes directory later."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path.cwd() / database)).render_as_string(False)


# --- checks across sections --------------------------------------------------------------


def _check_references(settings: Settings, at: _At) -> None:
    for section in ("brands", "departments", "groups", "agents"):
        _check_unique_names(getattr(settings, section), at.child(section))
    _check_unique_addresses(settings.departments, at.child("departments"))
    _check_departments(settings, at.child("departments"))
    _check_groups(settings, at.child("groups"))
    default = settings.tickets.default_department
    if default and default not in {d.name for d in settings.departments}:
        where = at.under("tickets", "default_department")
        raise where.error(f"{default!r} is not a department; {_declared(settings.departments)}")


def _declared(items: tuple[Any, ...]) -> str:
    names = ", ".join(repr(item.name) for item in items)
    return f"declared: {names}" if names else "none is declared"


def _check_unique_names(items: tuple[Any, ...], at: _At) -> None:
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.name in first:
            where = at.item(first[item.name]).key
            raise at.under(index, "name").error(f"{item.name!r} is already used at {where}")
        first[item.name] = index


def _check_unique_addresses(departments: tuple[DepartmentConfig, ...], at: _At) -> None:
    owner: dict[str, str] = {}
    for index, department in enumerate(departments):
        for number, address in enumerate(department.addresses):
            key = address.lower()  # addresses are compared case-insensitively
            if key in owner:
                where = at.under(index, "addresses", number)
                raise where.error(f"{address!r} is already an address of {owner[key]!r}")
            owner[key] = department.name


def _check_departments(settings: Settings, at: _At) -> None:
    brands = {b.name for b in settings.brands} or {"Default"}  # made when none is declared
    for index, department in enumerate(settings.departments):
        if department.brand and department.brand not in brands:
            reason = f"{department.brand!r} is not a brand; {_declared(settings.brands)}"
            raise at.under(index, "brand").error(reason)
        own = tuple(g for g in settings.groups if g.department == department.name)
        if department.default_group and department.default_group not in {g.name for g in own}:
            reason = f"{department.default_group!r} is not a group of this department"
            raise at.under(index, "default_group").error(f"{reason}; {_declared(own)}")


def _check_groups(settings: Settings, at: _At) -> None:
    departments = {d.name for d in settings.departments}
    agents = {a.name for a in settings.agents}
    for index, group in enumerate(settings.groups):
        if group.department not in departments:
            reason = f"{group.department!r} is not a department; {_declared(settings.departments)}"
            raise at.under(index, "department").error(reason)
        seen: set[str] = set()
        for number, member in enumerate(group.members):
            where = at.under(index, "members", number, "agent")
            if member.agent not in agents:
                reason = f"{member.agent!r} is not an agent; {_declared(settings.agents)}"
                raise where.error(f"{reason} (add it under [[agents]])")
            if member.agent in seen:
                raise where.error(f"{member.agent!r} is listed twice in this group")
            seen.add(member.agent)
