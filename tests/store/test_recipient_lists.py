"""Recipients are kept as lists (migration 0002): in the outbox and in the spool's envelope, so
a quoted local part with a comma stays one recipient; rows written before are converted."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import command

from maild.ingest.spool import Envelope
from maild.runtime import build_pipeline
from maild.settings import Settings
from maild.store.db import Store, alembic_config
from maild.store.models import Inbound


def _listed(value: Any) -> Any:
    return value if isinstance(value, list) else json.loads(value)  # SQLite hands back text


def test_rows_written_before_keep_their_recipients_as_lists(db_url: str) -> None:
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
        assert _listed(listed) == ["a@x.example", "c@y.example"]
    finally:
        command.upgrade(config, "head")
        store.close()


def test_the_spool_keeps_a_quoted_local_part_with_a_comma_as_one_recipient(
    store: Store, db_url: str
) -> None:
    pipeline = build_pipeline(Settings(), store)
    rcpt = ('"sales,eu"@example.com', "support@example.com")
    spooled = pipeline.receive(b"Subject: x\r\n\r\nx\r\n", "smtp", Envelope("a@b.example", rcpt))
    with store.sessions() as session:
        row = session.get(Inbound, spooled.inbound_id)
        assert row is not None and row.envelope_to == list(rcpt)
