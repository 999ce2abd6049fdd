"""Compressing the raw bytes of mail on tickets idle for a day (DESIGN §1 Items). The bytes are
read back through `maild.store.rawbytes.unpack`, byte-identical, wherever raw bytes are read."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import Message, Raw, Ticket
from maild.store.rawbytes import pack


def compress_idle_raw(session: Session, now: datetime, idle: timedelta, limit: int) -> int:
    """Compress up to `limit` raw messages of tickets whose last action is older than `idle`.
    Returns how many. Rows are claimed with SKIP LOCKED, and loaded one at a time, so memory
    stays bounded by the largest message rather than the batch."""
    idle_raw = (
        sa.select(Message.raw_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.last_action_at < now - idle, Message.raw_id.is_not(None))
    )
    claimed = session.scalars(
        sa.select(Raw.id)
        .where(Raw.compressed.is_(False), Raw.id.in_(idle_raw))
        .order_by(Raw.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for raw_id in claimed:
        data = session.scalars(sa.select(Raw.data).where(Raw.id == raw_id)).one()
        session.execute(
            sa.update(Raw).where(Raw.id == raw_id).values(data=pack(data), compressed=True)
        )
    return len(claimed)
