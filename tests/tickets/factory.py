"""Quick organisations and tickets for tests (other packages' tests may reuse it).

org = make_org(session)                 # brand, two departments, three groups, alice & bob
ticket = new_ticket(session, org, now)  # an active ticket in Tier 1's queue
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.settings import TicketSettings
from maild.store.models import Agent, Base, Brand, Department, Group, Membership, Ticket
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.lifecycle import NewTicket, open_ticket
from maild.tickets.ports import QueueOnly


@dataclass(frozen=True)
class Org:
    """Ids of a small organisation: Support (Tier 1 default, Tier 2) and Sales (Sales desk),
    all in brand Acme; alice and bob belong to every group."""

    brand_id: int
    support_id: int
    tier1_id: int
    tier2_id: int
    sales_id: int
    sales_desk_id: int
    alice_id: int
    bob_id: int

    def actor(self, session: Session, name: str = "alice") -> Actor:
        agent = session.scalars(sa.select(Agent).where(Agent.name == name)).one()
        return Actor.of_agent(agent)


def make_org(session: Session, *, auto_close_after_minutes: int | None = None) -> Org:
    brand = Brand(name="Acme", from_name="Acme Support")
    session.add(brand)
    session.flush()
    support = _department(session, brand, "Support", auto_close_after_minutes)
    sales = _department(session, brand, "Sales", None)
    tier1, tier2 = _group(session, support, "Tier 1"), _group(session, support, "Tier 2")
    desk = _group(session, sales, "Sales desk")
    support.default_group_id, sales.default_group_id = tier1.id, desk.id
    alice = Agent(name="alice", email="alice@acme.test", logged_in=True)
    bob = Agent(name="bob", email="bob@acme.test", logged_in=True)
    session.add_all([alice, bob])
    session.flush()
    for agent in (alice, bob):
        for group in (tier1, tier2, desk):
            session.add(Membership(agent_id=agent.id, group_id=group.id))
    session.flush()
    return Org(brand.id, support.id, tier1.id, tier2.id, sales.id, desk.id, alice.id, bob.id)


def _department(session: Session, brand: Brand, name: str, auto_close: int | None) -> Department:
    department = Department(brand_id=brand.id, name=name, auto_close_after_minutes=auto_close)
    session.add(department)
    session.flush()
    return department


def _group(session: Session, department: Department, name: str) -> Group:
    group = Group(department_id=department.id, name=name)
    session.add(group)
    session.flush()
    return group


def new_ticket(
    session: Session,
    org: Org,
    now: datetime,
    *,
    distributor: Any = None,
    settings: TicketSettings = TicketSettings(),
    **overrides: Any,
) -> Ticket:
    """Open a ticket in Support (Tier 1) from carol@example.com; `overrides` are NewTicket
    fields (subject, agent_id, status, ...)."""
    new = replace(
        NewTicket(
            department_id=org.support_id, subject="Printer on fire", requester="carol@example.com"
        ),
        **overrides,
    )
    return open_ticket(
        session,
        new,
        settings=settings,
        distributor=distributor or QueueOnly(),
        actor=SYSTEM,
        now=now,
    )


@dataclass
class RecordingDistributor(QueueOnly):
    """QueueOnly that also notes which hooks were called, to check what the core reports."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def place(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.calls.append(("place", ticket.number))
        super().place(session, ticket, now)

    def reactivate(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.calls.append(("reactivate", ticket.number))
        super().reactivate(session, ticket, now)

    def assigned(self, session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
        self.calls.append(("assigned", ticket.number, agent_id))
        super().assigned(session, ticket, agent_id, now)

    def released(
        self, session: Session, group_id: int, agent_id: int | None, now: datetime
    ) -> None:
        self.calls.append(("released", group_id, agent_id))


def snapshot(session: Session) -> dict[str, Any]:
    """Every row of every table, to show that a refused request changed nothing."""
    session.flush()
    state: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        rows = session.execute(sa.select(table)).all()
        state[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return state
