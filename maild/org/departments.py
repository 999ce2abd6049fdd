"""Departments: their addresses, brand, default group, autoresponder, auto-close, and whether
a Reply-To names the requester."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
import jinja2.sandbox
import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import parse_address
from maild.errors import Conflict, InvalidRequest
from maild.org import audit
from maild.org.common import KEEP, Keep, by_name, given, in_use, require_free_name
from maild.store.models import Brand, Department, DepartmentAddress, Group, Ticket

_PARSER = jinja2.sandbox.SandboxedEnvironment()  # parses only: rendering is outbound's
TEMPLATES = ("autoresponder_subject", "autoresponder_body", "autoresponder_html")


@dataclass(frozen=True)
class DepartmentSpec:
    name: str | Keep = KEEP
    brand: str | Keep = KEEP  # brand name; on create, the first brand when left out
    default_group: str | None | Keep = KEEP  # a group of this department
    addresses: tuple[str, ...] | Keep = KEEP
    autoresponder_subject: str | Keep = KEEP
    autoresponder_body: str | Keep = KEEP  # empty = no autoresponder
    autoresponder_html: str | Keep = KEEP
    auto_close_after_minutes: int | None | Keep = KEEP  # None = never
    reply_to_is_requester: bool | Keep = KEEP  # a Reply-To naming one mailbox is the requester


def department_state(session: Session, department: Department) -> dict[str, Any]:
    group = session.get(Group, department.default_group_id) if department.default_group_id else None
    return {
        "name": department.name,
        "brand": department.brand.name,
        "default_group": group.name if group else None,
        "addresses": sorted(a.address for a in department.addresses),
        "autoresponder_subject": department.autoresponder_subject,
        "autoresponder_body": department.autoresponder_body,
        "autoresponder_html": department.autoresponder_html,
        "auto_close_after_minutes": department.auto_close_after_minutes,
        "reply_to_is_requester": department.reply_to_is_requester,
    }


def check_template(name: str, source: str) -> None:
    """A template that does not parse is refused with its line (it would fail every mail)."""
    try:
        _PARSER.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidRequest(
            f"{name} is not a valid Jinja2 template: {exc.message} (line {exc.lineno})"
        ) from None


def create_department(
    session: Session, spec: DepartmentSpec, *, actor: str, now: datetime
) -> Department:
    values = given(spec)
    name = require_free_name(session, Department, values.pop("name", ""))
    brand = _brand(session, values.pop("brand", None))
    department = Department(name=name, brand_id=brand.id)
    session.add(department)
    session.flush()
    _apply(session, department, values)
    audit.record(
        session,
        actor=actor,
        entity="department",
        key=name,
        before=None,
        after=department_state(session, department),
        now=now,
    )
    return department


def update_department(
    session: Session, name: str, spec: DepartmentSpec, *, actor: str, now: datetime
) -> Department:
    department = by_name(session, Department, name)
    before, values = department_state(session, department), given(spec)
    if "name" in values:
        department.name = require_free_name(session, Department, values.pop("name"), department)
    if "brand" in values:
        department.brand_id = _brand(session, values.pop("brand")).id
    _apply(session, department, values)
    audit.record(
        session,
        actor=actor,
        entity="department",
        key=department.name,
        before=before,
        after=department_state(session, department),
        now=now,
    )
    return department


def _brand(session: Session, name: str | None) -> Brand:
    if name is not None:
        return by_name(session, Brand, name)
    first = session.scalars(sa.select(Brand).order_by(Brand.id)).first()
    if first is None:
        raise InvalidRequest("there is no brand yet; create one first")
    return first


def _apply(session: Session, department: Department, values: dict[str, Any]) -> None:
    for key in TEMPLATES:
        if key in values:
            check_template(key, values[key])
            setattr(department, key, values[key])
    department.autoresponder_enabled = bool(department.autoresponder_body.strip())
    if "auto_close_after_minutes" in values:
        minutes = values["auto_close_after_minutes"]
        if minutes is not None and minutes < 1:
            raise InvalidRequest("auto_close_after_minutes must be at least 1, or null for never")
        department.auto_close_after_minutes = minutes
    if "reply_to_is_requester" in values:
        department.reply_to_is_requester = values["reply_to_is_requester"]
    if "addresses" in values:
        _set_addresses(session, department, values["addresses"])
    if "default_group" in values:
        department.default_group_id = _default_group(session, department, values["default_group"])
    session.flush()
    session.refresh(department)


def _set_addresses(session: Session, department: Department, addresses: tuple[str, ...]) -> None:
    """The department answers exactly these addresses (lower-cased); an address another
    department owns is refused, naming it (DESIGN §1: an address names one department)."""
    wanted = {parse_address(a, "department address").lower() for a in addresses}
    for address in sorted(wanted):
        owner = session.scalars(
            sa.select(DepartmentAddress).where(DepartmentAddress.address == address)
        ).first()
        if owner is not None and owner.department_id != department.id:
            other = session.get(Department, owner.department_id)
            raise Conflict(
                f"address {address!r} belongs to department {other.name if other else '?'!r};"
                " remove it there first"
            )
    for row in list(department.addresses):
        if row.address not in wanted:
            department.addresses.remove(row)
    session.flush()
    have = {row.address for row in department.addresses}
    for address in sorted(wanted - have):
        department.addresses.append(DepartmentAddress(address=address))


def _default_group(session: Session, department: Department, name: str | None) -> int | None:
    if name is None:
        return None
    group = by_name(session, Group, name)
    if group.department_id != department.id:
        raise InvalidRequest(
            f"group {name!r} is not in department {department.name!r}; pick one of its groups"
        )
    return group.id


def delete_department(session: Session, name: str, *, actor: str, now: datetime) -> None:
    department = by_name(session, Department, name)
    in_use(
        session,
        f"department {name!r} still has groups",
        sa.select(Group.id).where(Group.department_id == department.id),
    )
    in_use(
        session,
        f"department {name!r} still has tickets",
        sa.select(Ticket.id).where(Ticket.department_id == department.id),
    )
    before = department_state(session, department)
    session.delete(department)
    session.flush()
    audit.record(
        session, actor=actor, entity="department", key=name, before=before, after=None, now=now
    )
