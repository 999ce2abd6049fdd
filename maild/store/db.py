"""Engine, sessions and schema management.

SQLite is the embedded default: WAL, `synchronous=FULL` (a committed mail survives a power cut),
foreign keys on. Writers (`Store.transaction()`) start with `BEGIN IMMEDIATE`, so two writers
queue on the busy timeout instead of failing half-way; readers (`Store.sessions()`) start a
deferred transaction, which under WAL never blocks a writer: a long `maild export` does not hold
up the SMTP listener's commits. Any SQLAlchemy PostgreSQL URL works too; there readers run
REPEATABLE READ, READ ONLY, so that they too see one snapshot.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from maild.errors import StorageError

# Shipped inside the package (the wheel holds them), so an installed maild can `init`.
MIGRATIONS = resources.files("maild.store") / "migrations"
# The execution option that marks a writer's connection (see `Store.transaction`).
_WRITER = "maild_writer"
# ... and a writer that gives up at once when another connection holds the write lock.
_NOWAIT = "maild_nowait"
_BUSY_TIMEOUT_MS = 30000


class WriterBusy(StorageError):
    """`Store.transaction_now()` found the database's write lock taken."""


def normalise_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3, the driver maild installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **kwargs)
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred BEGIN that later writes may fail at once with SQLITE_BUSY (its snapshot is
        # stale) instead of waiting: writers take the lock up front, readers never take it.
        options = connection.get_execution_options()
        if not options.get(_NOWAIT, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITER) else "BEGIN")
            return
        # Another process writing: SQLITE_BUSY at once rather than the busy handler's wait.
        # On the driver's cursor: these run on the event loop, where each SQLAlchemy execute
        # (about 80 µs) counts.
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise WriterBusy("another connection holds the write lock") from exc
        finally:
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.close()

    return engine


class Store:
    """The database handle passed to every service: an engine and its session factories.

    `sessions()` is for reading (on SQLite a deferred transaction that never blocks a writer);
    anything that writes uses `transaction()`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A reader sees one snapshot across its statements, as SQLite's deferred transaction
        # does: a ticket read as its messages and then its counts must not tell two moments
        # apart. PostgreSQL's default (READ COMMITTED) takes a snapshot per statement.
        readers = engine
        if self.dialect == "postgresql":
            readers = engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self.sessions = sessionmaker(readers, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue on this lock and are
        # handed the database at once; SQLite's own busy handler (for other processes) sleeps
        # in growing steps and would leave it idle between a commit and the next writer.
        self._write_lock: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )
        self._writers = sessionmaker(
            engine.execution_options(**{_WRITER: True}), expire_on_commit=False
        )
        self._eager_writers = sessionmaker(
            engine.execution_options(**{_WRITER: True, _NOWAIT: True}), expire_on_commit=False
        )

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Store:
        return cls(create_db_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work that may write: committed when the block ends, rolled back when it
        raises. On SQLite it holds the write lock from its first statement."""
        with self._write_lock, self._writers.begin() as session:
            yield session

    @contextmanager
    def transaction_now(self) -> Iterator[Session]:
        """`transaction()` on SQLite when the write lock is free this moment; `WriterBusy`
        (before anything ran) when another thread or another connection holds it. For callers
        that would rather do something else than wait, such as an event loop."""
        if self.dialect != "sqlite":
            raise WriterBusy("only SQLite transactions start without waiting")
        if not self._write_lock.acquire(blocking=False):  # type: ignore[attr-defined]
            raise WriterBusy("another thread of this process holds the write lock")
        try:
            with self._eager_writers.begin() as session:
                session.connection()  # BEGIN IMMEDIATE here, so that WriterBusy comes first
                yield session
        finally:
            self._write_lock.release()  # type: ignore[attr-defined]

    @property
    def factories(self) -> tuple[sessionmaker[Session], ...]:
        """Every session factory (readers, writers), for hooks on session events."""
        return (self.sessions, self._writers)

    def close(self) -> None:
        self.engine.dispose()


def hold_lock(session: Session, name: str) -> None:
    """Serialise the work named `name` across processes until the caller's transaction ends:
    a PostgreSQL advisory lock. On SQLite a writer's `BEGIN IMMEDIATE` already serialises it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade_schema(store: Store) -> None:
    """Create or upgrade the schema to the newest migration (`maild init`)."""
    from alembic import command

    try:
        writer = store.engine.execution_options(**{_WRITER: True})
        command.upgrade(alembic_config(writer), "head")
    except sa.exc.OperationalError as exc:
        raise StorageError(f"cannot open or migrate the database: {exc.orig}") from exc
