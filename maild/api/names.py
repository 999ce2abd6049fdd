"""Names in requests (group, agent, brand) turned into rows, and tickets the caller may see."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.api.context import Caller
from maild.api.errors import bad_field
from maild.errors import NotFound
from maild.store.models import Ticket
from maild.tickets.access import can_see
from maild.tickets.lookup import resolve_number

T = TypeVar("T")


def row_by_name(session: Session, model: type[T], name: str, field: str) -> T:
    """The row of `model` called `name`; an unknown name is a 422 naming the request field."""
    found = session.scalars(sa.select(model).where(model.name == name)).first()  # type: ignore[attr-defined]
    if found is None:
        label = model.__tablename__.replace("_", " ")  # type: ignore[attr-defined]
        raise bad_field(field, f"no {label} named {name!r}; check the name (case matters)")
    return found


def id_by_name(session: Session, model: Any, name: str | None, field: str) -> int | None:
    return None if name is None else row_by_name(session, model, name, field).id


def visible_ticket(session: Session, caller: Caller, number: str) -> Ticket:
    """The ticket `number` names (a merged-away number finds its ticket), when the caller may
    see it. Otherwise NotFound, worded alike for both cases: no answer reveals whether a
    ticket the caller may not see exists."""
    ticket = resolve_number(session, number)
    if ticket is None or not can_see(session, caller.viewer, ticket):
        raise NotFound(f"no ticket {number!r} that you can see; check the number (e.g. SUP-000123)")
    return ticket
