"""Dialect-specific SQL the core needs: an INSERT that tolerates a row that already exists.

Both SQLite and PostgreSQL speak `INSERT ... ON CONFLICT`; SQLAlchemy spells it per dialect.
The statements are built once per table and key set and run on the table (Core), with the row
as parameters: building and cache-keying a fresh ORM statement cost several times the insert.
The ones that run for every mail (`insert_if_missing`, `insert_new`, and `insert_new_rows` for
one row or on SQLite) are `Prepared`: compiled once, run on the driver's cursor.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maild.store.prepared import Prepared


def upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> None:
    """Insert `values`; when a row with the same `keys` exists, overwrite its other columns.
    Safe under concurrency (no read-then-write race between two sessions)."""
    statement = _upsert(_dialect(session), model.__table__, tuple(keys), tuple(sorted(values)))
    session.execute(statement, values)


def insert_if_missing(
    session: Session, model: Any, values: dict[str, Any], keys: list[str]
) -> None:
    """Insert `values` unless a row with the same `keys` exists (then do nothing)."""
    _prepared_ignoring(_dialect(session), model.__table__, tuple(keys)).execute(session, values)


def insert_new(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> int | None:
    """Insert `values` and return the new row's id; None when a row with the same `keys` exists
    (then nothing is written). The conflict is not an error, so no savepoint is needed to survive
    it, and a concurrent insert of the same keys waits for ours rather than failing."""
    statement = _prepared_returning_id(_dialect(session), model.__table__, tuple(keys))
    found = statement.scalar(session, values)
    return int(found) if found is not None else None


def insert_new_rows(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: list[str], columns: list[str]
) -> list[tuple[Any, ...]]:
    """Insert `rows` with one multi-row statement (per page of rows) and return `columns` of
    each row inserted, in no particular order. A row whose `keys` an existing row has is
    skipped: nothing written for it, nothing returned. `rows` must not repeat a key."""
    if not rows:
        return []
    dialect = _dialect(session)
    if len(rows) == 1 or dialect == "sqlite":
        # Row by row on the driver's cursor: SQLite has no round trip to save, and rendering
        # a multi-row statement (SQLAlchemy does it on every call) costs more than the rows.
        # The SMTP group commit runs this on the event loop, where each 100 µs counts.
        prepared = _prepared_insert_returning(dialect, model.__table__, tuple(keys), tuple(columns))
        return [tuple(row) for values in rows for row in prepared.execute(session, values) or ()]
    statement = _insert_returning(dialect, model.__table__, tuple(keys), tuple(columns))
    # On the session's connection: the ORM's execute adds nothing to a Core INSERT but cost.
    return [tuple(row) for row in session.connection().execute(statement, rows)]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert(dialect: str, table: sa.Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@lru_cache(maxsize=128)
def _insert_ignoring(dialect: str, table: sa.Table, keys: tuple[str, ...]) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=128)
def _prepared_ignoring(dialect: str, table: sa.Table, keys: tuple[str, ...]) -> Prepared:
    return Prepared(_insert_ignoring(dialect, table, keys))


@lru_cache(maxsize=128)
def _prepared_returning_id(dialect: str, table: sa.Table, keys: tuple[str, ...]) -> Prepared:
    return Prepared(_insert_ignoring(dialect, table, keys).returning(table.c.id))


@lru_cache(maxsize=128)
def _prepared_insert_returning(
    dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Prepared:
    return Prepared(_insert_returning(dialect, table, keys, columns))


@lru_cache(maxsize=128)
def _insert_returning(
    dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    return _insert_ignoring(dialect, table, keys).returning(*(table.c[c] for c in columns))


@lru_cache(maxsize=128)
def _upsert(dialect: str, table: sa.Table, keys: tuple[str, ...], names: tuple[str, ...]) -> Any:
    statement = _insert(dialect, table)
    changes = {name: statement.excluded[name] for name in names if name not in keys}
    if not changes:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
