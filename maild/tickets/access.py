"""Who may see and do what with tickets (seeds 002 "Tickets Overview", "Deleting Tickets",
"Transferring Tickets", "Viewing Tickets by Brand").

- An agent sees the tickets assigned to them, the queues of their groups (to take from), the
  follow-ups set for them and what was transferred to or from them ("Recently Transferred").
- A manager sees those, and every ticket of the departments of the groups they belong to
  ("tickets for other agents in the Groups and/or Departments ... granted to their role").
- An admin sees every ticket.
- Transfer is allowed to every role ("By default, agents can transfer tickets"); deleting is
  not allowed to agents ("By default, agents cannot delete tickets").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import Group, Membership, RecentTransfer, Ticket
from maild.values import Role, Status


@dataclass(frozen=True)
class Viewer:
    """The agent looking at tickets, with their role."""

    agent_id: int
    role: Role


def visible(viewer: Viewer) -> sa.ColumnElement[bool] | None:
    """The condition on `Ticket` that selects what `viewer` may see; None = everything."""
    if viewer.role is Role.ADMIN:
        return None
    me = viewer.agent_id
    my_groups = sa.select(Membership.group_id).where(Membership.agent_id == me)
    if viewer.role is Role.MANAGER:
        my_departments = sa.select(Group.department_id).where(Group.id.in_(my_groups))
        return sa.or_(
            Ticket.id.in_(sa.union_all(*_personal(me))), Ticket.department_id.in_(my_departments)
        )
    # An agent's tickets are a few thousand of a desk's million: as one set of ids, each part
    # read from its own index, a view checks membership (or walks the set) instead of testing
    # an OR of four conditions on every row it reads in idle order.
    queue = sa.select(Ticket.id).where(
        Ticket.group_id.in_(my_groups), Ticket.status == Status.ACTIVE, Ticket.agent_id.is_(None)
    )
    return Ticket.id.in_(sa.union_all(*_personal(me), queue))


def _personal(me: int) -> list[sa.Select[Any]]:
    """The ids of the tickets `me` holds, is to follow up, or had transferred to or from them
    (duplicates are harmless: the set is only tested for membership)."""
    return [
        sa.select(Ticket.id).where(Ticket.agent_id == me),
        sa.select(Ticket.id).where(Ticket.followup_agent_id == me),
        sa.select(RecentTransfer.ticket_id).where(RecentTransfer.agent_id == me),
    ]


def can_see(session: Session, viewer: Viewer, ticket: Ticket) -> bool:
    condition = visible(viewer)
    if condition is None:
        return True
    found = sa.select(Ticket.id).where(Ticket.id == ticket.id, condition)
    return session.execute(found).first() is not None


def may_delete(role: Role) -> bool:
    """Deleting and undeleting tickets: managers and admins (seed: agents cannot by default)."""
    return role in (Role.MANAGER, Role.ADMIN)


def may_transfer(role: Role) -> bool:
    """Seed: "By default, any agent can transfer tickets"."""
    return True
