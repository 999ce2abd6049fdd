"""Mail to international addresses (issue 13 item 1) against a real aiosmtpd relay, with and
without SMTPUTF8: an IDN domain goes out in A-labels to any relay; a UTF-8 local part goes out
with SMTPUTF8 when the relay offers it, and otherwise fails at once with a reason that says so."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maild.store.db import Store
from maild.store.models import History
from maild.values import OutboxState
from tests.outbound.conftest import Desk, Sink, SinkHandler, make_desk

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "emails"
IDN_DOMAIN = (FIXTURES / "idn-domain-thunderbird.eml").read_bytes()
UTF8_LOCAL_PART = (FIXTURES / "smtputf8-local-part-outlook.eml").read_bytes()


class Utf8Handler(SinkHandler):
    """The sink, remembering whether each mail came with SMTPUTF8."""

    utf8: list[bool]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.utf8.append(bool(envelope.smtp_utf8))
        return await super().handle_DATA(server, session, envelope)


def _relay(**options: Any) -> Iterator[Sink]:
    handler = Utf8Handler()
    handler.utf8 = []
    running = Sink(handler, **options)
    running.controller.start()
    yield running
    running.controller.stop()


@pytest.fixture
def utf8_relay() -> Iterator[Sink]:
    yield from _relay(enable_SMTPUTF8=True)


@pytest.fixture
def ascii_relay() -> Iterator[Sink]:
    yield from _relay(enable_SMTPUTF8=False)  # aiosmtpd's Controller offers it by default


def _utf8_flags(sink: Sink) -> list[bool]:
    assert isinstance(sink.handler, Utf8Handler)
    return sink.handler.utf8


def test_an_idn_domain_goes_out_in_a_labels_to_a_relay_without_smtputf8(
    store: Store, db_url: str, ascii_relay: Sink
) -> None:
    desk = make_desk(store, db_url, ascii_relay.relay)
    desk.ingest(IDN_DOMAIN)
    desk.deliver()
    (received,) = ascii_relay.received
    assert received.rcpt_tos == ["j.weiss@xn--bcher-kva.example"]
    assert _utf8_flags(ascii_relay) == [False]
    assert received.data.isascii()
    assert received.message["To"] == "j.weiss@xn--bcher-kva.example"


def test_a_utf8_local_part_goes_out_with_smtputf8_when_the_relay_offers_it(
    store: Store, db_url: str, utf8_relay: Sink
) -> None:
    desk = make_desk(store, db_url, utf8_relay.relay)
    desk.ingest(UTF8_LOCAL_PART)
    desk.deliver()
    (received,) = utf8_relay.received
    assert received.rcpt_tos == ["josé.núñez@correo.ejemplo.es"]
    assert _utf8_flags(utf8_relay) == [True]
    parsed = message_from_bytes(received.data, policy=policy.SMTPUTF8)
    assert parsed["To"] == "josé.núñez@correo.ejemplo.es"
    (row,) = desk.outbox()
    assert row.state is OutboxState.SENT


def test_a_utf8_local_part_fails_at_once_and_says_why_without_smtputf8(
    store: Store, db_url: str, ascii_relay: Sink
) -> None:
    desk = make_desk(store, db_url, ascii_relay.relay)
    desk.ingest(UTF8_LOCAL_PART)
    desk.deliver()
    assert ascii_relay.received == []
    (row,) = desk.outbox()
    assert (row.state, row.attempts) == (OutboxState.FAILED, 1)  # no retry can succeed
    assert "josé.núñez@correo.ejemplo.es" in row.last_error
    assert "SMTPUTF8" in row.last_error and "does not offer it" in row.last_error
    with desk.store.sessions() as session:
        history = session.scalars(sa.select(History).where(History.action == "delivery_failed"))
        (failed,) = list(history)
    assert "SMTPUTF8" in failed.detail


def test_an_agent_reply_to_a_utf8_cc_is_rfc_6531_mail(
    store: Store, db_url: str, utf8_relay: Sink
) -> None:
    from datetime import UTC, datetime

    from maild.outbound import ReplyRequest, send_reply

    desk: Desk = make_desk(store, db_url, utf8_relay.relay)
    desk.ingest(UTF8_LOCAL_PART)
    with desk.store.transaction() as session:
        request = ReplyRequest(body="Lo revisamos.", reply_all=True)
        send_reply(session, desk.ticket(session), request,
                   agent=desk.agent(session), ctx=desk.ctx, now=datetime.now(UTC))  # fmt: skip
    desk.deliver()
    reply = utf8_relay.received[-1]
    assert sorted(reply.rcpt_tos) == [
        "josé.núñez@correo.ejemplo.es",
        "maría.álvarez@correo.ejemplo.es",
    ]
    parsed = message_from_bytes(reply.data, policy=policy.SMTPUTF8)
    assert parsed["Cc"] == "maría.álvarez@correo.ejemplo.es"


# --- any address: ingest, export, outbox ---------------------------------------------------

# RFC 5322 atext beyond letters and digits (RFC 6532 §3.2 adds every non-ASCII character).
_SYMBOLS = "!#$%&'*+/=?^_`{|}~-"
_WORD = st.characters(categories=("L", "M", "N"))
_ATOM = st.text(st.one_of(_WORD, st.sampled_from(_SYMBOLS)), min_size=1, max_size=12)
_LABEL = st.text(_WORD, min_size=1, max_size=15)
_TLD = st.sampled_from(["example", "com", "рф", "中国", "xn--p1ai", "ΕΛ"])


@st.composite
def unicode_addresses(draw: st.DrawFn) -> str:
    """A dot-atom local part and a domain, each from any letters, marks and digits Unicode has
    (and the ASCII symbols atext allows in the local part)."""
    local = ".".join(draw(st.lists(_ATOM, min_size=1, max_size=3)))
    labels = draw(st.lists(_LABEL, min_size=1, max_size=3))
    return f"{local}@{'.'.join([*labels, draw(_TLD)])}"


def test_any_unicode_address_round_trips_through_ingest_export_and_the_outbox(
    sqlite_desk: Desk, sink: Sink
) -> None:
    from datetime import UTC, datetime

    from maild.addresses import ascii_form, normal_form
    from maild.export import export_tickets
    from maild.outbound import ReplyRequest, send_reply
    from maild.values import Outcome

    desk, count = sqlite_desk, itertools.count(1)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(address=unicode_addresses())
    def round_trip(address: str) -> None:
        number = next(count)
        raw = (
            f"From: <{address}>\r\nTo: support@example.com\r\nSubject: round trip {number}\r\n"
            f"Message-ID: <rt-{number}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        ).encode()
        result = desk.ingest(raw)
        assert result.outcome is Outcome.NEW_TICKET, result.reason
        stored = normal_form(address)
        with desk.store.sessions() as session:
            exported = [t for t in export_tickets(session, datetime.now(UTC))]
        (record,) = [t for t in exported if t["number"] == result.ticket]
        json.dumps(exported, ensure_ascii=False)  # the backup is text
        assert record["requester"] == stored
        assert record["messages"][0]["from"] == stored
        with desk.store.transaction() as session:
            ticket = desk.ticket(session, result.ticket)
            sent = send_reply(session, ticket, ReplyRequest(body="ok"), agent=desk.agent(session),
                              ctx=desk.ctx, now=datetime.now(UTC))  # fmt: skip
        before = len(sink.received)
        desk.deliver()
        new = sink.received[before:]  # the autoresponse and the reply
        (reply,) = [r for r in new if r.message["Message-ID"] == sent.message_id]
        assert reply.rcpt_tos == [ascii_form(stored) or stored]

    round_trip()


def _dsn(sent: Any, failed: str) -> bytes:
    """What the remote MTA returns for `sent`: RFC 3464, to its VERP address, naming the
    recipient as we gave it in RCPT TO (A-labels)."""
    headers = sent.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mail.xn--bcher-kva.example>\r\n"
        f"To: {sent.mail_from}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mail.xn--bcher-kva.example>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n'
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.xn--bcher-kva.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n--b--\r\n"
    ).encode()


def test_a_bounce_naming_the_a_label_recipient_reopens_the_ticket(
    store: Store, db_url: str, ascii_relay: Sink
) -> None:
    from datetime import UTC, datetime

    from maild.outbound import Mark, ReplyRequest, send_reply
    from maild.values import Status

    desk = make_desk(store, db_url, ascii_relay.relay)
    desk.ingest(IDN_DOMAIN)
    with desk.store.transaction() as session:
        send_reply(session, desk.ticket(session), ReplyRequest(body="Erstattet."),
                   agent=desk.agent(session), ctx=desk.ctx, now=datetime.now(UTC),
                   mark=Mark(Status.CLOSED_LOCKED))  # fmt: skip
    desk.deliver()
    reply = ascii_relay.received[-1]
    assert reply.rcpt_tos == ["j.weiss@xn--bcher-kva.example"]

    desk.ingest(_dsn(reply, "j.weiss@xn--bcher-kva.example"))
    with desk.store.sessions() as session:
        assert desk.ticket(session).status is Status.ACTIVE  # the failure counts: same address
