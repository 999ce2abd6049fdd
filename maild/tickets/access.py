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

from collections.abc import Sequence
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
    """The condition on `Ticket` that selects what `viewer` may see; None = everything.

    For views over many tickets: an agent's tickets are a few thousand of a desk's million, so
    they are one set of ids, each part read from its own index, and a view walks the set or
    checks membership in it instead of testing an OR of four conditions on every row it reads
    in idle order (which kept the queue's and `all`'s indexes from narrowing anything)."""
    if viewer.role is Role.ADMIN:
        return None
    me = viewer.agent_id
    if viewer.role is Role.MANAGER:
        return sa.or_(Ticket.id.in_(sa.union_all(*_personal(me))), _in_my_departments(me))
    queue = sa.select(Ticket.id).where(*_my_queues(me))
    return Ticket.id.in_(sa.union_all(*_personal(me), queue))


def visible_union(
    viewer: Viewer, columns: list[Any], conditions: list[sa.ColumnElement[bool]]
) -> sa.CompoundSelect | None:
    """The tickets `viewer` may see that meet `conditions`, as `columns` of `Ticket`: the same
    rule as `visible`, one select per part of it, each with `conditions`, joined by UNION (a
    ticket in two parts comes once). None when the rule is no few sets (a manager sees whole
    departments, an admin everything): then `visible` is the way.

    Each part reads its own index, and where `conditions` and `columns` are in that index
    (`deleted_at`, idle time: the views' defaults), no ticket row at all: testing `id IN (the
    set)` read an agent's ~5,700 tickets of a million from the table, twice per page (once
    for the page, once for its count), at scattered places SQLite's page cache does not hold."""
    if viewer.role is not Role.AGENT:
        return None
    me = viewer.agent_id
    queues = _my_queues(me)
    # A condition the queue part states already is not said twice: SQLite then weighed
    # `status = ? AND agent_id IS NULL` double and read the whole desk's queue through the
    # status index, row by row for the group (view=queue: 221 ms at 1,000,000).
    new = [c for c in conditions if not any(c.compare(mine) for mine in queues)]
    return sa.union(*_personal(me, columns, conditions), sa.select(*columns).where(*queues, *new))


def visible_row(viewer: Viewer) -> sa.ColumnElement[bool] | None:
    """The same rule as `visible`, tested on each row: for a few given tickets (one ticket, the
    100 recent ones), where building an agent's whole set would cost more than the rows."""
    if viewer.role is Role.ADMIN:
        return None
    me = viewer.agent_id
    transferred = sa.select(RecentTransfer.ticket_id).where(RecentTransfer.agent_id == me)
    personal = sa.or_(
        Ticket.agent_id == me,
        Ticket.followup_agent_id == me,
        Ticket.id.in_(transferred),
    )
    if viewer.role is Role.MANAGER:
        return sa.or_(personal, _in_my_departments(me))
    return sa.or_(personal, sa.and_(*_my_queues(me)))


def _personal(
    me: int,
    columns: Sequence[Any] = (Ticket.id,),
    conditions: Sequence[sa.ColumnElement[bool]] = (),
) -> list[sa.Select[Any]]:
    """`columns` of the tickets `me` holds, is to follow up, or had transferred to or from
    them, that meet `conditions`: one select per part, each from its own index (a ticket may
    be in two parts; a caller tests membership or joins them by UNION)."""
    return [
        sa.select(*columns).where(Ticket.agent_id == me, *conditions),
        sa.select(*columns).where(Ticket.followup_agent_id == me, *conditions),
        sa.select(*columns)
        .join(RecentTransfer, RecentTransfer.ticket_id == Ticket.id)
        .where(RecentTransfer.agent_id == me, *conditions),
    ]


def _my_groups(me: int) -> sa.Select[Any]:
    return sa.select(Membership.group_id).where(Membership.agent_id == me)


def _my_queues(me: int) -> list[sa.ColumnElement[bool]]:
    """Waiting in the queue of one of `me`'s groups (to take from)."""
    return [
        Ticket.group_id.in_(_my_groups(me)),
        Ticket.status == Status.ACTIVE,
        Ticket.agent_id.is_(None),
    ]


def _in_my_departments(me: int) -> sa.ColumnElement[bool]:
    my_departments = sa.select(Group.department_id).where(Group.id.in_(_my_groups(me)))
    return Ticket.department_id.in_(my_departments)


def can_see(session: Session, viewer: Viewer, ticket: Ticket) -> bool:
    condition = visible_row(viewer)
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
