"""Who sees which ticket (maild.tickets.access), through the views as the API asks them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from maild.store.db import Store
from maild.store.models import Agent, Membership, RecentTransfer, Ticket
from maild.tickets.access import Viewer
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.ports import QueueOnly
from maild.tickets.views import TicketQuery, View, count_tickets, list_tickets
from maild.values import Role, Status
from tests.tickets.factory import Org, make_org, new_ticket


def _desk(s: Session, org: Org, now: datetime) -> tuple[int, dict[str, Ticket]]:
    """carl, in Tier 1 only, and one ticket per rule of access.py."""
    carl = Agent(name="carl", email="carl@acme.test")
    s.add(carl)
    s.flush()
    s.add(Membership(agent_id=carl.id, group_id=org.tier1_id))
    t = {
        "held": new_ticket(s, org, now, agent_id=carl.id),
        "held_closed": new_ticket(s, org, now, agent_id=carl.id, status=Status.CLOSED),
        "follow_up_for_carl": new_ticket(s, org, now, agent_id=org.bob_id),
        "transferred": new_ticket(s, org, now, agent_id=org.bob_id),
        "tier1_queue": new_ticket(s, org, now),
        "tier2_queue": new_ticket(s, org, now, group_id=org.tier2_id),
        "tier1_waiting_unheld": new_ticket(s, org, now, status=Status.WAITING),
        "bobs_tier1": new_ticket(s, org, now, agent_id=org.bob_id),
        "bobs_sales": new_ticket(s, org, now, department_id=org.sales_id, agent_id=org.bob_id),
    }
    plan = FollowUp(at=now + timedelta(days=1), group_id=org.tier1_id, agent_id=carl.id)
    schedule_followup(
        s, t["follow_up_for_carl"], plan, distributor=QueueOnly(), actor=SYSTEM, now=now
    )
    s.add(RecentTransfer(agent_id=carl.id, ticket_id=t["transferred"].id, at=now))
    s.flush()
    return carl.id, t


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        (
            Role.AGENT,
            {"held", "held_closed", "follow_up_for_carl", "transferred", "tier1_queue"},
        ),
        (
            # the agent's tickets and every ticket of Support, the department of Tier 1
            Role.MANAGER,
            {
                "held",
                "held_closed",
                "follow_up_for_carl",
                "transferred",
                "tier1_queue",
                "tier2_queue",
                "tier1_waiting_unheld",
                "bobs_tier1",
            },
        ),
    ],
)
def test_every_rule_of_access_holds_in_the_all_view_and_its_count(
    store: Store, now: datetime, role: Role, seen: set[str]
) -> None:
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        names = {ticket.number: name for name, ticket in tickets.items()}
        query = TicketQuery(View.ALL, viewer_id=carl, visible_to=Viewer(carl, role))
        rows = list_tickets(s, query, now)
        total = count_tickets(s, query, up_to=100)
    assert {names[row.number] for row in rows} == seen
    assert total == len(seen)


def test_queue_view_of_an_agent_is_their_groups_queue(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        query = TicketQuery(View.QUEUE, viewer_id=carl, visible_to=Viewer(carl, Role.AGENT))
        rows = list_tickets(s, query, now)
    assert [row.number for row in rows] == [tickets["tier1_queue"].number]


def test_own_views_show_only_the_viewers_tickets(store: Store, now: datetime) -> None:
    """mine_* and follow_ups leave the visibility test out: they must still hold nobody else's."""
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        viewer = Viewer(carl, Role.AGENT)
        found = {
            view: [
                row.number
                for row in list_tickets(s, TicketQuery(view, carl, visible_to=viewer), now)
            ]
            for view in (View.MINE_ACTIVE, View.MINE_CLOSED, View.FOLLOW_UPS)
        }
    assert found == {
        View.MINE_ACTIVE: [tickets["held"].number],
        View.MINE_CLOSED: [tickets["held_closed"].number],
        View.FOLLOW_UPS: [tickets["follow_up_for_carl"].number],
    }


AGENT_SEES = {"held", "held_closed", "follow_up_for_carl", "transferred", "tier1_queue"}


def test_an_agents_view_with_a_filter_keeps_to_what_they_may_see(
    store: Store, now: datetime
) -> None:
    """The filter applies to each part of the access rule: a match the agent may not see
    (another group's queue, bob's tickets) stays out of the page and the count."""
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        names = {ticket.number: name for name, ticket in tickets.items()}
        query = TicketQuery(
            View.ALL, viewer_id=carl, status=Status.ACTIVE, visible_to=Viewer(carl, Role.AGENT)
        )
        rows = list_tickets(s, query, now)
        total = count_tickets(s, query, up_to=100)
        active = {name for name in AGENT_SEES if tickets[name].status is Status.ACTIVE}
    assert {names[row.number] for row in rows} == active
    assert total == len(active)
    assert "bobs_tier1" not in active and "tier2_queue" not in active


def test_a_ticket_in_several_parts_of_the_rule_is_listed_and_counted_once(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        # held by carl and transferred to him: two parts of the rule name it
        s.add(RecentTransfer(agent_id=carl, ticket_id=tickets["held"].id, at=now))
        s.flush()
        query = TicketQuery(View.ALL, viewer_id=carl, visible_to=Viewer(carl, Role.AGENT))
        numbers = [row.number for row in list_tickets(s, query, now)]
        total = count_tickets(s, query, up_to=100)
    assert sorted(numbers) == sorted(tickets[name].number for name in AGENT_SEES)
    assert total == len(AGENT_SEES)


@pytest.mark.parametrize("descending", [False, True])
def test_an_agents_view_pages_in_idle_order_without_overlap(
    store: Store, now: datetime, descending: bool
) -> None:
    with store.transaction() as s:
        carl, tickets = _desk(s, make_org(s), now)
        for minutes, name in enumerate(sorted(AGENT_SEES)):
            tickets[name].last_action_at = now - timedelta(minutes=minutes)
        s.flush()
        viewer = Viewer(carl, Role.AGENT)
        pages = [
            list_tickets(
                s,
                TicketQuery(
                    View.ALL,
                    viewer_id=carl,
                    visible_to=viewer,
                    descending=descending,
                    limit=2,
                    offset=offset,
                ),
                now,
            )
            for offset in (0, 2, 4)
        ]
    least_idle_first = [tickets[name].number for name in sorted(AGENT_SEES)]
    expected = least_idle_first[::-1] if descending else least_idle_first
    assert [row.number for page in pages for row in page] == expected
