"""Opening a ticket: number, brand, group, participants, history, placement."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from maild.errors import InvalidRequest, NotFound
from maild.store.db import Store
from maild.store.models import Department, History, Participant
from maild.tickets.participants import is_participant
from maild.values import ParticipantRole, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot


def test_new_ticket_gets_number_brand_default_group_and_created_history(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        history = s.scalars(sa.select(History).where(History.ticket_id == ticket.id)).all()
    assert ticket.number == "SUP-000001"
    assert (ticket.brand_id, ticket.group_id) == (org.brand_id, org.tier1_id)
    assert ticket.created_at == ticket.last_action_at == ticket.response_clock_at == now
    assert [(h.action, h.to_value) for h in history] == [("created", "SUP-000001")]


def test_new_active_ticket_without_agent_is_placed_by_distribution(
    store: Store, now: datetime
) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now, distributor=distributor)
    assert distributor.calls == [("place", ticket.number)]
    assert ticket.agent_id is None and ticket.queued_at == now


def test_new_ticket_for_a_named_agent_counts_as_assigned(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.bob_id, distributor=distributor)
    assert distributor.calls == [("assigned", ticket.number, org.bob_id)]
    assert ticket.agent_id == org.bob_id and ticket.queued_at is None


def test_new_waiting_ticket_is_not_distributed(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, status=Status.WAITING, distributor=distributor)
    assert distributor.calls == []
    assert ticket.queued_at is None


def test_requester_and_cc_are_recorded_lower_cased(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, requester="Carol@Example.COM", cc=("Dave@Example.com",))
        rows = s.scalars(sa.select(Participant).where(Participant.ticket_id == ticket.id)).all()
        assert ticket.requester == "carol@example.com"
        assert {(p.address, p.role) for p in rows} == {
            ("carol@example.com", ParticipantRole.REQUESTER),
            ("dave@example.com", ParticipantRole.CC),
        }
        assert is_participant(s, ticket, "DAVE@example.com")
        assert is_participant(s, ticket, "alice@acme.test")  # agents are staff
        assert not is_participant(s, ticket, "mallory@example.net")


def test_automatic_mail_opens_a_ticket_marked_automatic(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now, automatic=True)
    assert ticket.automatic


def test_group_of_another_department_is_refused_and_nothing_is_created(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="not in department Support"):
            new_ticket(s, org, now, group_id=org.sales_desk_id)
        assert snapshot(s) == before


def test_department_without_default_group_is_refused_with_a_hint(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        s.get_one(Department, org.support_id).default_group_id = None
        with pytest.raises(InvalidRequest, match="no default group"):
            new_ticket(s, org, now)


def test_unknown_department_is_not_found(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        with pytest.raises(NotFound, match="department"):
            new_ticket(s, org, now, department_id=999)
