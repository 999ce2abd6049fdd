"""Incoming mail on an existing ticket (DESIGN §1 table), customer replies and bounces."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import Conflict
from maild.store.db import Store
from maild.store.models import History
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, followup_defaults, schedule_followup
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.incoming import (
    IncomingTransition,
    apply_bounce,
    apply_customer_reply,
    incoming_transition,
)
from maild.tickets.lifecycle import set_status
from maild.tickets.ports import QueueOnly
from maild.values import Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot

T = IncomingTransition


@pytest.mark.parametrize(
    ("status", "deleted", "expected"),
    [
        (Status.ACTIVE, False, T.KEEP),
        (Status.WAITING, False, T.REACTIVATE),
        (Status.CLOSED, False, T.REACTIVATE),
        (Status.CLOSED_LOCKED, False, T.NEW_RELATED),
        (Status.CLOSED_LOCKED, True, T.NEW_TICKET),
        (Status.ACTIVE, True, T.NEW_TICKET),
    ],
)
def test_incoming_transition_follows_the_design_table(
    status: Status, deleted: bool, expected: IncomingTransition
) -> None:
    assert incoming_transition(status, deleted) is expected


@pytest.mark.parametrize("status", list(Status))
def test_machine_made_mail_is_appended_and_changes_no_status(status: Status) -> None:
    transition = incoming_transition(status, deleted=False, machine_made=True)
    assert transition is T.APPEND_ONLY and transition.appends


def test_machine_made_mail_to_a_deleted_ticket_opens_a_new_one() -> None:
    assert (
        incoming_transition(Status.CLOSED_LOCKED, deleted=True, machine_made=True) is T.NEW_TICKET
    )


def test_reply_to_closed_ticket_reopens_it_for_its_agent(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    later = now + timedelta(hours=1)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        set_status(s, ticket, Status.CLOSED, distributor=QueueOnly(), actor=SYSTEM, now=now)
        outcome = apply_customer_reply(
            s, ticket, sender="carol@example.com", distributor=distributor, now=later
        )
    assert outcome is T.REACTIVATE
    assert ticket.status is Status.ACTIVE and ticket.agent_id == org.alice_id
    assert ticket.last_action_at == later
    assert distributor.calls == [("reactivate", ticket.number)]


def test_reply_to_active_ticket_keeps_it_active(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        outcome = apply_customer_reply(
            s, ticket, sender="carol@example.com", distributor=distributor, now=now
        )
    assert outcome is T.KEEP and ticket.status is Status.ACTIVE
    assert distributor.calls == []


def test_reply_to_waiting_ticket_suspends_its_follow_up_and_keeps_the_values(
    store: Store, now: datetime
) -> None:
    due = now + timedelta(days=2)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=due, group_id=org.tier2_id, agent_id=org.bob_id, note="call back")
        schedule_followup(s, ticket, plan, distributor=QueueOnly(), actor=SYSTEM, now=now)
        apply_customer_reply(
            s, ticket, sender="carol@example.com", distributor=QueueOnly(), now=now
        )
    assert ticket.status is Status.ACTIVE
    assert ticket.followup_suspended
    assert followup_defaults(ticket) == plan  # offered again next time (seed)


def test_reply_to_closed_locked_opens_new_ticket(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        set_status(s, ticket, Status.CLOSED_LOCKED, distributor=QueueOnly(), actor=SYSTEM, now=now)
        before = snapshot(s)
        with pytest.raises(Conflict, match="open a new ticket"):
            apply_customer_reply(
                s, ticket, sender="carol@example.com", distributor=QueueOnly(), now=now
            )
        assert snapshot(s) == before
    assert incoming_transition(ticket.status, False) is T.NEW_RELATED


def test_bounce_reopens_a_closed_locked_ticket(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id, priority="high")
        set_status(s, ticket, Status.CLOSED_LOCKED, distributor=QueueOnly(), actor=SYSTEM, now=now)
        apply_bounce(s, ticket, distributor=distributor, now=now)
    assert ticket.status is Status.ACTIVE
    assert (ticket.agent_id, ticket.priority) == (org.alice_id, "high")  # nothing else removed
    assert distributor.calls == [("reactivate", ticket.number)]


def test_bounce_on_a_deleted_ticket_is_only_noted(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        delete_ticket(s, ticket, distributor=QueueOnly(), actor=SYSTEM, now=now)
        apply_bounce(s, ticket, distributor=QueueOnly(), now=now)
        last = s.scalars(sa.select(History.action).order_by(History.id.desc())).first()
    assert ticket.status is Status.CLOSED_LOCKED and ticket.deleted_at == now
    assert last == "bounce"
