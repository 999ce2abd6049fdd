"""The ticket history: one row per action, with who, when, and what changed from -> to.

Entries are ORM rows written by the caller's next flush, unless the transaction `defer`s them:
the ingest pipeline then collects a mail's entries and writes them with one executemany
(`write_deferred`), instead of the unit of work handling each as an object.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import History, Ticket

SYSTEM = "system"
_DEFERRED = "maild.history_deferred"
_HELD = "maild.history_held"
_HISTORY: sa.Table = History.__table__  # type: ignore[assignment]
_INSERT = sa.insert(_HISTORY)


def record(
    session: Session,
    ticket: Ticket,
    actor: str,
    action: str,
    now: datetime,
    from_value: object = "",
    to_value: object = "",
    detail: str = "",
) -> None:
    """Append a history entry for `ticket`. `actor` is an agent name, a sender address or
    "system"; values are stored as their string form ("" for None)."""
    values = {
        "at": now,
        "actor": actor,
        "action": action,
        "from_value": "" if from_value is None else str(from_value),
        "to_value": "" if to_value is None else str(to_value),
        "detail": detail,
    }
    held: list[_Entry] | None = session.info.get(_HELD)
    if held is not None:
        held.append((ticket, values))
    else:
        _write(session, ticket, values)


_Entry = tuple[Ticket, dict[str, Any]]


def _write(session: Session, ticket: Ticket, values: dict[str, Any]) -> None:
    values["ticket_id"] = ticket.id
    deferred: list[dict[str, Any]] | None = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.append(values)
    else:
        session.add(History(**values))


@contextmanager
def held_back(session: Session) -> Iterator[list[_Entry]]:
    """Hold back the entries recorded inside, for a ticket that is not inserted yet (a new
    ticket is placed before its row is written, so the row holds its placement); `release`
    them, in their order, once it is."""
    held: list[_Entry] = []
    outer = session.info.get(_HELD)
    session.info[_HELD] = held
    try:
        yield held
    finally:
        if outer is None:
            del session.info[_HELD]
        else:
            session.info[_HELD] = outer


def release(session: Session, held: list[_Entry]) -> None:
    for ticket, values in held:
        _write(session, ticket, values)


def defer(session: Session) -> None:
    """Collect this transaction's entries until `write_deferred` (the caller must call it before
    anything reads the history, and before it commits)."""
    session.info[_DEFERRED] = []


def write_deferred(session: Session) -> None:
    """Write the collected entries, in the order they were recorded (their ids keep it)."""
    deferred: list[dict[str, Any]] | None = session.info.get(_DEFERRED)
    if deferred:
        session.execute(_INSERT, deferred)
        deferred.clear()


def drop_deferred(session: Session) -> None:
    """Forget the collected entries: the work that recorded them was rolled back."""
    deferred: list[dict[str, Any]] | None = session.info.get(_DEFERRED)
    if deferred:
        deferred.clear()
