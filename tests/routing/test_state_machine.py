"""Random sequences of agent and ticket events, with the distribution invariants checked after
every step (issue 4): no active ticket with a non-member; distribution never fills an agent past
max_tickets; every assignment goes to the agent whose turn it is; a ticket waits in the queue
only when nobody eligible has room; pinned tickets keep their agent unless rebalancing may move
them. Drives the real ticket core (open/close/re-open/transfer/follow-up) with `RoundRobin`."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy.orm import Session

from maild import routing
from maild.store.db import Store
from maild.store.models import Agent, Group, Membership, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, fire_due_followups, schedule_followup
from maild.tickets.incoming import apply_customer_reply
from maild.tickets.lifecycle import set_status
from maild.tickets.transfer import Transfer, transfer
from maild.values import Mode, Priority, Status
from tests.conftest import truncate_all
from tests.routing.factory import ROUND_ROBIN, bare_ticket, join, make_agent, make_group, make_org

AGENTS, GROUPS = 4, 2
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
memberships = st.lists(
    st.tuples(st.sampled_from(list(Mode)), st.none() | st.integers(1, 3), st.booleans()),
    min_size=AGENTS * GROUPS,
    max_size=AGENTS * GROUPS,
)


def oracle_turn(session: Session, group_id: int) -> set[int]:
    """Who may receive the next new ticket, computed from the rule text, not from `rules`:
    eligible primaries first, else secondaries; lowest allocated count, then oldest last
    assignment (never first). Empty = the queue."""
    tiers: dict[Mode, list[tuple[int, datetime, int]]] = {Mode.PRIMARY: [], Mode.SECONDARY: []}
    for member, agent in session.execute(
        sa.select(Membership, Agent).join(Agent).where(Membership.group_id == group_id)
    ):
        if member.mode in tiers and eligible(session, member, agent):
            last = member.last_assigned_at or datetime.min.replace(tzinfo=UTC)
            tiers[member.mode].append((member.allocated_count, last, agent.id))
    best = tiers[Mode.PRIMARY] or tiers[Mode.SECONDARY]
    return {agent for count, last, agent in best if (count, last) == min(best)[:2]}


def eligible(session: Session, member: Membership, agent: Agent) -> bool:
    if not (agent.logged_in and agent.available and member.receiving):
        return False
    return member.max_tickets is None or active(session, member) < member.max_tickets


def active(session: Session, member: Membership, exclude: frozenset[int] = frozenset()) -> int:
    query = sa.select(Ticket.id).where(
        Ticket.group_id == member.group_id,
        Ticket.agent_id == member.agent_id,
        Ticket.status == Status.ACTIVE,
    )
    return len(set(session.scalars(query)) - exclude)


def watched(step: Callable[..., None]) -> Callable[..., None]:
    """Wrap a rule: pinned tickets keep their agent across it unless it moved them on purpose
    (transfer, follow-up) or rebalancing may move pinned tickets in their group; and tickets
    that distribution moved are no longer exempt from max_tickets."""

    @functools.wraps(step)
    def run(self: Distribution, **kwargs: object) -> None:
        with self.store.transaction() as s:
            pinned_before, holders_before = self.pinned_fixed(s), self.holders(s)
        self.moved_on_purpose = set()
        step(self, **kwargs)
        self.steps += 1
        with self.store.transaction() as s:
            holders_after = self.holders(s)
        for ticket_id, agent_id in pinned_before.items():
            if ticket_id not in self.moved_on_purpose:
                assert holders_after[ticket_id] == agent_id, "a pinned ticket changed agent"
        moved = {t for t, a in holders_after.items() if holders_before.get(t, a) != a}
        self.exempt -= moved - self.moved_on_purpose

    return run


class Distribution(RuleBasedStateMachine):
    store: Store

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.exempt: set[int] = set()  # active tickets got outside distribution (limit-free)
        self.moved_on_purpose: set[int] = set()
        self.steps = 0

    # --- setup and helpers ------------------------------------------------------------------

    @initialize(plan=memberships, pinned_moves=st.booleans())
    def setup(self, plan: list[tuple[Mode, int | None, bool]], pinned_moves: bool) -> None:
        with self.store.transaction() as s:
            org = make_org(s)
            self.groups = [
                make_group(s, org, "plain").id,
                make_group(s, org, "even", rebalance=True, rebalance_pinned=pinned_moves).id,
            ]
            self.agents = [make_agent(s, f"agent{i}").id for i in range(AGENTS)]
            for i, (mode, max_tickets, member) in enumerate(plan):
                agent_id, group_id = self.agents[i % AGENTS], self.groups[i // AGENTS]
                if member or i % AGENTS == 0:
                    agent, group = s.get_one(Agent, agent_id), s.get_one(Group, group_id)
                    join(s, agent, group, mode, max_tickets)

    def ready(self) -> bool:
        return hasattr(self, "groups")

    def step(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def tickets(self, s: Session, *statuses: Status) -> list[Ticket]:
        query = sa.select(Ticket).where(Ticket.status.in_(statuses)).order_by(Ticket.id)
        return list(s.scalars(query))

    def pick(self, data: st.DataObject, s: Session, *statuses: Status) -> Ticket | None:
        found = self.tickets(s, *statuses)
        return data.draw(st.sampled_from(found)) if found else None

    # --- agents ---------------------------------------------------------------------------

    @rule(agent=st.integers(0, AGENTS - 1), on=st.booleans())
    @watched
    def log_in_or_out(self, agent: int, on: bool) -> None:
        with self.store.transaction() as s:
            change = routing.log_in if on else routing.log_out
            change(s, self.agents[agent], self.step())

    @rule(agent=st.integers(0, AGENTS - 1), on=st.booleans())
    @watched
    def set_available(self, agent: int, on: bool) -> None:
        with self.store.transaction() as s:
            routing.set_available(s, self.agents[agent], on, self.step())

    @rule(agent=st.integers(0, AGENTS - 1), group=st.integers(0, GROUPS - 1), on=st.booleans())
    @watched
    def toggle_receiving(self, agent: int, group: int, on: bool) -> None:
        with self.store.transaction() as s:
            agent_id, group_id = self.agents[agent], self.groups[group]
            if routing.queries.membership(s, group_id, agent_id) is not None:
                routing.set_receiving(s, agent_id, group_id, on, self.step())

    # --- tickets --------------------------------------------------------------------------

    @rule(group=st.integers(0, GROUPS - 1), priority=st.sampled_from(list(Priority)))
    @watched
    def ticket_arrives(self, group: int, priority: Priority) -> None:
        with self.store.transaction() as s:
            now = self.step()
            expected = oracle_turn(s, self.groups[group])
            ticket = bare_ticket(s, s.get_one(Group, self.groups[group]), now, priority=priority)
            ROUND_ROBIN.place(s, ticket, now)
            if expected:
                assert ticket.agent_id in expected, "not the agent whose turn it was"
            else:
                assert ticket.agent_id is None and ticket.queued_at == now

    @rule(data=st.data(), status=st.sampled_from([Status.CLOSED, Status.WAITING]))
    @watched
    def agent_sets_status(self, data: st.DataObject, status: Status) -> None:
        with self.store.transaction() as s:
            if ticket := self.pick(data, s, Status.ACTIVE):
                set_status(
                    s, ticket, status, distributor=ROUND_ROBIN, actor=SYSTEM, now=self.step()
                )

    @rule(data=st.data())
    @watched
    def customer_replies(self, data: st.DataObject) -> None:
        with self.store.transaction() as s:
            if ticket := self.pick(data, s, Status.WAITING, Status.CLOSED):
                before = ticket.agent_id
                apply_customer_reply(
                    s, ticket, sender="c@example.com", distributor=ROUND_ROBIN, now=self.step()
                )
                if ticket.agent_id is not None and ticket.agent_id == before:
                    self.exempt.add(ticket.id)  # DESIGN §1: re-activated tickets ignore limits

    @rule(data=st.data(), group=st.integers(0, GROUPS - 1))
    @watched
    def transfer_auto_assign(self, data: st.DataObject, group: int) -> None:
        with self.store.transaction() as s:
            if ticket := self.pick(data, s, Status.ACTIVE):
                request = Transfer(group_id=self.groups[group])
                transfer(s, ticket, request, distributor=ROUND_ROBIN, actor=SYSTEM, now=self.step())
                self.moved_on_purpose.add(ticket.id)
                self.exempt.discard(ticket.id)  # auto-assign: distributed under the limits

    @rule(data=st.data())
    @watched
    def pin(self, data: st.DataObject) -> None:
        with self.store.transaction() as s:
            ticket = self.pick(data, s, Status.ACTIVE)
            if ticket is not None and ticket.agent_id is not None:
                ticket.pinned = True

    @rule(data=st.data(), agent=st.integers(0, AGENTS - 1))
    @watched
    def agent_takes(self, data: st.DataObject, agent: int) -> None:
        with self.store.transaction() as s:
            ticket = self.pick(data, s, Status.ACTIVE)
            agent_id = self.agents[agent]
            member = ticket and routing.queries.membership(s, ticket.group_id, agent_id)
            if ticket and member and ticket.agent_id != agent_id and not ticket.pinned:
                routing.take(s, ticket, agent_id, self.step())
                self.moved_on_purpose.add(ticket.id)
                self.exempt.add(ticket.id)  # taken by hand: limits do not apply

    @rule(data=st.data(), agent=st.none() | st.integers(0, AGENTS - 1))
    @watched
    def followup_falls_due(self, data: st.DataObject, agent: int | None) -> None:
        with self.store.transaction() as s:
            ticket = self.pick(data, s, Status.ACTIVE, Status.CLOSED)
            agent_id = None if agent is None else self.agents[agent]
            if ticket is None or (
                agent_id is not None
                and routing.queries.membership(s, ticket.group_id, agent_id) is None
            ):
                return
            due = FollowUp(at=self.step(), group_id=ticket.group_id, agent_id=agent_id)
            now = self.now - timedelta(seconds=30)
            schedule_followup(s, ticket, due, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)
            fire_due_followups(s, distributor=ROUND_ROBIN, now=self.now)
            self.moved_on_purpose.add(ticket.id)
            if agent_id is None:
                self.exempt.discard(ticket.id)
            else:
                self.exempt.add(ticket.id)  # seed: goes to its agent whatever their status

    @rule(group=st.integers(0, GROUPS - 1))
    @watched
    def rebalance(self, group: int) -> None:
        with self.store.transaction() as s:
            routing.rebalance_group(s, self.groups[group], self.step())

    # --- invariants -----------------------------------------------------------------------

    def holders(self, s: Session) -> dict[int, int | None]:
        return dict(s.execute(sa.select(Ticket.id, Ticket.agent_id)).all())

    def pinned_fixed(self, s: Session) -> dict[int, int | None]:
        """Pinned tickets in groups where rebalancing may not move them, with their agent."""
        query = (
            sa.select(Ticket.id, Ticket.agent_id)
            .join(Group, Group.id == Ticket.group_id)
            .where(Ticket.pinned.is_(True), Group.rebalance_pinned.is_(False))
        )
        return dict(s.execute(query).all())

    @invariant()
    def checks(self) -> None:
        if not self.ready():
            return
        with self.store.transaction() as s:
            members = s.scalars(sa.select(Membership)).all()
            self.check_members_and_limits(s, members)
            self.check_queue(s, members)

    def check_members_and_limits(self, s: Session, members: list[Membership]) -> None:
        pairs = {(m.agent_id, m.group_id) for m in members}
        for ticket in self.tickets(s, Status.ACTIVE):
            if ticket.agent_id is not None:
                assert (ticket.agent_id, ticket.group_id) in pairs, "active ticket with non-member"
            assert (ticket.agent_id is None) == (ticket.queued_at is not None)
        exempt = frozenset(self.exempt)
        for m in members:
            if m.max_tickets is not None:
                assert active(s, m, exempt) <= m.max_tickets, "distribution overfilled an agent"

    def check_queue(self, s: Session, members: list[Membership]) -> None:
        for ticket in self.tickets(s, Status.ACTIVE):
            if ticket.agent_id is None:
                for m in members:
                    if m.group_id == ticket.group_id and m.mode is not Mode.NOT_INCLUDED:
                        agent = s.get_one(Agent, m.agent_id)
                        assert not eligible(s, m, agent), "ticket queued while an agent had room"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_distribution_invariants_hold_for_random_event_sequences(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    counter = iter(range(10**6))
    steps: list[int] = []

    def fresh_store() -> Store:
        if backend == "postgresql":
            store = Store.open(request.getfixturevalue("postgres_url"))
            truncate_all(store)
            return store
        path = tmp_path / f"machine{next(counter)}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return Store.open(f"sqlite:///{path}")

    class Machine(Distribution):
        def __init__(self) -> None:
            self.store = fresh_store()
            super().__init__()

        def teardown(self) -> None:
            steps.append(self.steps)
            if backend == "postgresql":
                truncate_all(self.store)
            self.store.close()

    Machine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    Machine.TestCase().runTest()
    assert sum(steps) > 10 * len(steps), "the machine hardly ran: check the rules' guards"
