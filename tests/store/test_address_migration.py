"""Migration 0010: the addresses maild compares, stored with A-labels before, are rewritten in
the normal form (U-labels), so a punycode participant of old is the UTF-8 sender of today."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from maild.provision import apply_config
from maild.settings import TicketSettings
from maild.store.db import Store, alembic_config
from maild.store.models import AutoresponseLog, Department, DepartmentAddress, Participant, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.lifecycle import NewTicket, open_ticket
from maild.tickets.participants import is_participant
from maild.tickets.ports import QueueOnly
from maild.values import ParticipantRole
from tests.support import desk_settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD = "anna@xn--bcher-kva.example"
NEW = "anna@bücher.example"


def test_a_punycode_participant_of_old_is_the_utf8_sender_of_today(db_url: str) -> None:
    store = Store.open(db_url)
    config = alembic_config(store.engine)
    try:
        with store.transaction() as session:
            apply_config(session, desk_settings(db_url), NOW)
            department = session.scalars(sa.select(Department)).one()
            new = NewTicket(department.id, "Rechnung", OLD)
            ticket = open_ticket(session, new, settings=TicketSettings(), distributor=QueueOnly(),
                                 actor=SYSTEM, now=NOW)  # fmt: skip
            session.add_all([
                Participant(ticket_id=ticket.id, address=OLD, role=ParticipantRole.CC),
                Participant(ticket_id=ticket.id, address="j@xn--bcher-kva.example",
                            role=ParticipantRole.CC),
                Participant(ticket_id=ticket.id, address="j@bücher.example",
                            role=ParticipantRole.CC),
                DepartmentAddress(department_id=department.id,
                                  address="support@xn--bcher-kva.example"),
                AutoresponseLog(sender=OLD, at=NOW),
            ])  # fmt: skip
        command.downgrade(config, "0009")
        command.upgrade(config, "head")
        with store.sessions() as session:
            ticket = session.scalars(sa.select(Ticket)).one()
            assert ticket.requester == NEW
            rows = session.execute(sa.select(Participant.address, Participant.role))
            cc = sorted(address for address, role in rows if role is ParticipantRole.CC)
            assert cc == [NEW, "j@bücher.example"]  # the duplicate spelling goes
            addresses = set(session.scalars(sa.select(DepartmentAddress.address)))
            assert "support@bücher.example" in addresses
            assert session.scalars(sa.select(AutoresponseLog.sender)).one() == NEW
            assert is_participant(session, ticket, "Anna@BÜCHER.example")
    finally:
        command.upgrade(config, "head")
        store.close()
