"""Agent mail end to end: composed, queued with the ticket change, delivered by the worker to a
real SMTP sink on loopback, and checked there (envelope and headers). DESIGN §2, seed
"Replying to Tickets" / "Composing a Ticket Response" / "Creating New ... Tickets"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import InvalidRequest
from maild.mailids import parse_message_id, parse_verp
from maild.outbound import (
    DraftValues,
    ForwardRequest,
    Mark,
    NewTicketRequest,
    ReplyRequest,
    Upload,
    create_ticket,
    find_message,
    forward_message,
    get_draft,
    resend_message,
    save_draft,
    send_reply,
)
from maild.outbound.outbox import attachment_row
from maild.store.models import CannedReply, Group, History, Message, Outbox
from maild.tickets import lifecycle
from maild.tickets.actors import Actor
from maild.tickets.followup import FollowUp
from maild.tickets.transfer import Transfer
from maild.values import Direction, Status
from tests.outbound.conftest import NEW_REQUEST, Desk, Received, Sink

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _reply(desk: Desk, request: ReplyRequest, mark: Mark | None = None) -> str:
    with desk.store.transaction() as session:
        ticket = desk.ticket(session)
        sent = send_reply(
            session, ticket, request, agent=desk.agent(session), ctx=desk.ctx, now=NOW, mark=mark
        )
    return sent.message_id


def _delivered(desk: Desk, sink: Sink, message_id: str) -> Received:
    desk.deliver()
    found = [r for r in sink.received if r.message["Message-ID"] == message_id]
    assert len(found) == 1, [r.message["Message-ID"] for r in sink.received]
    return found[0]


@pytest.fixture
def opened(desk: Desk, sink: Sink) -> Desk:
    """SUP-000001 opened by Carol's mail; its autoresponse delivered and set aside."""
    assert desk.ingest(NEW_REQUEST).outcome.value == "new_ticket"
    desk.deliver()
    assert len(sink.received) == 1
    sink.received.clear()
    return desk


def test_reply_reaches_the_requester_from_the_department_with_verp(
    opened: Desk, sink: Sink
) -> None:
    mid = _reply(opened, ReplyRequest(body="Please unplug it."))
    got = _delivered(opened, sink, mid)
    msg = got.message
    assert got.rcpt_tos == ["carol@customer.example"]
    token, number = parse_message_id(mid) or ("", "")
    assert number == "SUP-000001" and parse_verp(got.mail_from) == token
    assert msg["To"] == "carol@customer.example"
    assert msg["From"] == "Example Support <support@example.com>"
    assert msg["Subject"] == "[#SUP-000001] Printer on floor 3 is on fire"
    assert msg["In-Reply-To"] == "<req-1@customer.example>"
    assert msg["References"] == "<req-1@customer.example>"
    text = msg.get_body(("plain",))
    assert text is not None and "Please unplug it." in text.get_content()
    assert "The Example team" in text.get_content()  # the brand's signature


def test_reply_all_with_cc_reaches_everyone_minus_our_own(opened: Desk, sink: Sink) -> None:
    mid = _reply(opened, ReplyRequest(body="All of you", reply_all=True, cc="frank@x.example"))
    got = _delivered(opened, sink, mid)
    assert got.rcpt_tos == [
        "carol@customer.example",
        "dave@customer.example",
        "frank@x.example",
        "erin@customer.example",
    ]
    assert got.message["To"] == "carol@customer.example, dave@customer.example"
    assert got.message["Cc"] == "frank@x.example, erin@customer.example"
    assert b"support@example.com" not in b" ".join(a.encode() for a in got.rcpt_tos)


def test_bcc_is_only_in_the_envelope(opened: Desk, sink: Sink) -> None:
    mid = _reply(opened, ReplyRequest(body="x", bcc="boss@example.org; audit@example.org"))
    got = _delivered(opened, sink, mid)
    assert got.rcpt_tos == ["carol@customer.example", "boss@example.org", "audit@example.org"]
    assert b"boss@example.org" not in got.data and b"audit@" not in got.data
    assert got.message["Bcc"] is None


def test_subject_override_is_for_one_mail_and_the_ticket_keeps_its_subject(
    opened: Desk, sink: Sink
) -> None:
    mid = _reply(opened, ReplyRequest(body="x", subject="Your invoice"))
    assert _delivered(opened, sink, mid).message["Subject"] == "[#SUP-000001] Your invoice"
    second = _reply(opened, ReplyRequest(body="y"))
    subject = _delivered(opened, sink, second).message["Subject"]
    assert subject == "[#SUP-000001] Printer on floor 3 is on fire"


def test_changed_subject_and_email_are_used_for_future_replies(opened: Desk, sink: Sink) -> None:
    with opened.store.transaction() as session:
        ticket, actor = opened.ticket(session), Actor.of_agent(opened.agent(session))
        lifecycle.change_subject(session, ticket, "Printer replaced", actor=actor, now=NOW)
        lifecycle.change_email(session, ticket, "carol@new.example", actor=actor, now=NOW)
    got = _delivered(opened, sink, _reply(opened, ReplyRequest(body="x")))
    assert got.rcpt_tos == ["carol@new.example"]
    assert got.message["Subject"] == "[#SUP-000001] Printer replaced"


