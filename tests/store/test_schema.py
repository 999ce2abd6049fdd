"""The schema: migrations create exactly what the models declare, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from maild.store.db import Store, alembic_config, upgrade_schema
from maild.store.models import Base, Brand


def test_migrations_match_models(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(store: Store) -> None:
    upgrade_schema(store)
    upgrade_schema(store)
    with store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version


def test_times_round_trip_as_aware_utc(store: Store) -> None:
    from maild.store.models import Agent, ApiToken

    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.transaction() as s:
        s.add(Brand(name="b"))
        agent = Agent(name="alice")
        s.add(agent)
        s.flush()
        s.add(ApiToken(agent_id=agent.id, token_hash="x", created_at=stamp))
    with store.transaction() as s:
        token = s.scalars(sa.select(ApiToken)).one()
    assert token.created_at == stamp
    assert token.created_at.tzinfo is not None


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_postgresql_analyses_and_vacuums_the_ticket_table_early(postgres_url: str) -> None:
    """Migration 0014: the views' plans need current statistics of a million tickets."""
    store = Store.open(postgres_url)

    def options() -> set[str]:
        with store.engine.connect() as conn:
            query = "SELECT reloptions FROM pg_class WHERE relname = 'ticket'"
            return set(conn.exec_driver_sql(query).scalar() or [])

    try:
        assert options() == {
            "autovacuum_analyze_scale_factor=0.01",
            "autovacuum_vacuum_scale_factor=0.02",
            "autovacuum_vacuum_insert_scale_factor=0.02",
        }
        config = alembic_config(store.engine)
        command.downgrade(config, "0013")
        assert options() == set()
        command.upgrade(config, "head")
        assert len(options()) == 3
    finally:
        store.close()
