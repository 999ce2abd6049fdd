"""Comments, resolutions, time logs, custom fields, related tickets."""

from __future__ import annotations

from datetime import datetime

import pytest

from maild.errors import Conflict, InvalidRequest, NotFound
from maild.store.db import Store
from maild.tickets.actors import SYSTEM
from maild.tickets.fields import define_field, field_values, set_field
from maild.tickets.items import add_comment, comments, log_time, time_logs
from maild.tickets.participants import relate, related_tickets
from maild.values import CommentKind, FieldType
from tests.tickets.factory import make_org, new_ticket, snapshot


def test_comments_and_resolutions_are_kept_with_their_agent(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        add_comment(s, ticket, "asked on the phone", actor=org.actor(s), now=now)
        add_comment(
            s, ticket, "reset the spooler", kind=CommentKind.RESOLUTION, actor=SYSTEM, now=now
        )
        found = [(c.kind, c.body, c.agent_id) for c in comments(s, ticket)]
    assert found == [
        (CommentKind.COMMENT, "asked on the phone", org.alice_id),
        (CommentKind.RESOLUTION, "reset the spooler", None),
    ]


def test_empty_comment_is_refused(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        with pytest.raises(InvalidRequest, match="empty"):
            add_comment(s, ticket, "   ", actor=SYSTEM, now=now)


def test_time_logs_record_minutes_and_refuse_non_positive(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        log_time(s, ticket, 25, note_text="remote session", actor=org.actor(s), now=now)
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="positive number of minutes"):
            log_time(s, ticket, 0, actor=org.actor(s), now=now)
        assert snapshot(s) == before
        logs = [(t.minutes, t.note, t.agent_id) for t in time_logs(s, ticket)]
    assert logs == [(25, "remote session", org.alice_id)]


def test_custom_field_values_are_checked_against_their_type(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        define_field(s, "Seats", FieldType.NUMBER)
        define_field(s, "Renewal", FieldType.DATE)
        define_field(s, "Plan", FieldType.CHOICE, ["Basic", "Gold"])
        set_field(s, ticket, "Seats", " 12.50 ", actor=SYSTEM, now=now)
        set_field(s, ticket, "Renewal", "2026-12-01", actor=SYSTEM, now=now)
        set_field(s, ticket, "Plan", "Gold", actor=SYSTEM, now=now)
        before = snapshot(s)
        for name, bad in (("Seats", "a dozen"), ("Renewal", "next year"), ("Plan", "Platinum")):
            with pytest.raises(InvalidRequest, match=name):
                set_field(s, ticket, name, bad, actor=SYSTEM, now=now)
        with pytest.raises(NotFound, match="define it first"):
            set_field(s, ticket, "Colour", "red", actor=SYSTEM, now=now)
        assert snapshot(s) == before
        set_field(s, ticket, "Plan", "", actor=SYSTEM, now=now)
        values = field_values(s, ticket)
    assert values == {"Seats": "12.5", "Renewal": "2026-12-01"}


def test_field_definitions_are_checked(store: Store) -> None:
    with store.transaction() as s:
        define_field(s, "Plan", FieldType.TEXT)
        with pytest.raises(Conflict, match="already exists"):
            define_field(s, "Plan", FieldType.TEXT)
        with pytest.raises(InvalidRequest, match="at least one choice"):
            define_field(s, "Tier", FieldType.CHOICE)


def test_related_tickets_link_both_ways_once(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        a, b = new_ticket(s, org, now), new_ticket(s, org, now)
        relate(s, a, b, actor=SYSTEM, now=now)
        relate(s, b, a, actor=SYSTEM, now=now)
        assert related_tickets(s, a) == [b] and related_tickets(s, b) == [a]
        with pytest.raises(InvalidRequest, match="itself"):
            relate(s, a, a, actor=SYSTEM, now=now)
