"""Outbox recipients are kept as a list (migration 0003), so a quoted local part with a comma
stays one recipient; rows queued before are converted. (The spool's envelope is the SMTP
listener's, branch smtp.)"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import command

from maild.store.db import Store, alembic_config


def _listed(value: Any) -> Any:
    return value if isinstance(value, list) else json.loads(value)  # SQLite hands back text


def test_rows_written_before_keep_their_recipients_as_lists(db_url: str) -> None:
    store = Store.open(db_url)
    config = alembic_config(store.engine)
    command.downgrade(config, "0002")
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
        assert _listed(listed) == ["a@x.example", "c@y.example"]
    finally:
        command.upgrade(config, "head")
        store.close()
