"""Views: who sees which ticket, filters, sorting with idle as the final tie-break, paging."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.store.db import Store
from maild.store.models import Message, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.audit import touch
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.ports import QueueOnly
from maild.tickets.transfer import Transfer, transfer
from maild.tickets.views import SortKey, TicketQuery, View, count_tickets, list_tickets
from maild.values import Direction, Priority, Status
from tests.tickets.factory import Org, make_org, new_ticket

Q = QueueOnly()


def _numbers(s: Session, query: TicketQuery, now: datetime) -> list[str]:
    return [row.number for row in list_tickets(s, query, now)]


def _board(s: Session, org: Org, now: datetime) -> dict[str, Ticket]:
    """One ticket per situation; every ticket idle for a different time."""
    t = {
        "queued": new_ticket(s, org, now),
        "a_active": new_ticket(s, org, now, agent_id=org.alice_id),
        "a_waiting": new_ticket(s, org, now, agent_id=org.alice_id, status=Status.WAITING),
        "a_closed": new_ticket(s, org, now, agent_id=org.alice_id, status=Status.CLOSED),
        "a_locked": new_ticket(s, org, now, agent_id=org.alice_id, status=Status.CLOSED_LOCKED),
        "b_active": new_ticket(s, org, now, agent_id=org.bob_id),
        "a_deleted": new_ticket(s, org, now, agent_id=org.alice_id),
    }
    delete_ticket(s, t["a_deleted"], distributor=Q, actor=SYSTEM, now=now)
    return t


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (View.MINE_ACTIVE, {"a_active"}),
        (View.MINE_WAITING, {"a_waiting"}),
        (View.MINE_CLOSED, {"a_closed", "a_locked"}),
        (View.QUEUE, {"queued"}),
        (View.DELETED, {"a_deleted"}),
        (View.ALL, {"queued", "a_active", "a_waiting", "a_closed", "a_locked", "b_active"}),
    ],
)
def test_each_view_shows_its_tickets_and_only_deleted_shows_deleted(
    store: Store, now: datetime, view: View, expected: set[str]
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        board = _board(s, org, now)
        query = TicketQuery(view=view, viewer_id=org.alice_id)
        found = set(_numbers(s, query, now))
        assert count_tickets(s, query) == len(expected)
    assert found == {board[name].number for name in expected}


def test_a_bounded_count_is_exact_up_to_its_bound_and_says_more_above(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        _board(s, org, now)
        everything = TicketQuery(view=View.ALL)
        assert count_tickets(s, everything) == 6
        assert [count_tickets(s, everything, up_to) for up_to in (6, 10, 5, 2)] == [6, 6, 6, 3]


def test_follow_ups_view_lists_pending_follow_ups_of_the_agent(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        mine, bobs, _ = (new_ticket(s, org, now, agent_id=org.alice_id) for _ in range(3))
        at = now + timedelta(days=1)
        for ticket, agent in ((mine, org.alice_id), (bobs, org.bob_id)):
            plan = FollowUp(at=at, group_id=org.tier1_id, agent_id=agent)
            schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        query = TicketQuery(view=View.FOLLOW_UPS, viewer_id=org.alice_id)
        rows = list_tickets(s, query, now)
    assert [row.number for row in rows] == [mine.number]
    assert rows[0].followup_at == at and not rows[0].followup_due(now)


def test_follow_ups_view_holds_the_holders_follow_ups_set_for_no_agent(
    store: Store, now: datetime
) -> None:
    """A follow-up set to auto-assign (no agent) is the holder's to follow up."""
    with store.transaction() as s:
        org = make_org(s)
        alices, bobs = (new_ticket(s, org, now, agent_id=a) for a in (org.alice_id, org.bob_id))
        for ticket in (alices, bobs):
            plan = FollowUp(at=now + timedelta(days=1), group_id=org.tier1_id)
            schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        query = TicketQuery(view=View.FOLLOW_UPS, viewer_id=org.alice_id)
        assert _numbers(s, query, now) == [alices.number]
        assert count_tickets(s, query) == 1


