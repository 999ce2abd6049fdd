"""The autoresponder, delivered (DESIGN §2): sent to whoever opened a ticket by mail, never to
automatic senders, lists, the null sender, mail systems or our own addresses, at most N per
sender per window; and clean whatever the mail it answers held (issue: CVE-2024-6923, a
Message-ID with NUL/ESC)."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from maild.ingest.spool import Envelope
from maild.runtime import build_pipeline
from maild.store.models import Outbox
from tests.outbound.conftest import NEW_REQUEST, Desk, Sink


def _mail(headers: str, sender: str = "carol@customer.example") -> bytes:
    return (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: help\r\n"
        f"Message-ID: <{abs(hash(headers))}@customer.example>\r\n{headers}\r\nbody\r\n"
    ).encode()


def _outbox(desk: Desk) -> list[Outbox]:
    return [row for row in desk.outbox() if row.purpose == "autoresponse"]


def test_a_new_ticket_gets_the_shipped_autoresponse(desk: Desk, sink: Sink) -> None:
    desk.ingest(NEW_REQUEST)
    desk.deliver()
    (got,) = sink.received
    msg = got.message
    assert got.rcpt_tos == ["carol@customer.example"]
    assert got.mail_from.startswith("bounces+") and got.mail_from.endswith("@example.com")
    assert msg["Auto-Submitted"] == "auto-replied" and msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<req-1@customer.example>"
    assert msg["Subject"] == "[#SUP-000001] We received your request: Printer on floor 3 is on fire"
    text = msg.get_body(("plain",))
    assert text is not None and "ticket SUP-000001" in text.get_content()
    assert msg.get_body(("html",)) is not None


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "List-Id: <users.lists.example>\r\n",
        "List-Unsubscribe: <mailto:leave@lists.example>\r\n",
    ],
)
def test_no_autoresponse_to_automatic_or_list_mail(desk: Desk, headers: str) -> None:
    desk.ingest(_mail(headers))
    assert _outbox(desk) == []


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.customer.example", "postmaster@customer.example",
               "support@example.com"],
)  # fmt: skip
def test_no_autoresponse_to_mail_systems_or_our_own_addresses(desk: Desk, sender: str) -> None:
    desk.ingest(_mail("", sender=sender))
    assert _outbox(desk) == []


def test_no_autoresponse_to_the_null_envelope_sender(desk: Desk) -> None:
    pipeline = build_pipeline(desk.settings, desk.store)
    spooled = pipeline.receive(_mail(""), "smtp", Envelope("", ("support@example.com",)))
    (result,) = pipeline.process([spooled.inbound_id])
    assert result.ticket == "SUP-000001"
    assert _outbox(desk) == []


def test_at_most_n_autoresponses_per_sender_per_window(store, db_url, sink) -> None:  # type: ignore[no-untyped-def]
    from tests.outbound.test_delivery import _desk

    desk = _desk(store, db_url, sink.relay)
    limit = desk.settings.autoresponder.max_per_sender
    for n in range(limit + 2):
        desk.ingest(_mail(f"X-N: {n}\r\n"))
    desk.deliver()
    assert len(sink.received) == limit
    assert len(desk.outbox()) == limit


def _nested_encoded_word_subject() -> str:
    # CVE-2024-6923: an encoded-word whose decoded text is an encoded-word holding CR LF.
    inner = (
        "=?utf-8?q?hello=0D=0ABcc:_victim@evil.example=0D=0AReply-To:_attacker@evil.example"
        "=0D=0AContent-Type:_text/html=0D=0A=0D=0A<a_href=3Dhttps://evil.example>pay</a>?="
    )
    return "=?utf-8?b?" + base64.b64encode(inner.encode()).decode() + "?="


def test_nested_encoded_word_subject_gives_a_clean_autoresponse(desk: Desk, sink: Sink) -> None:
    raw = (
        "From: victim@customer.example\r\nTo: support@example.com\r\n"
        f"Subject: {_nested_encoded_word_subject()}\r\nMessage-ID: <cve@x.example>\r\n\r\nhi\r\n"
    ).encode()
    desk.ingest(raw)
    desk.deliver()
    (got,) = sink.received
    msg = got.message
    assert got.rcpt_tos == ["victim@customer.example"]
    assert [k.lower() for k in msg] == [
        "from", "to", "subject", "date", "message-id", "in-reply-to", "references",
        "auto-submitted", "x-auto-response-suppress", "mime-version", "content-type",
    ]  # fmt: skip
    assert msg["Bcc"] is None and msg["Reply-To"] is None
    assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]
    html = msg.get_body(("html",))
    assert html is not None and "<a href" not in html.get_content()
    assert msg.get_content_type() == "multipart/alternative"


def test_a_message_id_with_nul_and_esc_never_reaches_our_headers(
    sqlite_desk: Desk, sink: Sink
) -> None:
    # SQLite only: PostgreSQL text cannot hold the NUL this Message-ID decodes to, and the
    # ingest pipeline does not store such a mail there yet (an ingest fault, not ours).
    desk = sqlite_desk
    raw = (
        b"From: carol@customer.example\r\nTo: support@example.com\r\nSubject: hi\r\n"
        b"Message-ID: =?utf-8?q?<a=00b=1B[2Jc@x.example>?=\r\n\r\nhi\r\n"
    )
    desk.ingest(raw)
    desk.deliver()
    (got,) = sink.received
    header_block = got.data.split(b"\r\n\r\n", 1)[0]
    assert b"\x00" not in got.data and b"\x1b" not in header_block
    assert all(32 <= byte < 127 or byte in (9, 10, 13) for byte in got.data)
    assert got.message["In-Reply-To"] is None  # an id with controls is not repaired, dropped


def test_subaddresses_count_as_one_sender_for_the_rate_limit(desk: Desk) -> None:
    # Issue 12: carol+1@, carol+2@ ... are one mailbox (RFC 5233); tags must not mint senders.
    limit = desk.settings.autoresponder.max_per_sender
    for n in range(limit + 2):
        desk.ingest(_mail(f"X-N: {n}\r\n", sender=f"Carol+{n}@customer.example"))
    assert len(_outbox(desk)) == limit


def test_one_domain_gets_at_most_max_per_domain_autoresponses(desk: Desk) -> None:
    # Local parts cost a forger nothing: a domain has its own limit.
    limits = dataclasses.replace(desk.settings.autoresponder, max_per_domain=4)
    desk = Desk(desk.store, dataclasses.replace(desk.settings, autoresponder=limits))
    for n in range(7):
        desk.ingest(_mail(f"X-N: {n}\r\n", sender=f"user{n}@customer.example"))
    desk.ingest(_mail("X-N: other\r\n", sender="dave@elsewhere.example"))
    recipients = [row.recipients for row in _outbox(desk)]
    assert len(recipients) == 5 and ["dave@elsewhere.example"] in recipients
