"""Who waits for whom: readers never hold up writers, and applying the config is serialised
across processes (issue 8: a long `maild export` must not stall SMTP's commits)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from maild.provision import apply_config
from maild.store.db import Store
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
