"""Custom fields: admins define them (text, number, date, choice); tickets carry checked values.

Values are stored as text in a canonical form (numbers as written by Decimal, dates as ISO
YYYY-MM-DD) so search can compare them on any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest, NotFound
from maild.store.models import CustomField, Ticket, TicketField
from maild.tickets._sql import upsert
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.lookup import require_live
from maild.values import FieldType


def define_field(
    session: Session, name: str, type_: FieldType, choices: Sequence[str] = ()
) -> CustomField:
    """Define a custom field; a choice field needs its choices."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidRequest("a custom field needs a name")
    if session.scalars(sa.select(CustomField).where(CustomField.name == cleaned)).first():
        raise Conflict(f"custom field {cleaned!r} already exists; pick another name")
    options = [c.strip() for c in choices if c.strip()]
    if type_ is FieldType.CHOICE and not options:
        raise InvalidRequest(f"choice field {cleaned!r} needs at least one choice")
    field = CustomField(name=cleaned, type=type_, choices="\n".join(options))
    session.add(field)
    session.flush()
    return field


def get_field(session: Session, name: str) -> CustomField:
    field = session.scalars(sa.select(CustomField).where(CustomField.name == name)).first()
    if field is None:
        raise NotFound(f"no custom field {name!r}; define it first")
    return field


def set_field(
    session: Session, ticket: Ticket, name: str, value: str, *, actor: Actor, now: datetime
) -> None:
    """Set the ticket's value of field `name`; an empty value clears it."""
    require_live(ticket)
    field = get_field(session, name)
    previous = field_values(session, ticket).get(field.name, "")
    key = {"ticket_id": ticket.id, "field_id": field.id}
    if value.strip():
        canonical = canonical_value(field, value)
        upsert(session, TicketField, {**key, "value": canonical}, ["ticket_id", "field_id"])
    else:
        canonical = ""
        session.execute(sa.delete(TicketField).filter_by(**key))
    ticket.last_action_at = now
    note(session, ticket, actor, Action.FIELD, now, previous, canonical, field.name)


def canonical_value(field: CustomField, value: str) -> str:
    """`value` checked against the field's type, in its stored form."""
    text = value.strip()
    if field.type is FieldType.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise InvalidRequest(f"{field.name} takes a number; {value!r} is not one")
        return format(number.normalize(), "f")  # "12.0" and "12" are the same number
    if field.type is FieldType.DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidRequest(
                f"{field.name} takes a date as YYYY-MM-DD, not {value!r}"
            ) from None
    if field.type is FieldType.CHOICE and text not in field.choices.split("\n"):
        options = ", ".join(field.choices.split("\n"))
        raise InvalidRequest(f"{field.name} takes one of: {options}; not {value!r}")
    return text


def field_values(session: Session, ticket: Ticket) -> dict[str, str]:
    """The ticket's custom field values by field name."""
    statement = (
        sa.select(CustomField.name, TicketField.value)
        .join(TicketField, TicketField.field_id == CustomField.id)
        .where(TicketField.ticket_id == ticket.id)
        .order_by(CustomField.name)
    )
    return {name: value for name, value in session.execute(statement)}
