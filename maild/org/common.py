"""What every organisation change shares: the KEEP sentinel, lookups by name, uniqueness."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest, NotFound


class Keep(Enum):
    """A spec field left out: keep the current value (or the default, on create)."""

    KEEP = "keep"


KEEP = Keep.KEEP
T = TypeVar("T")


def given(spec: Any) -> dict[str, Any]:
    """The fields of `spec` that were given (not KEEP)."""
    return {
        f.name: getattr(spec, f.name) for f in fields(spec) if getattr(spec, f.name) is not KEEP
    }


def by_name(session: Session, model: type[T], name: str) -> T:
    """The row of `model` called `name`; NotFound names the table and what to do."""
    row = session.scalars(sa.select(model).where(model.name == name)).first()  # type: ignore[attr-defined]
    if row is None:
        label = model.__tablename__.replace("_", " ")  # type: ignore[attr-defined]
        raise NotFound(f"no {label} named {name!r}; check the name (case matters)")
    return row


def require_free_name(session: Session, model: Any, name: str, current: Any = None) -> str:
    """`name` stripped, non-empty, and not used by another row of `model`."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidRequest("the name must not be empty")
    existing = session.scalars(sa.select(model).where(model.name == cleaned)).first()
    if existing is not None and existing is not current:
        label = model.__tablename__.replace("_", " ")
        raise Conflict(f"a {label} named {cleaned!r} already exists; pick another name")
    return cleaned


def in_use(session: Session, what: str, statement: sa.Select[Any]) -> None:
    """Refuse to delete something rows still point at (DESIGN: tickets are never orphaned)."""
    count = session.execute(sa.select(sa.func.count()).select_from(statement.subquery())).scalar()
    if count:
        raise Conflict(f"{what} ({count}); move or remove them first")
