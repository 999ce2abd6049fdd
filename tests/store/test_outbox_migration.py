"""Migration 0002: outbox recipients become a JSON list, rows queued before it included."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command

from maild.store.db import Store, alembic_config


def test_queued_rows_keep_their_recipients_as_a_list(db_url: str) -> None:
    store = Store.open(db_url)
    config = alembic_config(store.engine)
    command.downgrade(config, "0001")
    try:
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO outbox (purpose, envelope_from, recipients, raw, state, attempts,"
                    " next_attempt_at, last_error, created_at) VALUES ('reply', 'b@x',"
                    " 'a@x.example,c@y.example', :raw, 'queued', 0, :t, '', :t)"
                ),
                {"raw": b"x", "t": "2026-03-02 09:00:00"},
            )
        command.upgrade(config, "head")
        with store.engine.connect() as conn:
            (listed,) = conn.execute(sa.text("SELECT recipients FROM outbox")).one()
        # psycopg decodes JSON; SQLite hands back its text.
        assert (listed if isinstance(listed, list) else json.loads(listed)) == [
            "a@x.example",
            "c@y.example",
        ]
    finally:
        command.upgrade(config, "head")
        store.close()
