"""Rows for routing tests: an organisation, groups, agents, memberships and tickets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.routing import RoundRobin
from maild.store.models import Agent, Brand, Department, Group, History, Membership, Ticket
from maild.values import Mode, Priority, Status

ROUND_ROBIN = RoundRobin()
_names = itertools.count(1)


@dataclass(frozen=True)
class Org:
    department_id: int
    brand_id: int


def make_org(session: Session) -> Org:
    brand = Brand(name=f"brand{next(_names)}")
    session.add(brand)
    session.flush()
    department = Department(brand_id=brand.id, name=f"support{next(_names)}")
    session.add(department)
    session.flush()
    return Org(department.id, brand.id)


def make_group(session: Session, org: Org, name: str = "", **settings: object) -> Group:
    group = Group(department_id=org.department_id, name=name or f"group{next(_names)}")
    for key, value in settings.items():
        setattr(group, key, value)
    session.add(group)
    session.flush()
    return group


def make_agent(session: Session, name: str, *, logged_in: bool = True, **kw: object) -> Agent:
    agent = Agent(name=name, logged_in=logged_in, **kw)
    session.add(agent)
    session.flush()
    return agent


def join(
    session: Session,
    agent: Agent,
    group: Group,
    mode: Mode = Mode.PRIMARY,
    max_tickets: int | None = None,
    receiving: bool = True,
) -> Membership:
    member = Membership(
        agent_id=agent.id,
        group_id=group.id,
        mode=mode,
        max_tickets=max_tickets,
        receiving=receiving,
    )
    session.add(member)
    session.flush()
    return member


def open_new(
    session: Session,
    group: Group,
    now: datetime,
    priority: Priority = Priority.NORMAL,
) -> Ticket:
    """A new active ticket handed to distribution, as the ticket core's `open_ticket` does."""
    ticket = bare_ticket(session, group, now, priority=priority)
    ROUND_ROBIN.place(session, ticket, now)
    return ticket


def bare_ticket(session: Session, group: Group, now: datetime, **values: object) -> Ticket:
    """A ticket row made directly, not yet placed (for tests of `place` itself)."""
    ticket = Ticket(
        number=f"T-{next(_names):08d}",
        brand_id=group.department.brand_id,
        department_id=group.department_id,
        group_id=group.id,
        status=Status.ACTIVE,
        created_at=now,
        last_action_at=now,
        response_clock_at=now,
    )
    for key, value in values.items():
        setattr(ticket, key, value)
    session.add(ticket)
    session.flush()
    return ticket


def active_counts(session: Session, group: Group) -> dict[int, int]:
    rows = session.execute(
        sa.select(Ticket.agent_id, sa.func.count())
        .where(Ticket.group_id == group.id, Ticket.status == Status.ACTIVE)
        .group_by(Ticket.agent_id)
    ).all()
    return {agent_id: n for agent_id, n in rows if agent_id is not None}


def queued(session: Session, group: Group) -> list[Ticket]:
    return list(
        session.scalars(
            sa.select(Ticket)
            .where(
                Ticket.group_id == group.id,
                Ticket.status == Status.ACTIVE,
                Ticket.agent_id.is_(None),
            )
            .order_by(Ticket.id)
        )
    )


def history(session: Session, ticket: Ticket, action: str) -> list[History]:
    return list(
        session.scalars(
            sa.select(History)
            .where(History.ticket_id == ticket.id, History.action == action)
            .order_by(History.id)
        )
    )
