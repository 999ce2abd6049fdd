"""Hot Core statements run straight on the driver's cursor, compiled once per dialect.

Every mail runs about ten fixed Core statements (spool rows, first copy, message, ticket,
number, participant, the row marked done). Through `Session.execute` each cost about 100 µs of
SQLAlchemy's execution machinery (cache key, execution context, parameter processing, result
wrapper) against about 10 µs in the driver: half the pipeline's time per mail went there.

A `Prepared` statement is compiled by SQLAlchemy once per dialect and set of parameter names,
with the bind processors of its columns' types and the scalar defaults of the columns left out
(so rows are stored exactly as through SQLAlchemy), and executed on the DBAPI cursor of the
session's own connection, in the session's transaction. What it returns is the driver's plain
rows: use it for statements whose results need no type conversion (ids, counts, numbers). A
statement whose compiled form needs a column default computed by a function is run through
SQLAlchemy as usual, so nothing is left out; so is every statement while a listener watches the
engine's statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # the parameters' order for a positional paramstyle
    processors: Mapping[str, Callable[[Any], Any]]
    defaults: Mapping[str, Any]  # the scalar defaults of the columns not given
    compiled: SQLCompiler


class Prepared:
    """One Core statement (insert, update, select) with bound parameters."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, tuple[str, ...]], _Compiled | None] = {}

    def execute(self, session: Session, params: Mapping[str, Any]) -> Sequence[Row] | None:
        """Run it with `params` in the session's transaction; the rows it returns (RETURNING,
        SELECT) as the driver gives them, or None when it returns none."""
        connection = session.connection()
        form = self._form(connection.dialect, params)
        if form is None or _observed(connection):
            result = connection.execute(cast(Executable, self.statement), dict(params))
            return [tuple(row) for row in result] if result.returns_rows else None
        values = form.compiled.construct_params(params)
        values.update(form.defaults)
        for name, process in form.processors.items():
            values[name] = process(values[name])
        driver = connection.connection.dbapi_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            if form.names is None:
                cursor.execute(form.sql, values)
            else:
                cursor.execute(form.sql, tuple(values[name] for name in form.names))
            return cursor.fetchall() if cursor.description is not None else None
        except connection.dialect.loaded_dbapi.Error as exc:
            raise _translated(connection, form.sql, values, exc, cursor) from exc
        finally:
            cursor.close()

    def first(self, session: Session, params: Mapping[str, Any]) -> Row | None:
        rows = self.execute(session, params)
        return rows[0] if rows else None

    def scalar(self, session: Session, params: Mapping[str, Any]) -> Any:
        """The first column of the first row; None when there is no row."""
        row = self.first(session, params)
        return row[0] if row is not None else None

    def _form(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled | None:
        key = (dialect.name, tuple(params))
        try:
            return self._forms[key]
        except KeyError:
            form = self._forms[key] = _compile(self.statement, dialect, list(params))
            return form


def _observed(connection: Connection) -> bool:
    """Someone listens for the statements run (a test counting them, tracing): they are run
    through SQLAlchemy then, so every listener sees every statement."""
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _translated(
    connection: Connection, sql: str, values: Mapping[str, Any], error: Exception, cursor: Any
) -> Exception:
    """The driver's error as SQLAlchemy raises it (`IntegrityError`, `DataError`, ...), which
    is what callers catch; a lost connection is invalidated, as SQLAlchemy does."""
    dialect = connection.dialect
    if dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor):  # type: ignore[arg-type]
        connection.invalidate(error)
    base = dialect.loaded_dbapi.Error
    return sa_exc.DBAPIError.instance(sql, dict(values), error, base)


def _compile(statement: ClauseElement, dialect: Dialect, keys: list[str]) -> _Compiled | None:
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    assert isinstance(compiled, SQLCompiler)
    # A column default computed in Python (a function) needs SQLAlchemy's execution context,
    # and an expanding IN its parameter rewriting: such statements take the ordinary road.
    prefetch = [*compiled.insert_prefetch, *compiled.update_prefetch]
    if any(column.default is None or not column.default.is_scalar for column in prefetch):
        return None
    if any(bind.expanding for bind in compiled.bind_names):
        return None
    defaults = {column.key: column.default.arg for column in prefetch}  # type: ignore[union-attr]
    processors: dict[str, Callable[[Any], Any]] = {}
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[compiled.escaped_bind_names.get(name, name)] = process
    names = tuple(compiled.positiontup or ()) if compiled.positional else None
    return _Compiled(compiled.string, names, processors, defaults, compiled)
