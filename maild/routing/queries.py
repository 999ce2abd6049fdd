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
from maild.tickets.states import IN_QUEUE
from maild.values import Priority, Status

FIRST_PAGE, LAST_PAGE = 4, 256

# Every placement runs these two: built once on the tables (Core), because building and
# cache-keying the ORM statements each time cost several times running them.
_M, _A, _T = Membership.__table__, Agent.__table__, Ticket.__table__
# The SQL twin of `rules.rank_key`; the pages must come in that order (see `candidate_pages`).
# Plain columns, so SQLite walks ix_membership_round_robin and stops after a page instead of
# sorting every member: "primary" < "secondary" as strings (checked in the tests), and NULLs
# (never assigned) come first, as SQLite does by default.
_RANK = (_M.c.mode, _M.c.allocated_count, _M.c.last_assigned_at.nulls_first(), _M.c.agent_id)
_CANDIDATES = (
    sa.select(
        _M.c.agent_id,
        _A.c.name,
        _M.c.mode,
        _A.c.logged_in,
        _A.c.available,
        _M.c.receiving,
        _M.c.max_tickets,
        _M.c.allocated_count,
        _M.c.last_assigned_at,
    )
    .join(_A, _A.c.id == _M.c.agent_id)
    .where(
        _M.c.group_id == sa.bindparam("group_id"),
        _M.c.mode.in_(TIERS),
        _M.c.receiving.is_(True),
        _A.c.logged_in.is_(True),
        _A.c.available.is_(True),
    )
    .order_by(*_RANK)
    .limit(sa.bindparam("size"))
    .offset(sa.bindparam("offset"))
)
_ACTIVE_COUNTS = (
    sa.select(_T.c.agent_id, sa.func.count())
    .where(
        _T.c.group_id == sa.bindparam("group_id"),
        _T.c.status == Status.ACTIVE,
        _T.c.agent_id.in_(sa.bindparam("agent_ids", expanding=True)),
    )
    .group_by(_T.c.agent_id)
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
    params = {"group_id": group_id, "offset": offset, "size": size}
    return list(session.execute(_CANDIDATES, params).all())


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
    rows = session.execute(_ACTIVE_COUNTS, {"group_id": group_id, "agent_ids": list(agent_ids)})
    return {agent_id: n for agent_id, n in rows.all() if agent_id is not None}


def next_queued(session: Session, group_id: int) -> Ticket | None:
    """The queued ticket to hand out next (most urgent, then oldest), claimed for us."""
    return session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.group_id == group_id,
            *IN_QUEUE,
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
