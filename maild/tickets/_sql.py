"""Dialect-specific SQL the core needs: an INSERT that tolerates a row that already exists.

Both SQLite and PostgreSQL speak `INSERT ... ON CONFLICT`; SQLAlchemy spells it per dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> None:
    """Insert `values`; when a row with the same `keys` exists, overwrite its other columns.
    Safe under concurrency (no read-then-write race between two sessions)."""
    statement = _insert(session, model).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    if changes:
        session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
    else:
        session.execute(statement.on_conflict_do_nothing(index_elements=keys))


def insert_if_missing(
    session: Session, model: Any, values: dict[str, Any], keys: list[str]
) -> None:
    """Insert `values` unless a row with the same `keys` exists (then do nothing)."""
    statement = _insert(session, model).values(**values)
    session.execute(statement.on_conflict_do_nothing(index_elements=keys))


def _insert(session: Session, model: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_new(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> int | None:
    """Insert `values` and return the new row's id; None when a row with the same `keys` exists
    (then nothing is written). The conflict is not an error, so no savepoint is needed to survive
    it, and a concurrent insert of the same keys waits for ours rather than failing."""
    statement = _insert(session, model).values(**values).returning(model.id)
    return session.execute(statement.on_conflict_do_nothing(index_elements=keys)).scalar()
