"""Merge: 2-10 tickets into a primary, forwarders for every merged number. Permanent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import Conflict, InvalidRequest
from maild.store.db import Store
from maild.store.models import Comment, History, Message, Participant, Ticket, TimeLog
from maild.tickets.actors import SYSTEM
from maild.tickets.fields import define_field, field_values, set_field
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.items import add_comment, log_time
from maild.tickets.lookup import resolve_number
from maild.tickets.merge import merge
from maild.tickets.participants import is_participant, relate, related_tickets
from maild.tickets.ports import QueueOnly
from maild.tickets.views import TicketQuery, View, list_tickets
from maild.values import Direction, FieldType, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot

Q = QueueOnly()


def _message(ticket: Ticket, text: str, now: datetime) -> Message:
    return Message(ticket_id=ticket.id, direction=Direction.IN, text=text, created_at=now)


def test_merge_moves_everything_to_the_primary_which_keeps_its_properties(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        define_field(s, "Plan", FieldType.TEXT)
        primary = new_ticket(s, org, now, agent_id=org.alice_id, subject="Primary")
        other = new_ticket(s, org, now, requester="dave@example.com", status=Status.CLOSED)
        s.add_all([_message(primary, "one", now), _message(other, "two", now)])
        add_comment(s, other, "note on other", actor=SYSTEM, now=now)
        log_time(s, other, 15, actor=SYSTEM, now=now)
        set_field(s, primary, "Plan", "gold", actor=SYSTEM, now=now)
        set_field(s, other, "Plan", "silver", actor=SYSTEM, now=now)
        merge(s, primary, [other], distributor=Q, actor=SYSTEM, now=now)
        owners = {
            model.__name__: set(s.scalars(sa.select(model.ticket_id)))
            for model in (Message, Comment, TimeLog, History, Participant)
        }
        assert field_values(s, primary) == {"Plan": "gold"}  # seed: fields follow the primary
        assert is_participant(s, primary, "dave@example.com")
    assert owners == {name: {primary.id} for name in owners}
    assert (primary.subject, primary.status, primary.agent_id) == (
        "Primary",
        Status.ACTIVE,
        org.alice_id,
    )


def test_merged_number_resolves_to_the_primary_through_chains(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        a, b, c = (new_ticket(s, org, now) for _ in range(3))
        numbers = a.number, b.number
        merge(s, b, [a], distributor=Q, actor=SYSTEM, now=now)
        merge(s, c, [b], distributor=Q, actor=SYSTEM, now=now)
        assert s.get(Ticket, a.id) is None and s.get(Ticket, b.id) is None
        assert resolve_number(s, numbers[0]) is c
        assert resolve_number(s, numbers[1].lower()) is c
        assert resolve_number(s, "SUP-999999") is None


def test_merge_of_eleven_tickets_is_refused_and_changes_nothing(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        tickets = [new_ticket(s, org, now) for _ in range(11)]
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="2 to 10 tickets"):
            merge(s, tickets[0], tickets[1:], distributor=Q, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_merge_of_ten_tickets_is_allowed(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        tickets = [new_ticket(s, org, now) for _ in range(10)]
        merge(s, tickets[0], tickets[1:], distributor=Q, actor=SYSTEM, now=now)
        assert s.scalar(sa.select(sa.func.count(Ticket.id))) == 1


def test_merging_a_ticket_into_itself_is_refused_and_changes_nothing(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket, other = new_ticket(s, org, now), new_ticket(s, org, now)
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="into itself"):
            merge(s, ticket, [other, ticket], distributor=Q, actor=SYSTEM, now=now)
        with pytest.raises(InvalidRequest, match="listed twice"):
            merge(s, ticket, [other, other], distributor=Q, actor=SYSTEM, now=now)
        with pytest.raises(InvalidRequest, match="2 to 10"):
            merge(s, ticket, [], distributor=Q, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_merging_a_deleted_ticket_is_refused(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket, other = new_ticket(s, org, now), new_ticket(s, org, now)
        delete_ticket(s, other, distributor=Q, actor=SYSTEM, now=now)
        before = snapshot(s)
        with pytest.raises(Conflict, match="deleted"):
            merge(s, ticket, [other], distributor=Q, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_merged_active_tickets_release_their_agents(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        primary = new_ticket(s, org, now)
        other = new_ticket(s, org, now, agent_id=org.bob_id)
        merge(s, primary, [other], distributor=distributor, actor=SYSTEM, now=now)
    assert distributor.calls == [("released", org.tier1_id, org.bob_id)]


def test_related_links_of_merged_tickets_move_to_the_primary(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        primary, other, outsider = (new_ticket(s, org, now) for _ in range(3))
        relate(s, other, outsider, actor=SYSTEM, now=now)
        relate(s, other, primary, actor=SYSTEM, now=now)
        merge(s, primary, [other], distributor=Q, actor=SYSTEM, now=now + timedelta(1))
        assert related_tickets(s, primary) == [outsider]
        assert related_tickets(s, outsider) == [primary]


def test_agents_who_touched_a_merged_ticket_see_the_primary_in_recent(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        primary, other = new_ticket(s, org, now), new_ticket(s, org, now)
        add_comment(s, other, "seen", actor=org.actor(s, "bob"), now=now)
        merge(s, primary, [other], distributor=Q, actor=SYSTEM, now=now)
        query = TicketQuery(view=View.RECENT, viewer_id=org.bob_id)
        assert [row.number for row in list_tickets(s, query, now)] == [primary.number]
