"""classify: normal / auto_reply / bounce with the rule that decided (DESIGN §2, RFC 3464/3834)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maild.ingest.classify import RULES, classify
from maild.ingest.parse import ParsedMessage, parse_message
from maild.settings import IngestLimits
from maild.values import Kind
from tests.conftest import CORPORA

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "emails"
TOKEN = "3f2a9c0d1e4b5a6f7c8d"


def parse_fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes(), IngestLimits())


def parse_corpus(path: str) -> ParsedMessage:
    return parse_message((CORPORA / path).read_bytes(), IngestLimits())


def mail(
    *headers: str, body: str = "Hello, my printer is broken.\n", subject: str = "help"
) -> ParsedMessage:
    lines = ["From: Jane <jane@example.net>", "To: support@example.com", f"Subject: {subject}"]
    lines += headers
    return parse_message(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), IngestLimits())


def test_rules_have_unique_names_and_descriptions() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(rule.description for rule in RULES)


def test_ordinary_mail_is_normal() -> None:
    result = classify(mail(), "jane@example.net")
    assert (result.kind, result.reason, result.bounce) == (Kind.NORMAL, "no-rule", None)


def test_failed_dsn_is_a_failure_bounce_with_recipient_status() -> None:
    result = classify(parse_fixture("dsn-failed.eml"), "")
    assert (result.kind, result.reason) == (Kind.BOUNCE, "dsn-failure")
    assert result.bounce is not None
    (recipient,) = result.bounce.recipients
    assert (recipient.address, recipient.action, recipient.status) == (
        "customer@example.net",
        "failed",
        "5.1.1",
    )
    assert "User unknown" in recipient.diagnostic
    assert result.bounce.is_failure
    assert result.bounce.failed_recipients == ("customer@example.net",)


def test_delayed_dsn_is_a_bounce_report_but_not_a_failure() -> None:
    result = classify(parse_fixture("dsn-delayed.eml"), "")
    assert (result.kind, result.reason) == (Kind.BOUNCE, "dsn-delayed")
    assert result.bounce is not None
    assert not result.bounce.is_failure
    assert result.bounce.failed_recipients == ()
    assert result.bounce.delayed_recipients == ("customer@example.net",)


def test_bounce_names_the_returned_original_and_the_verp_token() -> None:
    bounce = classify(parse_fixture("dsn-failed.eml"), "").bounce
    assert bounce is not None
    assert bounce.original_message_id == f"<{TOKEN}.SUP-000123@example.com>"
    assert bounce.original_subject == "[#SUP-000123] VPN drops every hour"
    assert bounce.verp_token == TOKEN


def test_verp_token_is_read_from_the_envelope_recipient() -> None:
    msg = mail(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
        body="--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        "Final-Recipient: rfc822; a@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n"
        "\r\n--b--\r\n",
    )
    result = classify(msg, "", envelope_to=[f"bounces+{TOKEN}@example.com"])
    assert result.bounce is not None and result.bounce.verp_token == TOKEN


def test_bounce_of_a_bounce_reports_the_outermost_dsn_only() -> None:
    bounce = classify(parse_fixture("bounce-of-bounce.eml"), "").bounce
    assert bounce is not None
    assert bounce.failed_recipients == ("customer@example.net",)
    assert bounce.delayed_recipients == ()
    assert bounce.original_message_id == f"<{TOKEN}.SUP-000123@example.com>"


def test_dsn_wrapped_inside_another_part_is_found() -> None:
    inner = (FIXTURES / "dsn-failed.eml").read_bytes().decode()
    msg = mail(
        "Content-Type: multipart/mixed; boundary=outer",
        body="--outer\r\nContent-Type: text/plain\r\n\r\nForwarded by our gateway.\r\n"
        f"--outer\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--outer--\r\n",
    )
    # A gateway that wraps NDRs still sends them as NDRs are sent: with the null sender.
    result = classify(msg, "")
    assert (result.kind, result.reason) == (Kind.BOUNCE, "dsn-failure")
    assert result.bounce is not None
    assert result.bounce.failed_recipients == ("customer@example.net",)
    # The same mail from a person's envelope is theirs (DESIGN §2).
    assert classify(msg, "jane@example.net").kind is not Kind.BOUNCE


@pytest.mark.corpora
def test_dsn_recipient_counts_both_final_and_original_address() -> None:
    bounce = classify(parse_corpus("flufl-bounce/data/dsn_04.txt"), None).bounce
    assert bounce is not None
    assert {"userx@example.ch", "haasm@yogi.urz.example.ch"} <= set(bounce.failed_recipients)


def test_successful_dsn_is_automatic_not_a_bounce() -> None:
    body = (FIXTURES / "dsn-delayed.eml").read_bytes().decode()
    delivered = body.replace("Action: delayed", "Action: delivered").replace("4.4.1", "2.0.0")
    result = classify(parse_message(delivered.encode(), IngestLimits()), "")
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, "dsn-success")


@pytest.mark.corpora
def test_arf_feedback_report_is_automatic() -> None:
    result = classify(parse_corpus("sisimai-set-of-emails/maildir/bsd/arf-01.eml"), None)
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, "arf-feedback-report")


def test_exim_x_failed_recipients_is_a_bounce() -> None:
    msg = mail(
        "X-Failed-Recipients: gone@example.org",
        "Auto-Submitted: auto-replied",
        body="This message was created automatically by mail delivery software.\n",
    )
    result = classify(msg, "")
    assert (result.kind, result.reason) == (Kind.BOUNCE, "x-failed-recipients")
    assert result.bounce is not None and result.bounce.failed_recipients == ("gone@example.org",)


@pytest.mark.corpora
def test_non_standard_bounce_is_found_by_flufl_bounce() -> None:
    result = classify(parse_corpus("flufl-bounce/data/simple_01.txt"), None)
    assert (result.kind, result.reason) == (Kind.BOUNCE, "flufl-bounce")
    assert result.bounce is not None and result.bounce.detector == "flufl.bounce"


@pytest.mark.corpora
def test_customer_quoting_a_delivery_error_is_not_a_bounce() -> None:
    body = (CORPORA / "flufl-bounce/data/simple_01.txt").read_bytes().decode("latin-1")
    quoted = body.split("\n\n", 1)[1]
    result = classify(mail(body="I got this when writing to you:\n\n" + quoted), "jane@example.net")
    assert result.kind is Kind.NORMAL


def test_person_forwarding_a_bounce_is_not_a_bounce() -> None:
    returned = (FIXTURES / "dsn-failed.eml").read_bytes().decode().split("\n\n", 1)[1]
    msg = mail(
        "Content-Type: multipart/mixed; boundary=m",
        body="--m\r\nContent-Type: text/plain\r\n\r\nWhy did this bounce?\r\n--m\r\n"
        "Content-Type: message/rfc822\r\n\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"From: MAILER-DAEMON@mx.example.net\r\n\r\n{returned}\r\n--m--\r\n",
        subject="Fwd: Undelivered Mail Returned to Sender",
    )
    assert classify(msg, "jane@example.net").kind is Kind.NORMAL


@pytest.mark.corpora
def test_mail_to_a_bounces_address_is_checked_as_a_bounce() -> None:
    # A reply-like subject from an ordinary address, but sent to a list's -bounces address.
    result = classify(parse_corpus("flufl-bounce/data/simple_20.txt"), None)
    assert (result.kind, result.reason) == (Kind.BOUNCE, "flufl-bounce")


@pytest.mark.corpora
def test_amazon_ses_bounce_notification_is_a_bounce() -> None:
    path = "sisimai-set-of-emails/maildir/bsd/lhost-amazonses-10.eml"
    result = classify(parse_corpus(path), None)
    assert (result.kind, result.reason) == (Kind.BOUNCE, "ses-bounce")
    assert result.bounce is not None
    assert result.bounce.failed_recipients == ("bounce@simulator.amazonses.com",)


@pytest.mark.corpora
def test_failure_notice_with_reply_like_subject_from_a_mail_system_is_a_bounce() -> None:
    path = "sisimai-set-of-emails/maildir/bsd/lhost-verizon-02.eml"
    result = classify(parse_corpus(path), None)
    assert (result.kind, result.reason) == (Kind.BOUNCE, "bounce-heuristic")


def test_out_of_office_reply_is_automatic() -> None:
    result = classify(parse_fixture("out-of-office.eml"), "jane@example.net")
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, "auto-submitted")


def test_list_mail_is_a_persons_mail_that_is_never_answered() -> None:
    result = classify(parse_fixture("list-mail.eml"), "announce-bounces@lists.example.org")
    assert (result.kind, result.reason) == (Kind.NORMAL, "mailing-list")
    assert (result.may_autorespond, result.changes_status) == (False, True)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-generated", "auto-submitted"),
        ("Auto-Submitted: auto-replied; owner-email=x@y", "auto-submitted"),
        ("Precedence: bulk", "precedence"),
        ("Precedence: junk", "precedence"),
        ("X-Autoreply: yes", "vendor-autoreply"),
        ("X-Autorespond: vacation", "vendor-autoreply"),
    ],
)
def test_rfc3834_and_vendor_marks_make_mail_machine_made(header: str, reason: str) -> None:
    result = classify(mail(header), "jane@example.net")
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, reason)
    assert (result.may_autorespond, result.changes_status) == (False, False)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Precedence: list", "mailing-list"),
        ("List-Id: <team.lists.example.org>", "mailing-list"),
        ("List-Unsubscribe: <mailto:leave@example.org>", "mailing-list"),
        # Outlook writes it on mail people send: a request not to answer, not a machine's mark.
        ("X-Auto-Response-Suppress: OOF, AutoReply", "x-auto-response-suppress"),
        ("X-Auto-Response-Suppress: All", "x-auto-response-suppress"),
    ],
)
def test_list_and_suppress_marks_change_status_but_get_no_autoresponse(
    header: str, reason: str
) -> None:
    result = classify(mail(header), "jane@example.net")
    assert (result.kind, result.reason) == (Kind.NORMAL, reason)
    assert (result.may_autorespond, result.changes_status) == (False, True)


@pytest.mark.parametrize(
    "header", ["Auto-Submitted: no", "Precedence: first-class", "X-Auto-Response-Suppress: None"]
)
def test_headers_saying_not_automatic_leave_mail_normal(header: str) -> None:
    assert classify(mail(header), "jane@example.net").kind is Kind.NORMAL


def test_empty_envelope_sender_is_automatic() -> None:
    result = classify(mail(), "")
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, "empty-envelope-sender")


def test_unknown_envelope_uses_the_recorded_return_path() -> None:
    assert classify(mail("Return-Path: <>"), None).reason == "empty-envelope-sender"
    assert classify(mail("Return-Path: <jane@example.net>"), None).kind is Kind.NORMAL


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org", "Mailer_Daemon@x.org"]
)
def test_mailer_daemon_and_postmaster_senders_are_automatic(sender: str) -> None:
    msg = parse_message(
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: hello\r\n\r\nhi\r\n".encode(),
        IngestLimits(),
    )
    result = classify(msg, "someone@example.org")
    assert (result.kind, result.reason) == (Kind.AUTO_REPLY, "daemon-sender")


def test_automatic_mail_lists_and_bounces_are_never_autoresponded() -> None:
    # RFC 3834 §2: the pipeline answers only mail classification allows.
    assert not classify(parse_fixture("out-of-office.eml"), "jane@example.net").may_autorespond
    assert not classify(parse_fixture("list-mail.eml"), "x@lists.example.org").may_autorespond
    assert not classify(parse_fixture("dsn-failed.eml"), "").may_autorespond
    assert not classify(mail(), "").may_autorespond


def test_a_normal_request_is_normal() -> None:
    assert classify(parse_fixture("html-only.eml"), "customer@example.net").kind is Kind.NORMAL