def test_tag_typed_into_the_subject_is_not_doubled(opened: Desk, sink: Sink) -> None:
    mid = _reply(opened, ReplyRequest(body="x", subject="Re: [#sup-000001] Printer"))
    assert _delivered(opened, sink, mid).message["Subject"] == "[#SUP-000001] Re: Printer"


def test_attachments_arrive_with_names_and_bytes(opened: Desk, sink: Sink) -> None:
    files = (
        Upload("manual.pdf", "application/pdf", b"%PDF-1.4 manual"),
        Upload("Schaltplan ü.png", "image/png", b"\x89PNG\r\n"),
    )
    got = _delivered(opened, sink, _reply(opened, ReplyRequest(body="x", attachments=files)))
    parts = [(p.get_filename(), p.get_content()) for p in got.message.iter_attachments()]
    assert parts == [("manual.pdf", b"%PDF-1.4 manual"), ("Schaltplan ü.png", b"\x89PNG\r\n")]


def test_forward_sends_a_message_with_its_attachments(opened: Desk, sink: Sink) -> None:
    with opened.store.transaction() as session:
        ticket = opened.ticket(session)
        incoming = find_message(session, ticket, "<req-1@customer.example>")
        incoming.attachments.append(attachment_row("e42.log", "text/plain", b"E42 at 08:54"))
    with opened.store.transaction() as session:
        ticket = opened.ticket(session)
        message = find_message(session, ticket, "<req-1@customer.example>")
        request = ForwardRequest(to="vendor@printers.example", note="Known issue?")
        sent = forward_message(
            session, ticket, message, request, agent=opened.agent(session), ctx=opened.ctx, now=NOW
        )
    got = _delivered(opened, sink, sent.message_id)
    assert got.rcpt_tos == ["vendor@printers.example"]
    assert got.message["Subject"] == "[#SUP-000001] Fwd: Printer on floor 3 is on fire"
    text = got.message.get_body(("plain",))
    assert text is not None and "the printer on floor 3 shows error E42" in text.get_content()
    (part,) = list(got.message.iter_attachments())
    assert (part.get_filename(), part.get_content()) == ("e42.log", "E42 at 08:54")


def test_resend_sends_the_same_message_again_under_resent_headers(opened: Desk, sink: Sink) -> None:
    mid = _reply(opened, ReplyRequest(body="x", bcc="boss@example.org"))
    first = _delivered(opened, sink, mid)
    with opened.store.transaction() as session:
        ticket = opened.ticket(session)
        message = find_message(session, ticket, mid, direction=Direction.OUT)
        resend_message(
            session, ticket, message, agent=opened.agent(session), ctx=opened.ctx, now=NOW
        )
    opened.deliver()
    again = [r for r in sink.received if r.message["Message-ID"] == mid]
    assert len(again) == 2
    assert again[1].rcpt_tos == first.rcpt_tos and again[1].mail_from == first.mail_from
    assert again[1].message["Resent-From"] == "support@example.com"
    assert again[1].message["Resent-Message-ID"]
    assert again[1].data.endswith(first.data)


def test_the_sent_message_id_threads_the_customer_answer_into_the_ticket(
    opened: Desk, sink: Sink
) -> None:
    got = _delivered(opened, sink, _reply(opened, ReplyRequest(body="x"), Mark(Status.CLOSED)))
    # The customer's client drops the tag but keeps In-Reply-To, from another address.
    answer = (
        "From: Carol at home <carol@home.example>\r\nTo: support@example.com\r\n"
        "Subject: thanks\r\nMessage-ID: <answer-1@home.example>\r\n"
        f"In-Reply-To: {got.message['Message-ID']}\r\n\r\nWorks now.\r\n"
    ).encode()
    result = opened.ingest(answer)
    assert (result.outcome.value, result.ticket) == ("appended", "SUP-000001")
    with opened.store.sessions() as session:
        assert opened.ticket(session).status is Status.ACTIVE  # re-opened by the answer


@pytest.mark.parametrize(
    "status", [Status.ACTIVE, Status.WAITING, Status.CLOSED, Status.CLOSED_LOCKED]
)
def test_send_and_mark_sets_the_status_with_the_outbox_row(opened: Desk, status: Status) -> None:
    _reply(opened, ReplyRequest(body="x"), Mark(status=status))
    with opened.store.sessions() as session:
        ticket = opened.ticket(session)
        assert ticket.status is status and ticket.first_response_at == NOW
        assert session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 2


