"""Prepared statements, run on the driver's cursor, store and fail exactly as SQLAlchemy does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import Inbound, Raw
from maild.store.prepared import Prepared
from maild.values import InboundState

_RAW: sa.Table = Raw.__table__  # type: ignore[assignment]
_INBOUND: sa.Table = Inbound.__table__  # type: ignore[assignment]
_ADD_RAW = Prepared(sa.insert(_RAW).returning(_RAW.c.id))
_ADD_INBOUND = Prepared(sa.insert(_INBOUND).returning(_INBOUND.c.id))
_WHEN = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _inbound(raw_id: int, source: str) -> dict[str, Any]:
    # Typed columns (JSON, enum, aware datetime) given; the scalar defaults left out.
    return {
        "source": source,
        "envelope_from": "a@example.org",
        "rcpt_to": ["support@example.com", "sales@example.com"],
        "sha256": source.ljust(64, "0"),  # (message_key, sha256) is unique
        "raw_id": raw_id,
        "sender_auth": {"method": "smtp", "spf": "pass"},
        "received_at": _WHEN,
        "processed_at": None,
    }


def _row(session: sa.orm.Session, inbound_id: int) -> dict[str, Any]:
    row = session.get(Inbound, inbound_id)
    assert row is not None
    own = ("id", "source", "sha256")
    return {c.key: getattr(row, c.key) for c in _INBOUND.columns if c.key not in own}


def test_a_prepared_insert_stores_the_row_sqlalchemy_stores(store: Store) -> None:
    with store.transaction() as session:
        raw_id = _ADD_RAW.scalar(session, {"sha256": "ab" * 32, "size": 3, "data": b"abc"})
        ours = _ADD_INBOUND.scalar(session, _inbound(raw_id, "prepared"))
        theirs = session.execute(
            sa.insert(_INBOUND).returning(_INBOUND.c.id), _inbound(raw_id, "sqlalchemy")
        ).scalar_one()
    with store.transaction() as session:
        stored = _row(session, ours)
        assert stored == _row(session, theirs)
        raw = session.get(Raw, raw_id)
    assert stored["state"] is InboundState.RECEIVED and stored["attempts"] == 0
    assert stored["rcpt_to"] == ["support@example.com", "sales@example.com"]
    assert stored["received_at"] == _WHEN
    assert raw is not None and raw.compressed is False and raw.data == b"abc"


def test_a_driver_error_is_raised_as_sqlalchemys(store: Store) -> None:
    """Callers catch SQLAlchemy's exceptions (the API's 409, the IMAP poller's DataError)."""
    values = {"sha256": "cd" * 32, "size": 1, "data": b"x"}
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as session:
        _ADD_RAW.execute(session, values)
        _ADD_RAW.execute(session, values)  # raw.sha256 is unique


def test_statements_are_seen_by_a_listener_while_one_watches(store: Store) -> None:
    seen: list[str] = []

    def on_statement(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", on_statement)
    try:
        with store.transaction() as session:
            raw_id = _ADD_RAW.scalar(session, {"sha256": "ef" * 32, "size": 1, "data": b"y"})
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", on_statement)
    assert isinstance(raw_id, int)
    assert any(statement.startswith("INSERT INTO raw") for statement in seen)
