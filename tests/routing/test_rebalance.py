"""Rebalancing (seed "Rebalancing"; DESIGN §1): per group, off by default."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from maild.routing import log_in, log_out, rebalance_group, run_due_rebalances
from maild.store.models import Agent, Group
from maild.values import Mode
from tests.routing.factory import (
    Org,
    active_counts,
    history,
    join,
    make_agent,
    make_group,
    open_new,
)


def loaded_group(session: Session, group: Group, now: datetime, tickets: int) -> list[Agent]:
    """Two agents hold `tickets` between them; a third, logged out, is about to arrive."""
    agents = [make_agent(session, n) for n in ("early", "earlier")]
    late = make_agent(session, "late", logged_in=False)
    for agent in (*agents, late):
        join(session, agent, group)
    for minute in range(tickets):
        open_new(session, group, now + timedelta(minutes=minute))
    return [*agents, late]


def test_rebalancing_is_off_by_default(session: Session, group: Group, now: datetime) -> None:
    *_, late = loaded_group(session, group, now, 8)
    log_in(session, late.id, now)
    assert late.id not in active_counts(session, group)


def test_rebalance_on_log_in_evens_counts_to_within_one(
    session: Session, group: Group, now: datetime
) -> None:
    group.rebalance = True
    agents = loaded_group(session, group, now, 10)
    log_in(session, agents[2].id, now + timedelta(hours=1))
    counts = active_counts(session, group)
    assert sorted(counts.values()) == [3, 3, 4]
    assert set(counts) == {a.id for a in agents}


def test_pinned_tickets_move_only_when_the_group_allows_it(
    session: Session, org: Org, now: datetime
) -> None:
    for allowed in (False, True):
        group = make_group(session, org, rebalance=True, rebalance_pinned=allowed)
        agent = make_agent(session, f"owner-{allowed}")
        join(session, agent, group)
        tickets = [open_new(session, group, now) for _ in range(4)]
        for ticket in tickets:
            ticket.pinned = True
        newcomer = make_agent(session, f"newcomer-{allowed}", logged_in=False)
        join(session, newcomer, group)
        log_in(session, newcomer.id, now)
        moved = [t for t in tickets if t.agent_id == newcomer.id]
        assert len(moved) == (2 if allowed else 0)


def test_every_rebalance_move_is_in_the_ticket_history(
    session: Session, group: Group, now: datetime
) -> None:
    agents = loaded_group(session, group, now, 6)
    log_in(session, agents[2].id, now)
    moves = rebalance_group(session, group.id, now + timedelta(hours=1))
    assert len(moves) == 2
    for move in moves:
        [ticket] = [t for t in group_tickets(session, group) if t.id == move.ticket_id]
        [entry] = history(session, ticket, "rebalanced")
        assert (entry.to_value, entry.at) == ("late", now + timedelta(hours=1))
        assert entry.from_value in {"early", "earlier"}


def group_tickets(session: Session, group: Group) -> list:  # type: ignore[type-arg]
    from maild.store.models import Ticket

    return list(session.query(Ticket).filter_by(group_id=group.id))


def test_rebalance_leaves_out_agents_who_are_not_eligible_and_respects_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    early, earlier, late = loaded_group(session, group, now, 12)
    puller = make_agent(session, "puller")
    join(session, puller, group, mode=Mode.NOT_INCLUDED)
    log_in(session, late.id, now)
    log_out(session, late.id, now)  # late's tickets go back to the others
    capped = make_agent(session, "capped", logged_in=False)
    join(session, capped, group, max_tickets=2)
    log_in(session, capped.id, now)
    rebalance_group(session, group.id, now)
    counts = active_counts(session, group)
    assert counts == {early.id: 5, earlier.id: 5, capped.id: 2}


def test_rebalance_runs_at_the_groups_configured_times(
    session: Session, org: Org, now: datetime
) -> None:
    timed = make_group(session, org, rebalance=True, rebalance_times="08:30,17:00")
    untimed = make_group(session, org, rebalance=True)
    off = make_group(session, org, rebalance_times="08:30")
    early = make_agent(session, "early")
    for group in (timed, untimed, off):
        join(session, early, group)
        open_new(session, group, now)
        open_new(session, group, now)
    late = make_agent(session, "late")
    for group in (timed, untimed, off):
        join(session, late, group)
    assert run_due_rebalances(session, now - timedelta(minutes=45), now) == [timed.id]
    assert active_counts(session, timed) == {early.id: 1, late.id: 1}
    assert active_counts(session, off) == {early.id: 2}
    assert run_due_rebalances(session, now, now + timedelta(hours=1)) == []


def test_rebalance_hands_nothing_to_an_agent_already_at_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    capped = make_agent(session, "capped")
    join(session, capped, group, max_tickets=1)
    open_new(session, group, now).pinned = True  # capped's one ticket, which stays put
    early = make_agent(session, "early")
    join(session, early, group)
    for minute in range(1, 5):
        open_new(session, group, now + timedelta(minutes=minute))
    assert active_counts(session, group) == {capped.id: 1, early.id: 4}
    assert rebalance_group(session, group.id, now + timedelta(hours=1)) == []
    assert active_counts(session, group) == {capped.id: 1, early.id: 4}
