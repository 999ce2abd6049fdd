"""The simple catalogues admins keep: brands, canned replies and custom field definitions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest
from maild.org import audit
from maild.org.common import KEEP, Keep, by_name, given, in_use, require_free_name
from maild.store.models import Brand, CannedReply, CustomField, Department, Ticket, TicketField
from maild.tickets.fields import define_field
from maild.values import FieldType

# --- brands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandSpec:
    name: str | Keep = KEEP
    from_name: str | Keep = KEEP  # the From display name of its mail
    signature: str | Keep = KEEP


def brand_state(brand: Brand) -> dict[str, Any]:
    return {"name": brand.name, "from_name": brand.from_name, "signature": brand.signature}


def create_brand(session: Session, spec: BrandSpec, *, actor: str, now: datetime) -> Brand:
    values = given(spec)
    brand = Brand(name=require_free_name(session, Brand, values.pop("name", "")), **values)
    session.add(brand)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="brand",
        key=brand.name,
        before=None,
        after=brand_state(brand),
        now=now,
    )
    return brand


def update_brand(
    session: Session, name: str, spec: BrandSpec, *, actor: str, now: datetime
) -> Brand:
    return _update_named(session, Brand, name, spec, brand_state, "brand", actor=actor, now=now)


def delete_brand(session: Session, name: str, *, actor: str, now: datetime) -> None:
    brand = by_name(session, Brand, name)
    in_use(
        session,
        f"brand {name!r} still has departments",
        sa.select(Department.id).where(Department.brand_id == brand.id),
    )
    in_use(
        session,
        f"brand {name!r} still has tickets",
        sa.select(Ticket.id).where(Ticket.brand_id == brand.id),
    )
    _delete_named(session, brand, brand_state, "brand", actor=actor, now=now)


# --- canned replies ------------------------------------------------------------------------


@dataclass(frozen=True)
class CannedReplySpec:
    name: str | Keep = KEEP
    subject: str | Keep = KEEP
    body: str | Keep = KEEP


def canned_state(reply: CannedReply) -> dict[str, Any]:
    return {"name": reply.name, "subject": reply.subject, "body": reply.body}


def create_canned_reply(
    session: Session, spec: CannedReplySpec, *, actor: str, now: datetime
) -> CannedReply:
    values = given(spec)
    name = require_free_name(session, CannedReply, values.pop("name", ""))
    reply = CannedReply(name=name, **values)
    session.add(reply)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="canned_reply",
        key=name,
        before=None,
        after=canned_state(reply),
        now=now,
    )
    return reply


def update_canned_reply(
    session: Session, name: str, spec: CannedReplySpec, *, actor: str, now: datetime
) -> CannedReply:
    return _update_named(
        session, CannedReply, name, spec, canned_state, "canned_reply", actor=actor, now=now
    )


def delete_canned_reply(session: Session, name: str, *, actor: str, now: datetime) -> None:
    reply = by_name(session, CannedReply, name)
    _delete_named(session, reply, canned_state, "canned_reply", actor=actor, now=now)


# --- custom fields -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str | Keep = KEEP
    type: FieldType | Keep = KEEP
    choices: tuple[str, ...] | Keep = KEEP


def field_state(field: CustomField) -> dict[str, Any]:
    choices = [c for c in field.choices.split("\n") if c]
    return {"name": field.name, "type": field.type.value, "choices": choices}


def create_field(session: Session, spec: FieldSpec, *, actor: str, now: datetime) -> CustomField:
    values = given(spec)
    type_ = values.get("type", FieldType.TEXT)
    field = define_field(session, values.get("name", ""), type_, values.get("choices", ()))
    audit.record(
        session,
        actor=actor,
        entity="custom_field",
        key=field.name,
        before=None,
        after=field_state(field),
        now=now,
    )
    return field


def update_field(
    session: Session, name: str, spec: FieldSpec, *, actor: str, now: datetime
) -> CustomField:
    """Rename a field or change its choices; its type only while no ticket has a value (the
    stored values were checked against the old type)."""
    field = by_name(session, CustomField, name)
    before, values = field_state(field), given(spec)
    if "name" in values:
        field.name = require_free_name(session, CustomField, values["name"], field)
    if "type" in values and values["type"] is not field.type:
        _require_no_values(session, field, "its type cannot change")
        field.type = values["type"]
    if "choices" in values:
        field.choices = "\n".join(c.strip() for c in values["choices"] if c.strip())
    if field.type is FieldType.CHOICE and not field.choices:
        raise InvalidRequest(f"choice field {field.name!r} needs at least one choice")
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="custom_field",
        key=field.name,
        before=before,
        after=field_state(field),
        now=now,
    )
    return field


def _require_no_values(session: Session, field: CustomField, what: str) -> None:
    used = sa.select(TicketField.ticket_id).where(TicketField.field_id == field.id).limit(1)
    if session.execute(used).first() is not None:
        raise Conflict(f"tickets have values for {field.name!r}, so {what}; clear them first")


def delete_field(session: Session, name: str, *, actor: str, now: datetime) -> None:
    """Remove the definition and every ticket's value of it (audited with the definition)."""
    field = by_name(session, CustomField, name)
    _delete_named(session, field, field_state, "custom_field", actor=actor, now=now)


# --- what the catalogues share --------------------------------------------------------------

Named = TypeVar("Named", Brand, CannedReply, CustomField)


def _update_named(
    session: Session,
    model: type[Named],
    name: str,
    spec: Any,
    state: Callable[[Named], dict[str, Any]],
    entity: str,
    *,
    actor: str,
    now: datetime,
) -> Named:
    """Set the fields `spec` gives (a new name must be free), audited before and after."""
    row = by_name(session, model, name)
    before, values = state(row), given(spec)
    if "name" in values:
        values["name"] = require_free_name(session, model, values["name"], row)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    after = state(row)
    audit.record(
        session, actor=actor, entity=entity, key=row.name, before=before, after=after, now=now
    )
    return row


def _delete_named(
    session: Session,
    row: Named,
    state: Callable[[Named], dict[str, Any]],
    entity: str,
    *,
    actor: str,
    now: datetime,
) -> None:
    key, before = row.name, state(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, entity=entity, key=key, before=before, after=None, now=now)
