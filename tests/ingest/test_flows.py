"""Each threading and status rule of DESIGN §1, shown with a fixture mail going through the
whole pipeline (spool → parse → classify → thread → apply) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.ingest.inspect import inspect_message
from maild.ingest.pipeline import IngestResult, Pipeline
from maild.ingest.sources import SourceMessage
from maild.ingest.spool import Envelope
from maild.provision import apply_config
from maild.runtime import build_apply_context
from maild.settings import (
    AgentConfig,
    DepartmentConfig,
    GroupConfig,
    MemberConfig,
    Settings,
    TicketSettings,
)
from maild.store.db import Store
from maild.store.models import Bounce, History, Message, Outbox, Related, Ticket
from maild.values import Direction, Kind, Outcome, ReplyPolicy, Status

FLOWS = Path(__file__).resolve().parent.parent.parent / "fixtures" / "emails" / "flows"


def make_settings(policy: ReplyPolicy = ReplyPolicy.PARTICIPANTS_OR_TOKEN) -> Settings:
    return Settings(
        tickets=TicketSettings(reply_policy=policy),
        departments=(
            DepartmentConfig(
                name="Support",
                addresses=("support@example.com",),
                autoresponder_subject="We received: {{ ticket.subject }}",
                autoresponder_body="Your ticket {{ ticket.number }} is open.",
            ),
        ),
        groups=(
            GroupConfig(
                name="Tier 1",
                department="Support",
                members=(MemberConfig(agent="alice"), MemberConfig(agent="bob")),
            ),
        ),
        agents=(
            AgentConfig(name="alice", email="alice@example.com"),
            AgentConfig(name="bob", email="bob@example.com"),
        ),
    )


class Desk:
    """A configured maild with a fixed clock, fed fixture files."""

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store = store
        self.now = now
        with store.transaction() as session:
            apply_config(session, settings, now)
        self.pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: self.now)

    def feed(self, name: str, envelope: Envelope | None = None, **subs: str) -> IngestResult:
        raw = (FLOWS / name).read_bytes()
        for key, value in subs.items():
            raw = raw.replace(f"@@{key.upper()}@@".encode(), value.encode())
        (result,) = self.pipeline.ingest([SourceMessage(name, raw)], envelope)
        return result

    def ticket(self, number: str) -> Ticket:
        with self.store.transaction() as session:
            return session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()

    def change(self, number: str, edit: Callable[[Ticket], None]) -> None:
        with self.store.transaction() as session:
            edit(session.scalars(sa.select(Ticket).where(Ticket.number == number)).one())

    def outgoing(self, number: str) -> list[Message]:
        with self.store.transaction() as session:
            query = (
                sa.select(Message)
                .join(Ticket)
                .where(Ticket.number == number, Message.direction == Direction.OUT)
            )
            return list(session.scalars(query.order_by(Message.id)))

    def messages(self, number: str) -> list[Message]:
        with self.store.transaction() as session:
            query = sa.select(Message).join(Ticket).where(Ticket.number == number)
            return list(session.scalars(query.order_by(Message.id)))

    def count(self, model: type) -> int:
        with self.store.transaction() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


@pytest.fixture
def desk(store: Store, now: datetime) -> Desk:
    return Desk(store, make_settings(), now)


def test_new_mail_opens_a_ticket_and_queues_the_autoresponse(desk: Desk) -> None:
    result = desk.feed("new-request.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000001")
    ticket = desk.ticket("SUP-000001")
    assert ticket.requester == "carol@customer.example"
    assert ticket.subject == "Printer on floor 3 is on fire"
    (auto,) = desk.outgoing("SUP-000001")
    assert auto.subject.startswith("[#SUP-000001] We received: Printer")
    with desk.store.transaction() as session:
        outbox = session.scalars(sa.select(Outbox)).one()
    assert b"Auto-Submitted: auto-replied" in outbox.raw
    assert b"X-Auto-Response-Suppress: All" in outbox.raw
    assert outbox.envelope_from.startswith("bounces+")


def test_reply_with_tag_after_any_prefixes_is_appended(desk: Desk) -> None:
    desk.feed("new-request.eml")
    result = desk.feed("reply-tag-prefixes.eml")
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")
    assert len([m for m in desk.messages("SUP-000001") if m.direction is Direction.IN]) == 2


def test_cc_address_seen_on_incoming_mail_may_reply(desk: Desk) -> None:
    desk.feed("new-request.eml")
    result = desk.feed("reply-tag-from-cc.eml")
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_reply_to_waiting_ticket_makes_it_active(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.WAITING))
    desk.feed("reply-tag-prefixes.eml")
    assert desk.ticket("SUP-000001").status is Status.ACTIVE


def test_reply_to_closed_ticket_reopens_it(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED))
    result = desk.feed("reply-tag-prefixes.eml")
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.ACTIVE


def test_reply_to_closed_locked_opens_new_related_ticket(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    result = desk.feed("reply-tag-prefixes.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000002")
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED
    assert _related(desk, "SUP-000002", "SUP-000001")


def test_reply_to_deleted_ticket_opens_new_ticket(desk: Desk, now: datetime) -> None:
    desk.feed("new-request.eml")

    def delete(ticket: Ticket) -> None:
        ticket.deleted_at, ticket.status = now, Status.CLOSED_LOCKED

    desk.change("SUP-000001", delete)
    result = desk.feed("reply-tag-prefixes.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000002")
    assert desk.ticket("SUP-000001").deleted_at is not None


def test_stranger_with_guessed_number_gets_a_new_related_ticket(desk: Desk) -> None:
    desk.feed("new-request.eml")
    result = desk.feed("stranger-guessed-number.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000002")
    assert "not a participant" in result.reason
    assert len(desk.messages("SUP-000001")) == 2  # the request and its autoresponse only
    assert _related(desk, "SUP-000002", "SUP-000001")


def test_stranger_with_guessed_number_is_appended_under_policy_any(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, make_settings(ReplyPolicy.ANY), now)
    desk.feed("new-request.eml")
    result = desk.feed("stranger-guessed-number.eml")
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_references_naming_our_message_id_are_appended_whoever_sends(desk: Desk) -> None:
    desk.feed("new-request.eml")
    (ours,) = desk.outgoing("SUP-000001")
    result = desk.feed("references-only.eml", our_message_id=ours.message_id)
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_forged_message_id_with_a_wrong_token_opens_a_new_ticket(desk: Desk) -> None:
    desk.feed("new-request.eml")
    result = desk.feed("forged-reference.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000002")


def test_merged_number_resolves_to_the_surviving_ticket(desk: Desk) -> None:
    from maild.tickets.actors import SYSTEM
    from maild.tickets.lookup import get_ticket
    from maild.tickets.merge import merge
    from maild.tickets.ports import QueueOnly

    desk.feed("new-request.eml")
    second = desk.feed("references-only.eml", our_message_id="<none@nowhere.example>")
    assert second.ticket == "SUP-000002"
    with desk.store.transaction() as session:
        primary, other = get_ticket(session, "SUP-000001"), get_ticket(session, "SUP-000002")
        merge(session, primary, [other], distributor=QueueOnly(), actor=SYSTEM, now=desk.now)
    result = desk.feed("reply-merged-number.eml")
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_auto_reply_on_waiting_ticket_is_appended_without_status_change(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.WAITING))
    result = desk.feed("out-of-office.eml")
    assert (result.outcome, result.ticket) == (Outcome.AUTO_REPLY, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.WAITING
    assert desk.messages("SUP-000001")[-1].kind is Kind.AUTO_REPLY
    assert len(desk.outgoing("SUP-000001")) == 1  # no autoresponse to an auto-reply


def test_automatic_mail_matching_no_ticket_opens_an_automatic_ticket_without_autoresponse(
    desk: Desk,
) -> None:
    result = desk.feed("monitoring-alert.eml")
    assert (result.outcome, result.ticket) == (Outcome.AUTO_REPLY, "SUP-000001")
    assert desk.ticket("SUP-000001").automatic
    assert desk.outgoing("SUP-000001") == []


def _verp_of(desk: Desk, number: str) -> tuple[str, str]:
    with desk.store.transaction() as session:
        outbox = session.scalars(
            sa.select(Outbox).join(Ticket).where(Ticket.number == number)
        ).one()
        message = session.get(Message, outbox.message_row_id)
        assert message is not None
        return outbox.envelope_from, message.message_id


def test_failed_dsn_reopens_even_a_closed_locked_ticket(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    verp, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed(
        "dsn-failed.eml", Envelope("", (verp,)), verp=verp, our_message_id=message_id
    )
    assert (result.outcome, result.ticket) == (Outcome.BOUNCE, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.ACTIVE
    assert desk.messages("SUP-000001")[-1].kind is Kind.BOUNCE
    assert len(desk.outgoing("SUP-000001")) == 1  # never an autoresponse to a bounce


def test_failed_dsn_found_by_returned_message_id_without_verp(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED))
    _, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed("dsn-failed.eml", verp="support@example.com", our_message_id=message_id)
    assert (result.outcome, result.ticket) == (Outcome.BOUNCE, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.ACTIVE


def test_delayed_dsn_is_recorded_but_does_not_reopen(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED))
    verp, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed(
        "dsn-delayed.eml", Envelope("", (verp,)), verp=verp, our_message_id=message_id
    )
    assert (result.outcome, result.ticket) == (Outcome.BOUNCE, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.CLOSED


def test_bounce_matching_no_ticket_is_kept_and_opens_none(desk: Desk) -> None:
    result = desk.feed("dsn-unmatched.eml", Envelope("", ("support@example.com",)))
    assert (result.outcome, result.ticket) == (Outcome.BOUNCE, None)
    assert desk.count(Ticket) == 0
    with desk.store.transaction() as session:
        bounce = session.scalars(sa.select(Bounce)).one()
    assert bounce.ticket_id is None
    assert "carol@customer.example" in bounce.recipients


def test_mail_naming_no_department_is_held_with_the_reason(desk: Desk) -> None:
    result = desk.feed("no-department.eml")
    assert result.outcome is Outcome.HELD
    assert "no department address" in result.reason


def test_same_message_twice_is_a_duplicate_and_changes_nothing(desk: Desk) -> None:
    first = desk.feed("new-request.eml")
    again = desk.feed("new-request.eml")
    assert again.outcome is Outcome.DUPLICATE
    assert again.ticket == first.ticket
    assert desk.count(Ticket) == 1


def test_autoresponses_to_one_sender_are_rate_limited(desk: Desk) -> None:
    raw = (FLOWS / "new-request.eml").read_bytes()
    for i in range(5):
        unique = raw.replace(b"<req-1@", f"<req-1-{i}@".encode())
        list(desk.pipeline.ingest([SourceMessage(f"m{i}", unique)]))
    assert desk.count(Ticket) == 5
    assert desk.count(Outbox) == 3  # AutoresponderSettings.max_per_sender
    desk.now += timedelta(hours=2)
    list(desk.pipeline.ingest([SourceMessage("late", raw.replace(b"<req-1@", b"<late@"))]))
    assert desk.count(Outbox) == 4


def _related(desk: Desk, a: str, b: str) -> bool:
    with desk.store.transaction() as session:
        ids = {t.number: t.id for t in session.scalars(sa.select(Ticket))}
        rows = session.scalars(sa.select(Related)).all()
        pairs = {(r.ticket_id, r.related_id) for r in rows}
    return (ids[a], ids[b]) in pairs or (ids[b], ids[a]) in pairs


def test_out_of_office_to_a_closed_locked_ticket_is_appended_and_opens_nothing(
    desk: Desk,
) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    result = desk.feed("out-of-office.eml")
    assert (result.outcome, result.ticket) == (Outcome.AUTO_REPLY, "SUP-000001")
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED
    assert desk.count(Ticket) == 1


def test_forged_bounce_naming_a_ticket_by_tag_changes_nothing_on_it(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    before = len(desk.messages("SUP-000001"))
    result = desk.feed("forged-bounce.eml", Envelope("", ("support@example.com",)))
    assert (result.outcome, result.ticket) == (Outcome.BOUNCE, "SUP-000001")
    assert "status unchanged" in result.reason
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED
    assert len(desk.messages("SUP-000001")) == before  # the attacker's text is not on it
    with desk.store.transaction() as session:
        bounce = session.scalars(sa.select(Bounce)).one()
    assert bounce.ticket_id == desk.ticket("SUP-000001").id  # but admins see it


def test_reply_to_deleted_ticket_is_not_linked_to_it(desk: Desk, now: datetime) -> None:
    desk.feed("new-request.eml")

    def delete(ticket: Ticket) -> None:
        ticket.deleted_at, ticket.status = now, Status.CLOSED_LOCKED

    desk.change("SUP-000001", delete)
    result = desk.feed("reply-tag-prefixes.eml")
    assert "deleted" in result.reason
    assert not _related(desk, "SUP-000002", "SUP-000001")


def test_broken_autoresponder_template_still_opens_the_ticket(store: Store, now: datetime) -> None:
    settings = make_settings()
    broken = dataclasses.replace(
        settings.departments[0], autoresponder_body="Hello {{ ticket.no_such_field }}"
    )
    desk = Desk(store, dataclasses.replace(settings, departments=(broken,)), now)
    result = desk.feed("new-request.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000001")
    assert desk.outgoing("SUP-000001") == []
    with desk.store.transaction() as session:
        notes = session.scalars(sa.select(History.detail).where(History.action == "autoresponse"))
        assert any("no_such_field" in n for n in notes)


def test_agent_of_another_group_is_not_a_participant(store: Store, now: datetime) -> None:
    settings = make_settings()
    other = GroupConfig(name="Sales", department="Support", members=(MemberConfig(agent="eve"),))
    eve = AgentConfig(name="eve", email="mallory@attacker.example")
    desk = Desk(
        store,
        dataclasses.replace(
            settings, groups=(*settings.groups, other), agents=(*settings.agents, eve)
        ),
        now,
    )
    desk.feed("new-request.eml")
    result = desk.feed("stranger-guessed-number.eml")
    assert result.outcome is Outcome.NEW_TICKET


# --- issue 12 item 5: only an NDR that arrives as NDRs do may change a ticket -----------------

CAROL = Envelope("carol@customer.example", ("support@example.com",))


def test_a_customer_cannot_reopen_a_locked_ticket_with_an_undeliverable_of_our_mail(
    desk: Desk,
) -> None:
    # Our Message-ID and VERP address are in every mail Carol got from us: she can attach our
    # mail to an "Undeliverable:" of her own. She sent it, so it is her mail, not a bounce.
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    verp, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed(
        "customer-undeliverable-own-mail.eml", CAROL, verp=verp, our_message_id=message_id
    )
    assert result.outcome is not Outcome.BOUNCE
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED
    with desk.store.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Bounce)) == 0


def test_a_hand_made_delivery_report_from_a_customer_is_a_persons_mail(desk: Desk) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    verp, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed("customer-handmade-report.eml", CAROL, our_message_id=message_id)
    assert result.outcome is not Outcome.BOUNCE
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED


def test_a_hand_made_report_sent_to_our_bounce_address_is_kept_but_changes_nothing(
    desk: Desk,
) -> None:
    # Our VERP address is the Return-Path of every mail Carol got. Mail to it is a bounce
    # (never a ticket), but one from a person's envelope does not touch the ticket.
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    before = len(desk.messages("SUP-000001"))
    verp, message_id = _verp_of(desk, "SUP-000001")
    envelope = Envelope("carol@customer.example", (verp,))
    result = desk.feed("customer-handmade-report.eml", envelope, our_message_id=message_id)
    assert result.outcome is Outcome.BOUNCE
    assert "did not come as NDRs come" in result.reason
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED
    assert len(desk.messages("SUP-000001")) == before


def test_a_customer_who_forwards_a_bounce_asking_for_help_gets_a_ticket(desk: Desk) -> None:
    result = desk.feed(
        "customer-forwards-a-bounce.eml",
        Envelope("dave@customer.example", ("support@example.com",)),
    )
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000001")
    assert desk.ticket("SUP-000001").requester == "dave@customer.example"
    assert len(desk.outgoing("SUP-000001")) == 1  # and the autoresponse, like any customer


def test_the_same_forwarded_bounce_read_from_a_file_is_a_ticket_too(desk: Desk) -> None:
    result = desk.feed("customer-forwards-a-bounce.eml")
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000001")


def test_a_null_sender_dsn_failing_for_someone_our_mail_did_not_go_to_changes_nothing(
    desk: Desk,
) -> None:
    desk.feed("new-request.eml")
    desk.change("SUP-000001", lambda t: setattr(t, "status", Status.CLOSED_LOCKED))
    verp, message_id = _verp_of(desk, "SUP-000001")
    result = desk.feed(
        "dsn-failed-other-recipient.eml",
        Envelope("", (verp,)),
        verp=verp,
        our_message_id=message_id,
    )
    assert result.outcome is Outcome.BOUNCE
    assert "status unchanged" in result.reason
    assert desk.ticket("SUP-000001").status is Status.CLOSED_LOCKED


@pytest.mark.parametrize(
    "envelope, return_path",
    [
        (Envelope("MAILER-DAEMON@mx.customer.example", ("support@example.com",)), ""),
        (Envelope("postmaster@customer.example", ("support@example.com",)), ""),
        (None, "Return-Path: <MAILER-DAEMON@mx.customer.example>\n"),
        (None, "Return-Path: <postmaster@customer.example>\n"),
    ],
)
def test_no_autoresponse_to_mail_whose_return_path_is_a_mail_system(
    desk: Desk, envelope: Envelope | None, return_path: str
) -> None:
    raw = return_path.encode() + (FLOWS / "new-request.eml").read_bytes()
    (result,) = desk.pipeline.ingest([SourceMessage("new-request.eml", raw)], envelope)
    assert result.ticket == "SUP-000001"  # the mail is kept as a ticket ...
    assert desk.outgoing("SUP-000001") == []  # ... but nothing is sent to a mail system


def test_threading_survives_a_change_of_the_ticket_prefix(store: Store, now: datetime) -> None:
    desk = Desk(store, make_settings(), now)
    desk.feed("new-request.eml")
    (ours,) = desk.outgoing("SUP-000001")
    renamed = make_settings()
    renamed = dataclasses.replace(
        renamed, tickets=dataclasses.replace(renamed.tickets, prefix="HLP")
    )
    desk = Desk(store, renamed, now)
    # Each prefix counts on its own: HLP-000001 exists and must not catch SUP-000001's mail.
    assert desk.feed("monitoring-alert.eml").ticket == "HLP-000001"

    reply = desk.feed("reply-after-prefix-change.eml", our_message_id=ours.message_id)
    assert (reply.outcome, reply.ticket) == (Outcome.APPENDED, "SUP-000001")
    by_token = desk.feed("references-only.eml", our_message_id=ours.message_id)
    assert (by_token.outcome, by_token.ticket) == (Outcome.APPENDED, "SUP-000001")
    by_tag = desk.feed("reply-tag-prefixes.eml")  # the tag alone, from the requester
    assert (by_tag.outcome, by_tag.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_inspect_and_ingest_name_the_same_ticket_for_every_flow_mail(desk: Desk) -> None:
    """`maild inspect` decides with the function `ingest` carries out, on the same database:
    for each mail, inspected and then ingested in turn, the ticket it joins is the same, and
    where ingest opens a ticket, inspect said it would."""
    settings = make_settings()
    names = ["new-request.eml"] + sorted(
        p.name for p in FLOWS.glob("*.eml") if p.name != "new-request.eml"
    )
    compared = 0
    for name in names:
        subs = _flow_substitutions(desk)
        raw = (FLOWS / name).read_bytes()
        for key, value in subs.items():
            raw = raw.replace(f"@@{key.upper()}@@".encode(), value.encode())
        with desk.store.sessions() as session, session.begin():
            report = inspect_message(raw, settings, None, session)
        before = {t.number for t in _tickets(desk)}
        result = desk.feed(name, **subs)
        joined = result.ticket if result.ticket in before else None
        opened = result.ticket is not None and result.ticket not in before
        assert (report["ticket"], report["threading"]["opens_new_ticket"]) == (joined, opened), name
        compared += 1
    assert compared == len(list(FLOWS.glob("*.eml")))


def _flow_substitutions(desk: Desk) -> dict[str, str]:
    """The placeholders of the flow mails, filled with SUP-000001's outgoing ids once it has
    some (before, with ids that name nothing)."""
    if not any(t.number == "SUP-000001" for t in _tickets(desk)):
        return {"verp": "support@example.com", "our_message_id": "<none@nowhere.example>"}
    verp, message_id = _verp_of(desk, "SUP-000001")
    return {"verp": verp, "our_message_id": message_id}


def _tickets(desk: Desk) -> list[Ticket]:
    with desk.store.transaction() as session:
        return list(session.scalars(sa.select(Ticket)))


def test_history_of_a_mail_without_from_says_it_names_no_sender(desk: Desk) -> None:
    raw = (
        b"To: support@example.com\nSubject: left my name out\nMessage-ID: <anon@x.example>\n"
        b"\nWho am I?\n"
    )
    (result,) = desk.pipeline.ingest([SourceMessage("anon", raw)])
    assert result.outcome is Outcome.NEW_TICKET
    with desk.store.transaction() as session:
        (detail,) = session.scalars(
            sa.select(History.detail).where(History.action == "autoresponse")
        )
    assert "no sender" in detail and "our own" not in detail