def test_recent_view_holds_the_100_tickets_the_agent_touched_last(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        tickets = [new_ticket(s, org, now) for _ in range(101)]
        for minutes, ticket in enumerate(tickets):
            touch(s, ticket, org.alice_id, now + timedelta(minutes=minutes))
        query = TicketQuery(view=View.RECENT, viewer_id=org.alice_id, limit=1000)
        found = set(_numbers(s, query, now))
        assert _numbers(s, TicketQuery(view=View.RECENT, viewer_id=org.bob_id), now) == []
    assert found == {t.number for t in tickets[1:]}


def test_recently_transferred_view_shows_transfers_to_and_from_the_agent(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        new_ticket(s, org, now)  # never transferred: in nobody's list
        request = Transfer(group_id=org.tier1_id, agent_id=org.bob_id)
        transfer(s, ticket, request, distributor=Q, actor=SYSTEM, now=now)
        for agent in (org.alice_id, org.bob_id):
            query = TicketQuery(view=View.RECENTLY_TRANSFERRED, viewer_id=agent)
            assert _numbers(s, query, now) == [ticket.number]


def test_own_views_need_an_agent(store: Store, now: datetime) -> None:
    with store.transaction() as s, pytest.raises(InvalidRequest, match="name the agent"):
        list_tickets(s, TicketQuery(view=View.MINE_ACTIVE), now)


def test_views_filter_by_status_group_agent_brand_and_department(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        board = _board(s, org, now)
        sales = new_ticket(s, org, now, department_id=org.sales_id, agent_id=org.bob_id)
        checks = {
            TicketQuery(status=Status.WAITING): {board["a_waiting"].number},
            TicketQuery(agent_id=org.bob_id): {board["b_active"].number, sales.number},
            TicketQuery(group_id=org.sales_desk_id): {sales.number},
            TicketQuery(department_id=org.sales_id): {sales.number},
            TicketQuery(brand_id=org.brand_id, status=Status.CLOSED): {board["a_closed"].number},
        }
        for query, expected in checks.items():
            assert set(_numbers(s, query, now)) == expected, query


def test_priority_sorts_by_urgency_with_idle_time_deciding_ties(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        plan = [(Priority.LOW, 1), (Priority.URGENT, 2), (Priority.NORMAL, 3), (Priority.URGENT, 4)]
        made = []
        for priority, hours in plan:
            made.append(new_ticket(s, org, now, priority=priority))
            made[-1].last_action_at = now + timedelta(hours=hours)
        up = _numbers(s, TicketQuery(sort=SortKey.PRIORITY), now)
        down = _numbers(s, TicketQuery(sort=SortKey.PRIORITY, descending=True), now)
    low, urgent_old, normal, urgent_new = (t.number for t in made)
    assert up == [low, normal, urgent_new, urgent_old]  # ties: least idle first
    assert down == [urgent_old, urgent_new, normal, low]


@pytest.mark.parametrize(
    ("key", "expected", "backwards"),
    [
        (SortKey.IDLE, "bac", "cab"),
        (SortKey.DURATION, "cba", "abc"),
        (SortKey.SUBJECT, "abc", "cba"),
        (SortKey.REQUESTER, "cab", "bac"),
        (SortKey.STATUS, "cba", "abc"),
        (SortKey.MESSAGES, "cba", "abc"),
        (SortKey.FOLLOW_UP, "bac", "abc"),  # no follow-up sorts last either way
        (SortKey.NUMBER, "abc", "cba"),
        (SortKey.AGENT, "bac", "abc"),  # no agent sorts last either way
        (SortKey.GROUP, "cab", "bac"),
        (SortKey.DEPARTMENT, "cba", "abc"),
        (SortKey.BRAND, "bac", "cab"),  # one brand: idle decides
    ],
)
def test_every_listed_column_sorts(
    store: Store, now: datetime, key: SortKey, expected: str, backwards: str
) -> None:
    """a: Tier 1, bob, 2 messages, follow-up in 2 days; b: Tier 2, alice, 1 message, follow-up
    tomorrow; c: Sales, queued, active. Idle: b 10 min < a 20 min < c 30 min."""
    with store.transaction() as s:
        org = make_org(s)
        a = new_ticket(s, org, now, subject="Alpha", requester="m@x.org", agent_id=org.bob_id)
        b = new_ticket(s, org, now, subject="beta", requester="z@x.org", agent_id=org.alice_id)
        c = new_ticket(
            s, org, now, subject="Gamma", requester="a@x.org", department_id=org.sales_id
        )
        a.created_at, b.created_at, c.created_at = (now - timedelta(hours=h) for h in (3, 2, 1))
        a.last_action_at, b.last_action_at, c.last_action_at = (
            now - timedelta(minutes=m) for m in (20, 10, 30)
        )
        a.group_id = org.tier1_id
        b.group_id = org.tier2_id
        for ticket, count in ((a, 2), (b, 1)):
            for _ in range(count):
                s.add(Message(ticket_id=ticket.id, direction=Direction.IN, created_at=now))
        for ticket, days in ((a, 2), (b, 1)):
            plan = FollowUp(at=now + timedelta(days=days), group_id=ticket.group_id)
            schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
            ticket.last_action_at = now - timedelta(minutes=20 if ticket is a else 10)
        names = {t.number: n for t, n in ((a, "a"), (b, "b"), (c, "c"))}
        up = "".join(names[n] for n in _numbers(s, TicketQuery(sort=key), now))
        down = "".join(names[n] for n in _numbers(s, TicketQuery(sort=key, descending=True), now))
    assert (up, down) == (expected, backwards)


def test_views_page_with_limit_and_offset(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        made = [new_ticket(s, org, now) for _ in range(5)]
        pages = [
            _numbers(s, TicketQuery(sort=SortKey.NUMBER, limit=2, offset=o), now) for o in (0, 2, 4)
        ]
        with pytest.raises(InvalidRequest, match="limit"):
            list_tickets(s, TicketQuery(limit=0), now)
    assert sum(pages, []) == [t.number for t in made]


def test_basic_search_within_a_view(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        hit = new_ticket(s, org, now, subject="VPN is down")
        new_ticket(s, org, now, subject="Printer")
        assert _numbers(s, TicketQuery(view=View.QUEUE, text="vpn"), now) == [hit.number]
