"""The database side of distribution: locks, candidate loading and counting.

Locking (DESIGN §1 "concurrency-safe"): every routing change to a group first takes the group's
row with `SELECT … FOR NO KEY UPDATE` (not FOR UPDATE: inserting a ticket takes KEY SHARE on its
group through the foreign key, and two such inserts would then deadlock on the upgrade). That
makes the group's round robin one queue of decisions across processes: nobody reads an allocated
count that another process is about to bump, so no turn is skipped and no limit is overrun.
Locking the group's membership rows with SKIP LOCKED instead would skip a busy agent's turn, and
locking them all costs one row lock per member per decision. Queued and rebalanced tickets are
claimed with `FOR UPDATE SKIP LOCKED`, so a ticket another transaction holds (a `take`, a
transfer, which lock the ticket before the group) is left to it rather than waited on. On SQLite
the store opens every transaction with BEGIN IMMEDIATE: one writer at a time, no locks needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.routing.rules import TIERS, Candidate
from maild.store.models import Agent, Group, Membership, Ticket
from maild.values import Priority, Status

FIRST_PAGE, LAST_PAGE = 4, 256

_ACTIVE_IN_GROUP = sa.and_(
    Membership.receiving.is_(True), Agent.logged_in.is_(True), Agent.available.is_(True)
)
# The SQL twin of `rules.rank_key`; the pages must come in that order (see `candidate_pages`).
# Plain columns, so SQLite walks ix_membership_round_robin and stops after a page instead of
# sorting every member: "primary" < "secondary" as strings (checked in the tests), and NULLs
# (never assigned) come first, as SQLite does by default.
_RANK = (
    Membership.mode,
    Membership.allocated_count,
    Membership.last_assigned_at.nulls_first(),
    Membership.agent_id,
)
_URGENCY = sa.case(*((Ticket.priority == p, -p.rank) for p in Priority), else_=0)


def lock_groups(session: Session, group_ids: Iterable[int]) -> None:
    """Take the groups' rows in id order (one order everywhere, so no deadlock between us)."""
    ids = sorted(set(group_ids))
    # SQLite: BEGIN IMMEDIATE already made this transaction the only writer.
    if ids and session.get_bind().dialect.name != "sqlite":
        session.execute(
            sa.select(Group.id)
            .where(Group.id.in_(ids))
            .order_by(Group.id)
            .with_for_update(key_share=True)
        ).all()


def candidate_pages(session: Session, group_id: int) -> Iterator[list[Candidate]]:
    """The group's auto-receiving members who are active in it, best turn first, a page at a
    time. `rules.choose_agent` over the pages in order finds the same agent as over all of them,
    while a decision usually reads one page instead of every member of a large group."""
    offset, size = 0, FIRST_PAGE
    while True:
        rows = _candidate_rows(session, group_id, offset, size)
        if not rows:
            return
        counts = active_counts(session, group_id, [row.agent_id for row in rows])
        yield [_candidate(row, counts.get(row.agent_id, 0)) for row in rows]
        if len(rows) < size:
            return
        # Pages grow: a full group (everyone at max_tickets) costs log(members) queries.
        offset, size = offset + size, min(size * 4, LAST_PAGE)


def _candidate_rows(session: Session, group_id: int, offset: int, size: int) -> list[Any]:
    query = (
        sa.select(
            Membership.agent_id,
            Agent.name,
            Membership.mode,
            Agent.logged_in,
            Agent.available,
            Membership.receiving,
            Membership.max_tickets,
            Membership.allocated_count,
            Membership.last_assigned_at,
        )
        .join(Agent, Agent.id == Membership.agent_id)
        .where(Membership.group_id == group_id, Membership.mode.in_(TIERS), _ACTIVE_IN_GROUP)
        .order_by(*_RANK)
        .limit(size)
        .offset(offset)
    )
    return list(session.execute(query).all())


def _candidate(row: sa.Row[Any], active: int) -> Candidate:
    return Candidate(
        agent_id=row.agent_id,
        agent_name=row.name,
        mode=row.mode,
        logged_in=row.logged_in,
        available=row.available,
        receiving=row.receiving,
        max_tickets=row.max_tickets,
        active_count=active,
        allocated_count=row.allocated_count,
        last_assigned_at=row.last_assigned_at,
    )


def active_counts(session: Session, group_id: int, agent_ids: Sequence[int]) -> dict[int, int]:
    """Active tickets per agent in the group; served by the (group_id, status, agent_id) index."""
    rows = session.execute(
        sa.select(Ticket.agent_id, sa.func.count())
        .where(
            Ticket.group_id == group_id,
            Ticket.status == Status.ACTIVE,
            Ticket.agent_id.in_(agent_ids),
        )
        .group_by(Ticket.agent_id)
    ).all()
    return {agent_id: n for agent_id, n in rows if agent_id is not None}


def next_queued(session: Session, group_id: int) -> Ticket | None:
    """The queued ticket to hand out next (most urgent, then oldest), claimed for us."""
    return session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.group_id == group_id,
            Ticket.status == Status.ACTIVE,
            Ticket.agent_id.is_(None),
            Ticket.deleted_at.is_(None),
        )
        .order_by(_URGENCY, Ticket.queued_at, Ticket.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def count_received(session: Session, group_id: int, agent_id: int, now: datetime) -> None:
    """Seed: the agent is "in receipt of a new ticket": bump the round-robin count."""
    session.execute(
        sa.update(Membership)
        .where(Membership.group_id == group_id, Membership.agent_id == agent_id)
        .values(allocated_count=Membership.allocated_count + 1, last_assigned_at=now)
    )


def reset_allocations(session: Session, group_id: int) -> None:
    """Seed: when an agent goes active in a group "the allocated ticket counts reset back to the
    count of open and active tickets for each agent"."""
    open_active = (
        sa.select(sa.func.count())
        .where(
            Ticket.group_id == group_id,
            Ticket.status == Status.ACTIVE,
            Ticket.agent_id == Membership.agent_id,
        )
        .scalar_subquery()
    )
    session.execute(
        sa.update(Membership)
        .where(Membership.group_id == group_id)
        .values(allocated_count=open_active)
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Membership):
            session.expire(obj, ["allocated_count"])


def membership(session: Session, group_id: int, agent_id: int) -> Membership | None:
    return session.scalars(
        sa.select(Membership).where(
            Membership.group_id == group_id, Membership.agent_id == agent_id
        )
    ).first()


def agent_name(session: Session, agent_id: int | None) -> str:
    if agent_id is None:
        return ""
    return session.scalar(sa.select(Agent.name).where(Agent.id == agent_id)) or ""