def test_send_and_schedule_follow_up_or_transfer(opened: Desk) -> None:
    with opened.store.sessions() as session:
        group_id = session.scalars(sa.select(Group.id)).one()
    _reply(
        opened,
        ReplyRequest(body="x"),
        Mark(followup=FollowUp(at=NOW + timedelta(days=1), group_id=group_id)),
    )
    with opened.store.sessions() as session:
        ticket = opened.ticket(session)
        assert ticket.status is Status.WAITING and ticket.followup_at == NOW + timedelta(days=1)
        bob = opened.agent(session, "bob").id
    _reply(
        opened, ReplyRequest(body="y"), Mark(transfer=Transfer(group_id, bob, status=Status.ACTIVE))
    )
    with opened.store.sessions() as session:
        assert opened.ticket(session).agent_id == bob


def test_a_refused_reply_queues_nothing_and_changes_nothing(opened: Desk, sink: Sink) -> None:
    with pytest.raises(InvalidRequest):
        _reply(
            opened,
            ReplyRequest(body="x", subject="hi\r\nBcc: victim@evil.example"),
            Mark(Status.CLOSED),
        )
    with opened.store.sessions() as session:
        assert opened.ticket(session).status is Status.ACTIVE
    assert len(opened.outbox()) == 1  # the autoresponse only
    opened.deliver()
    assert sink.received == []


@pytest.mark.parametrize(
    "request_",
    [
        ReplyRequest(body="x", subject="hi\r\nBcc: victim@evil.example"),
        ReplyRequest(body="x", to="Eve\r\nBcc: victim@evil.example <eve@x.example>"),
        ReplyRequest(body="x", cc="carol@customer.example\r\nBcc: victim@evil.example"),
        ReplyRequest(
            body="x", attachments=(Upload("a.txt\r\nBcc: victim@evil.example", "text/plain", b"x"),)
        ),
    ],
    ids=["subject", "display-name", "address", "filename"],
)
def test_header_injection_is_refused_with_nothing_queued_or_sent(
    opened: Desk, sink: Sink, request_: ReplyRequest
) -> None:
    with pytest.raises(InvalidRequest):
        _reply(opened, request_)
    assert len(opened.outbox()) == 1
    opened.deliver()
    assert sink.received == []


def test_one_draft_per_ticket_and_sending_clears_it(opened: Desk) -> None:
    with opened.store.transaction() as session:
        ticket, alice = opened.ticket(session), opened.agent(session)
        save_draft(session, ticket, DraftValues("first"), agent=alice, now=NOW)
        save_draft(session, ticket, DraftValues("second", cc="a@x.example"), agent=alice, now=NOW)
    with opened.store.sessions() as session:
        assert get_draft(session, opened.ticket(session)) == DraftValues("second", cc="a@x.example")
    _reply(opened, ReplyRequest(body="sent"))
    with opened.store.sessions() as session:
        assert get_draft(session, opened.ticket(session)) is None


def test_canned_reply_is_inserted_before_the_body(opened: Desk, sink: Sink) -> None:
    with opened.store.transaction() as session:
        session.add(CannedReply(name="hello", body="Dear customer of {{ brand.name }},"))
    got = _delivered(opened, sink, _reply(opened, ReplyRequest(body="It works.", canned="hello")))
    text = got.message.get_body(("plain",))
    assert text is not None
    content = text.get_content().replace("\r\n", "\n")
    assert content.startswith("Dear customer of Example,\n\nIt works.")


def test_agent_opens_an_outgoing_ticket(desk: Desk, sink: Sink) -> None:
    with desk.store.transaction() as session:
        group = session.scalars(sa.select(Group)).one()
        request = NewTicketRequest(
            group_id=group.id,
            customer="dan@customer.example",
            subject="Your order",
            body="It shipped.",
        )
        ticket = create_ticket(session, request, agent=desk.agent(session), ctx=desk.ctx, now=NOW)
        assert ticket.status is Status.WAITING
    desk.deliver()
    (got,) = sink.received
    assert got.rcpt_tos == ["dan@customer.example"]
    assert got.message["Subject"] == "[#SUP-000001] Your order"
    assert got.message["In-Reply-To"] is None and got.message["Auto-Submitted"] is None


def test_agent_opens_an_incoming_ticket_and_the_autoresponder_answers(
    desk: Desk, sink: Sink
) -> None:
    with desk.store.transaction() as session:
        group = session.scalars(sa.select(Group)).one()
        request = NewTicketRequest(
            group_id=group.id,
            customer="ed@customer.example",
            subject="About VPN",
            body="It drops.",
            incoming=True,
        )
        create_ticket(session, request, agent=desk.agent(session), ctx=desk.ctx, now=NOW)
    desk.deliver()
    (got,) = sink.received
    assert got.rcpt_tos == ["ed@customer.example"]
    assert got.message["Auto-Submitted"] == "auto-replied"
    assert "SUP-000001" in got.message["Subject"]
    with desk.store.sessions() as session:
        first = session.scalars(sa.select(Message).order_by(Message.id)).first()
        assert first is not None and first.direction is Direction.IN
        assert first.from_addr == "ed@customer.example"
        actions = session.scalars(sa.select(History.action)).all()
        assert "autoresponse" in actions
