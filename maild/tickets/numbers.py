"""Ticket numbers: unique under concurrency on SQLite and PostgreSQL.

The counter lives in `ticket_sequence`, one row per prefix. `UPDATE ... SET value = value + 1
RETURNING value` takes the row lock, so two processes never read the same value: on PostgreSQL
the second waits for the first to commit; on SQLite every write transaction is serialised
(`BEGIN IMMEDIATE`, see maild.store.db).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.settings import TicketSettings
from maild.store.models import Forwarder, Ticket, TicketSequence
from maild.store.prepared import Prepared
from maild.tickets._sql import insert_if_missing

# Built once and run on the tables (Core): a number costs two statements on every new ticket,
# and building an ORM statement each time cost several times running it.
_SEQUENCE: sa.Table = TicketSequence.__table__  # type: ignore[assignment]
_NEXT_VALUE = Prepared(
    sa.update(_SEQUENCE)
    .where(_SEQUENCE.c.name == sa.bindparam("prefix"))
    .values(value=_SEQUENCE.c.value + 1)
    .returning(_SEQUENCE.c.value)
)
_TAKEN = Prepared(
    sa.select(Ticket.__table__.c.number)
    .where(Ticket.__table__.c.number == sa.bindparam("number"))
    .union_all(
        sa.select(Forwarder.__table__.c.number).where(
            Forwarder.__table__.c.number == sa.bindparam("number")
        )
    )
    .limit(1)
)


def allocate_number(session: Session, settings: TicketSettings) -> str:
    """The next free ticket number in `settings.number_format`, e.g. `SUP-000124`.

    A number already held by a ticket or a merge forwarder (imported tickets, a sequence reset
    by hand) is skipped rather than handed out twice."""
    while True:
        number = settings.format_number(_next_value(session, settings.prefix))
        if not _number_taken(session, number):
            return number


def _next_value(session: Session, name: str) -> int:
    value = _NEXT_VALUE.scalar(session, {"prefix": name})
    if value is None:  # the prefix's first ticket: its counter row does not exist yet
        # ON CONFLICT DO NOTHING: two processes creating the first row at once both succeed.
        insert_if_missing(session, TicketSequence, {"name": name, "value": 0}, ["name"])
        value = _NEXT_VALUE.scalar(session, {"prefix": name})
    return int(value)


def _number_taken(session: Session, number: str) -> bool:
    return _TAKEN.first(session, {"number": number}) is not None
