"""Checks beyond types: single values (addresses, listen, templates, ...) and references across
sections (a group naming a missing department, an address used twice, ...)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

import jinja2.sandbox
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from maild.addresses import normal_form
from maild.config.imap import FIELD_CHECKS as IMAP_FIELD_CHECKS
from maild.config.imap import check_imap_accounts
from maild.config.where import At
from maild.errors import InvalidRequest
from maild.outbound.templates import TemplateName, available_names, check_template, field_name
from maild.settings import (
    AgentConfig,
    ApiSettings,
    AuthSettings,
    BrandConfig,
    DatabaseSettings,
    DepartmentConfig,
    DepartmentTemplates,
    GroupConfig,
    IngestLimits,
    OutboundSettings,
    Settings,
    SmtpSettings,
    TicketSettings,
)

# Zero means something here ("never receives", "no autoresponses", "every copy is its own
# mail"); other integers must be >= 1.
_ZERO_ALLOWED = frozenset(
    {"max_tickets", "max_per_sender", "max_per_domain", "duplicate_window_minutes"}
)
# A longer window would fold a sender's reused Message-ID (some web forms send a fixed one)
# into mail of weeks before.
_MAX_DUPLICATE_WINDOW_MINUTES = 30 * 24 * 60
_TEMPLATES = jinja2.sandbox.SandboxedEnvironment()  # only parses: templates are checked at start


def check_field(cls: type, name: str, value: Any, at: At) -> None:
    if type(value) is int and value < (0 if name in _ZERO_ALLOWED else 1):
        raise at.error(f"must be at least {0 if name in _ZERO_ALLOWED else 1}, got {value}")
    if name == "name" and not value.strip():
        raise at.error("must not be empty")
    check = _FIELD_CHECKS.get((cls, name))
    if check is not None:
        check(value, at)


def _check_listen(value: str, at: At) -> None:
    host, sep, port = value.rpartition(":")
    if not (sep and host.strip("[]") and port.isdigit() and 1 <= int(port) <= 65535):
        raise at.error(f"{value!r} is not host:port with a port 1-65535 (e.g. 127.0.0.1:2525)")


def _check_hostname(value: str, at: At) -> None:
    # It is written into the greeting and the EHLO reply: a domain name, nothing else.
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?", value):
        raise at.error(f"{value!r} is not a host name (letters, digits, dots and hyphens)")


def _check_readable_file(value: str, at: At) -> None:
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise at.error(f"{value!r} is not a readable file")


def _optional(check: Callable[[str, At], None]) -> Callable[[str, At], None]:
    """The check for a string setting where "" means "not set"."""
    return lambda value, at: check(value, at) if value else None


def _check_address(value: str, at: At) -> None:
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):
        parsed = None
    if parsed is None or not parsed.domain or parsed.addr_spec != value:
        raise at.error(f"{value!r} is not an email address (expected local@domain, no name)")


def _check_addresses(values: tuple[str, ...], at: At) -> None:
    for index, value in enumerate(values):
        _check_address(value, at.item(index))


def _check_times(values: tuple[str, ...], at: At) -> None:
    for index, value in enumerate(values):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise at.item(index).error(f"{value!r} is not a time of day HH:MM (UTC), e.g. 06:30")


def _check_template(family: str, html: bool = False) -> Callable[[str, At], None]:
    """The check of a template setting: valid Jinja2 that renders with the names its mail
    provides, so a misspelt variable stops maild at start (StrictUndefined), not at send."""

    def check(value: str, at: At) -> None:
        if not value:
            return
        try:
            _TEMPLATES.parse(value)
        except jinja2.TemplateSyntaxError as exc:
            reason = f"not a valid Jinja2 template: {exc.message} (line {exc.lineno})"
            raise at.error(reason) from None
        try:
            check_template(value, family, html)
        except InvalidRequest as exc:
            raise at.error(f"{exc} (names available: {available_names(family)})") from None

    return check


def _check_ip_address(value: str, at: At) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise at.error(f"{value!r} is not an IP address (e.g. 127.0.0.1 or ::1)") from None


def _check_port(value: int, at: At) -> None:
    if not 1 <= value <= 65535:
        raise at.error(f"{value} is not a port (1-65535)")


def _check_authserv_id(value: str, at: At) -> None:
    # RFC 8601 §2.5: a domain name (or another token) with no blanks, `;` or controls.
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", value):
        example = "the MTA's host name, e.g. mx.example.com"
        raise at.error(f"{value!r} is not an authserv-id ({example})")


def _check_one_line(value: str, at: At) -> None:
    if any(c in value for c in "\r\n\x00"):
        raise at.error("must be one line (a line break would start a mail header)")


def _check_duplicate_window(value: int, at: At) -> None:
    if value > _MAX_DUPLICATE_WINDOW_MINUTES:
        limit = _MAX_DUPLICATE_WINDOW_MINUTES
        raise at.error(f"must be at most {limit} (30 days), got {value}")


def _check_database_url(value: str, at: At) -> None:
    hint = "use sqlite:///path/to/maild.db or postgresql://user@host/dbname"
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise at.error(f"{value!r} is not a database URL; {hint}") from None
    if backend not in ("sqlite", "postgresql"):
        raise at.error(f"unsupported database {backend!r}; {hint}")


def check_ticket_formats(tickets: TicketSettings, at: At) -> None:
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


_FIELD_CHECKS: dict[tuple[type, str], Callable[[Any, At], None]] = {
    (SmtpSettings, "listen"): _check_listen,
    (SmtpSettings, "hostname"): _optional(_check_hostname),
    (SmtpSettings, "tls_cert"): _optional(_check_readable_file),
    (SmtpSettings, "tls_key"): _optional(_check_readable_file),
    (ApiSettings, "listen"): _check_listen,
    (OutboundSettings, "relay"): _optional(_check_listen),  # "": write .eml files instead
    (OutboundSettings, "from_address"): _check_address,
    (DepartmentConfig, "addresses"): _check_addresses,
    (AgentConfig, "email"): _optional(_check_address),
    (GroupConfig, "rebalance_times"): _check_times,
    (DatabaseSettings, "url"): _check_database_url,
    (IngestLimits, "duplicate_window_minutes"): _check_duplicate_window,
    (DepartmentConfig, "autoresponder_subject"): _check_template("autoresponder"),
    (DepartmentConfig, "autoresponder_body"): _check_template("autoresponder"),
    (DepartmentConfig, "autoresponder_html"): _check_template("autoresponder", html=True),
    (BrandConfig, "signature"): _check_template("signature"),
    (BrandConfig, "from_name"): _check_one_line,
    (AuthSettings, "nameserver"): _optional(_check_ip_address),
    (AuthSettings, "port"): _check_port,
    (AuthSettings, "trusted_authserv_id"): _optional(_check_authserv_id),
    **{
        (DepartmentTemplates, field_name(name)): _check_template(name.family, name.html)
        for name in TemplateName
        if name.family != "autoresponder"
    },
    **IMAP_FIELD_CHECKS,
}


def check_references(settings: Settings, at: At) -> None:
    for section in ("brands", "departments", "groups", "agents", "imap"):
        _check_unique_names(getattr(settings, section), at.child(section))
    _check_unique_addresses(settings.departments, at.child("departments"))
    _check_departments(settings, at.child("departments"))
    _check_groups(settings, at.child("groups"))
    check_imap_accounts(settings, at.child("imap"))
    if bool(settings.smtp.tls_cert) != bool(settings.smtp.tls_key):
        missing = "tls_key" if settings.smtp.tls_cert else "tls_cert"
        raise at.under("smtp", missing).error("STARTTLS needs both tls_cert and tls_key")
    default = settings.tickets.default_department
    if default and default not in {d.name for d in settings.departments}:
        where = at.under("tickets", "default_department")
        raise where.error(f"{default!r} is not a department; {_declared(settings.departments)}")


def _declared(items: tuple[Any, ...]) -> str:
    names = ", ".join(repr(item.name) for item in items)
    return f"declared: {names}" if names else "none is declared"


def _check_unique_names(items: tuple[Any, ...], at: At) -> None:
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.name in first:
            where = at.item(first[item.name]).key
            raise at.under(index, "name").error(f"{item.name!r} is already used at {where}")
        first[item.name] = index


def _check_unique_addresses(departments: tuple[DepartmentConfig, ...], at: At) -> None:
    owner: dict[str, str] = {}
    for index, department in enumerate(departments):
        for number, address in enumerate(department.addresses):
            key = normal_form(address)  # compared as maild stores them (case, IDN spelling)
            if key in owner:
                where = at.under(index, "addresses", number)
                raise where.error(f"{address!r} is already an address of {owner[key]!r}")
            owner[key] = department.name


def _check_departments(settings: Settings, at: At) -> None:
    brands = {b.name for b in settings.brands} or {"Default"}  # made when none is declared
    for index, department in enumerate(settings.departments):
        if department.brand and department.brand not in brands:
            reason = f"{department.brand!r} is not a brand; {_declared(settings.brands)}"
            raise at.under(index, "brand").error(reason)
        own = tuple(g for g in settings.groups if g.department == department.name)
        if department.default_group and department.default_group not in {g.name for g in own}:
            reason = f"{department.default_group!r} is not a group of this department"
            raise at.under(index, "default_group").error(f"{reason}; {_declared(own)}")


def _check_groups(settings: Settings, at: At) -> None:
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
