"""The ticket history: one row per action, with who, when, and what changed from -> to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from maild.store.models import History, Ticket

SYSTEM = "system"


def record(
    session: Session,
    ticket: Ticket,
    actor: str,
    action: str,
    now: datetime,
    from_value: object = "",
    to_value: object = "",
    detail: str = "",
) -> History:
    """Append a history entry for `ticket`. `actor` is an agent name, a sender address or
    "system"; values are stored as their string form ("" for None)."""
    entry = History(
        ticket_id=ticket.id,
        at=now,
        actor=actor,
        action=action,
        from_value="" if from_value is None else str(from_value),
        to_value="" if to_value is None else str(to_value),
        detail=detail,
    )
    session.add(entry)
    return entry
