"""Who waits for whom: readers never hold up writers, and applying the config is serialised
across processes (issue 8: a long `maild export` must not stall SMTP's commits)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.provision import apply_config
from maild.store.db import Store, WriterBusy
from maild.store.models import Agent, Department
from tests.support import desk_settings


def test_an_open_reader_does_not_block_a_writer(store: Store, db_url: str) -> None:
    with store.transaction() as session:
        apply_config(session, desk_settings(db_url), datetime.now(UTC))
    with store.sessions() as reader:
        assert reader.scalar(sa.select(sa.func.count()).select_from(Agent)) == 2
        # The reader's transaction is still open: a writer commits past it.
        with store.transaction() as writer:
            writer.execute(sa.update(Agent).values(display_name="changed"))
        # ... and the reader keeps its snapshot until it ends.
        assert reader.scalar(sa.select(sa.func.count()).select_from(Agent)) == 2
    with store.sessions() as reader:
        names = set(reader.scalars(sa.select(Agent.display_name)))
    assert names == {"changed"}


def test_a_reader_sees_one_snapshot_across_its_statements(store: Store, db_url: str) -> None:
    """A ticket's detail reads its messages, then its counts: a mail committed in between
    must not give a count of 4 next to 3 messages (PostgreSQL's READ COMMITTED would)."""
    with store.transaction() as session:
        apply_config(session, desk_settings(db_url), datetime.now(UTC))
    with store.sessions() as reader:
        before = set(reader.scalars(sa.select(Agent.display_name)))
        with store.transaction() as writer:
            writer.execute(sa.update(Agent).values(display_name="changed"))
        # The first statement fixed the snapshot: the second sees the same rows.
        assert set(reader.scalars(sa.select(Agent.display_name))) == before != {"changed"}


def test_a_reader_session_refuses_to_write_on_postgresql(postgres_url: str) -> None:
    """A write belongs in `transaction()`; in a reader's snapshot it could not see the rows
    committed since, so PostgreSQL is told the reader is read-only."""
    store = Store.open(postgres_url)
    try:
        with (
            pytest.raises(sa.exc.InternalError, match="read-only transaction"),
            store.sessions() as reader,
        ):
            reader.execute(sa.update(Agent).values(display_name="x"))
    finally:
        store.close()


def test_two_processes_applying_the_config_at_once_both_succeed(db_url: str) -> None:
    stores = [Store.open(db_url), Store.open(db_url)]
    settings = desk_settings(db_url)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def apply(store: Store) -> None:
        try:
            with store.transaction() as session:
                start.wait()
                apply_config(session, settings, datetime.now(UTC))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with stores[0].sessions() as session:
        departments = session.scalar(sa.select(sa.func.count()).select_from(Department))
    for store in stores:
        store.close()
    assert errors == []
    assert departments == 1


def test_transaction_now_runs_when_the_write_lock_is_free(store: Store, db_url: str) -> None:
    if store.dialect != "sqlite":
        with pytest.raises(WriterBusy, match="only SQLite"), store.transaction_now():
            pass
        return
    with store.transaction_now() as session:
        apply_config(session, desk_settings(db_url), datetime.now(UTC))
    with store.sessions() as reader:
        assert reader.scalar(sa.select(sa.func.count()).select_from(Agent)) == 2


def test_transaction_now_gives_up_at_once_when_a_thread_writes(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'maild.db'}")
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction() as session:
            session.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            holding.set()
            release.wait()

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait()
    started = time.monotonic()
    with pytest.raises(WriterBusy, match="thread"), store.transaction_now():
        pass
    assert time.monotonic() - started < 1  # not SQLite's 30 s busy wait
    release.set()
    thread.join()
    with store.transaction_now() as session:  # the lock is free again
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
    store.close()


def test_transaction_now_gives_up_at_once_when_another_process_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'maild.db'}"
    ours, theirs = Store.open(url), Store.open(url)  # two engines: two processes' connections
    with theirs.transaction() as session:
        session.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    with theirs.transaction() as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        started = time.monotonic()
        with pytest.raises(WriterBusy, match="another connection"), ours.transaction_now():
            pass
        assert time.monotonic() - started < 1
    # The connection's busy timeout is back: an ordinary writer waits, the next one runs.
    with ours.transaction_now() as session:
        session.execute(sa.text("INSERT INTO t VALUES (2)"))
    with ours.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    ours.close()
    theirs.close()
