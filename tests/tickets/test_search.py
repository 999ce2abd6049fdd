"""Basic and advanced search (seed: "Searching Tickets"), alike on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.store.db import Store
from maild.store.models import Message
from maild.tickets.actors import SYSTEM
from maild.tickets.fields import define_field, set_field
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.items import add_comment
from maild.tickets.merge import merge
from maild.tickets.ports import QueueOnly
from maild.tickets.search import SearchCriteria, search_tickets
from maild.values import Direction, FieldType, Priority, Status
from tests.tickets.factory import make_org, new_ticket

Q = QueueOnly()


def _found(s: Session, criteria: SearchCriteria, now: datetime) -> list[str]:
    return [row.number for row in search_tickets(s, criteria, now)]


def test_basic_search_looks_in_subject_bodies_and_comments_ignoring_case(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        by_subject = new_ticket(s, org, now, subject="Ünïcode PRINTER jam")
        by_body = new_ticket(s, org, now, subject="Help")
        by_comment = new_ticket(s, org, now, subject="Other")
        new_ticket(s, org, now, subject="Unrelated")
        s.add(
            Message(ticket_id=by_body.id, direction=Direction.IN, text="my Printer", created_at=now)
        )
        add_comment(s, by_comment, "customer's printer is old", actor=SYSTEM, now=now)
        found = set(_found(s, SearchCriteria(text="printer"), now))
    assert found == {by_subject.number, by_body.number, by_comment.number}


def test_search_text_with_like_wildcards_matches_them_literally(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        hit = new_ticket(s, org, now, subject="Discount 100% off")
        new_ticket(s, org, now, subject="Discount 1000 off")
        assert _found(s, SearchCriteria(text="100%"), now) == [hit.number]
        assert _found(s, SearchCriteria(text="_"), now) == []


def test_search_by_number_finds_merged_numbers_too(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        primary, merged = new_ticket(s, org, now), new_ticket(s, org, now)
        old_number = merged.number
        merge(s, primary, [merged], distributor=Q, actor=SYSTEM, now=now)
        assert _found(s, SearchCriteria(number=old_number.lower()), now) == [primary.number]
        assert _found(s, SearchCriteria(number=primary.number), now) == [primary.number]


def test_search_by_email_matches_requester_and_participants(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        asked = new_ticket(s, org, now, requester="dave@example.org")
        copied = new_ticket(s, org, now, cc=("Dave@Example.org",))
        new_ticket(s, org, now)
        assert set(_found(s, SearchCriteria(email="DAVE@example.org"), now)) == {
            asked.number,
            copied.number,
        }


def test_search_by_date_range_group_agent_status_and_priority(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        old = new_ticket(s, org, now - timedelta(days=10))
        urgent = new_ticket(s, org, now, priority=Priority.URGENT, agent_id=org.bob_id)
        waiting = new_ticket(s, org, now, group_id=org.tier2_id, status=Status.WAITING)
        window = SearchCriteria(created_from=now - timedelta(days=11), created_to=now)
        assert _found(s, window, now) == [old.number]
        assert _found(s, SearchCriteria(priority=Priority.URGENT), now) == [urgent.number]
        assert _found(s, SearchCriteria(agent_id=org.bob_id), now) == [urgent.number]
        assert _found(s, SearchCriteria(group_id=org.tier2_id), now) == [waiting.number]
        assert _found(s, SearchCriteria(status=Status.WAITING), now) == [waiting.number]


def test_search_in_deleted_only_or_everything_else(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        kept, gone = new_ticket(s, org, now), new_ticket(s, org, now)
        delete_ticket(s, gone, distributor=Q, actor=SYSTEM, now=now)
        assert _found(s, SearchCriteria(), now) == [kept.number]
        assert _found(s, SearchCriteria(deleted_only=True), now) == [gone.number]


def test_search_orders_newest_or_oldest_first_up_to_max_results(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        made = [new_ticket(s, org, now + timedelta(minutes=m)) for m in range(4)]
        newest = _found(s, SearchCriteria(max_results=2), now)
        oldest = _found(s, SearchCriteria(newest_first=False, max_results=3), now)
        with pytest.raises(InvalidRequest, match="max results"):
            search_tickets(s, SearchCriteria(max_results=0), now)
    assert newest == [made[3].number, made[2].number]
    assert oldest == [t.number for t in made[:3]]


def test_search_by_custom_field_value(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        define_field(s, "Seats", FieldType.NUMBER)
        twelve, other, none = (new_ticket(s, org, now) for _ in range(3))
        set_field(s, twelve, "Seats", "12", actor=SYSTEM, now=now)
        set_field(s, other, "Seats", "3", actor=SYSTEM, now=now)
        by_value = SearchCriteria(field_name="Seats", field_value="12.0")
        assert _found(s, by_value, now) == [twelve.number]  # compared as numbers
        assert _found(s, SearchCriteria(field_name="Seats", field_value=""), now) == [none.number]
        rows = search_tickets(s, SearchCriteria(field_name="Seats", field_value="12"), now)
    assert rows[0].fields == (("Seats", "12"),)
