"""parse_message: bytes → ParsedMessage, one test per rule (DESIGN §2, §3; issue 3 item 2)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maild.errors import MessageRejected
from maild.ingest.parse import ParsedMessage, parse_message
from maild.settings import IngestLimits
from tests.conftest import CORPORA

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "emails"
LIMITS = IngestLimits()


def parse_fixture(name: str, limits: IngestLimits = LIMITS) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes(), limits)


def parse_corpus(path: str) -> ParsedMessage:
    return parse_message((CORPORA / path).read_bytes(), LIMITS)


def test_rfc2047_subject_and_display_names_are_decoded() -> None:
    msg = parse_fixture("rfc2047-subject.eml")
    assert msg.subject == "Drucker im 2. Stock druckt nicht – bitte prüfen"
    assert msg.from_name == "Jürgen Müller"


def test_addresses_are_lower_cased_addr_specs() -> None:
    msg = parse_fixture("rfc2047-subject.eml")
    assert msg.from_address == "juergen.mueller@example.de"
    assert msg.to == ("support@example.com",)
    assert msg.cc == ("francoise@example.fr", "it@example.de")


def test_date_is_aware_utc() -> None:
    msg = parse_fixture("rfc2047-subject.eml")
    assert msg.date == datetime(2026, 3, 2, 8, 14, 3, tzinfo=UTC)


def test_message_ids_keep_their_angle_brackets() -> None:
    msg = parse_fixture("references-only.eml")
    assert msg.message_id == "<CAF=reply.2@mail.example.net>"
    assert msg.in_reply_to == "<3f2a9c0d1e4b5a6f7c8d.SUP-000123@example.com>"
    assert msg.references == (
        "<CAF=first@mail.example.net>",
        "<0a1b2c3d4e5f60718293.SUP-000123@example.com>",
        "<3f2a9c0d1e4b5a6f7c8d.SUP-000123@example.com>",
    )


def test_quoted_local_part_with_at_sign_is_not_the_inner_address() -> None:
    msg = parse_fixture("quoted-at-from.eml")
    assert msg.from_address == '"a@x.com"@evil.com'
    assert "a@x.com" not in (msg.from_address, *msg.reply_to)


def test_ambiguous_address_header_yields_no_address_and_a_warning() -> None:
    msg = parse_fixture("quoted-at-from.eml")  # Reply-To: alice@example.com <bob@evil.com>
    assert msg.reply_to == ()
    assert any("reply-to" in w for w in msg.warnings)


def test_rfc2231_filename_continuations_are_joined_and_decoded() -> None:
    msg = parse_fixture("rfc2231-filename.eml")
    (attachment,) = msg.attachments
    assert attachment.filename == "Rechnung März 2026.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.data.startswith(b"%PDF-1.4")
    assert attachment.size == len(attachment.data)


@pytest.mark.corpora
def test_rfc2231_iso_2022_jp_filename_from_rt() -> None:
    msg = parse_corpus("rt-emails/emails/rfc2231-attachment-filename-continuations")
    assert [a.filename for a in msg.attachments] == ["新しいテキスト ドキュメント.txt"]


def test_text_uses_one_line_end_convention() -> None:
    msg = parse_fixture("rfc2231-filename.eml")  # CRLF on the wire
    assert "\r" not in msg.text
    assert msg.text.startswith("Hello, the invoice for March is attached.")


def test_uuencoded_block_becomes_an_attachment_and_leaves_the_text() -> None:
    msg = parse_fixture("uuencoded-attachment.eml")
    (attachment,) = msg.attachments
    assert attachment.filename == "gateway.dump"
    assert attachment.data == bytes(range(256)) * 2
    assert "begin 644" not in msg.text
    assert "the dump is attached" in msg.text and "Maxime" in msg.text


@pytest.mark.corpora
def test_uuencoded_attachment_from_lotus_notes() -> None:
    msg = parse_corpus("rt-emails/emails/notes-uuencoded")
    (attachment,) = msg.attachments
    assert attachment.filename == "Naz_Head.jpg"
    assert attachment.content_type == "image/jpeg"
    assert attachment.data.startswith(b"\xff\xd8")  # JPEG start-of-image marker


def test_html_only_mail_gets_text_derived_from_html() -> None:
    msg = parse_fixture("html-only.eml")
    assert "<b>7781</b>" in msg.html
    assert "my order 7781 arrived damaged – the box was crushed." in msg.text
    assert "<" not in msg.text and "color: #333" not in msg.text


def test_misspelled_and_unknown_charsets_decode_without_error() -> None:
    msg = parse_fixture("wrong-charsets.eml")  # uft-8 and ansi_x3.110-1983 parts
    assert "Straße und Grüße" in msg.text
    assert "commande num" in msg.text and "\ufffd" not in msg.text
    assert any("uft-8" in w for w in msg.warnings)
    assert any("ansi_x3.110-1983" in w for w in msg.warnings)


def test_raw_8bit_subject_without_mime_is_decoded() -> None:
    msg = parse_fixture("wrong-charsets.eml")
    assert msg.subject == "Привет raw 8-bit"


@pytest.mark.corpora
def test_unknown_charset_in_flufl_qmail_08_reads_as_text() -> None:
    msg = parse_corpus("flufl-bounce/data/qmail_08.txt")
    assert msg.text.startswith("Gracias por contactar con nosotros!!")
    assert "\ufffd" not in msg.text


@pytest.mark.corpora
def test_raw_8bit_headers_without_content_type_give_readable_text() -> None:
    msg = parse_corpus("rt-emails/emails/russian-subject-no-content-type")
    # Eight bytes of KOI8-R cannot be told from CJK reliably; what matters is that the
    # subject is text (no exception, no replacement characters) and the raw stays stored.
    assert msg.subject and "\ufffd" not in msg.subject
    assert msg.from_address == "mitya@fling-wing.example.com"


@pytest.mark.corpora
def test_nested_message_rfc822_parses() -> None:
    msg = parse_corpus("rt-emails/emails/nested-rfc-822")
    assert msg.subject == "[Jonas Liljegren] Re: [Para] Nivåer?"
    assert "Material för att uppdatera texten om nivåer." in msg.text


@pytest.mark.corpora
def test_digests_nested_nine_levels_deep_parse_within_the_default_limit() -> None:
    msg = parse_corpus("rt-emails/emails/nested-mime-sample")
    assert msg.text


def test_mailparser_failure_falls_back_to_the_stdlib() -> None:
    # The shape of sisimai's lhost-sendgrid-02: cut off in a nested part's preamble, so the
    # mail has no epilogue and mail-parser's epilogue recovery raises AttributeError.
    raw = (
        b"From: a@example.org\nTo: support@example.com\nSubject: cut off\n"
        b'Content-Type: multipart/mixed; boundary="outer"\n\n'
        b"--outer\nContent-Type: text/plain\n\nHello, the printer is broken.\n"
        b'--outer\nContent-Type: multipart/alternative; boundary="never-there"\n\n'
        b"This is a multi-part message in MIME format...\n"
    )
    msg = parse_message(raw, LIMITS)
    assert msg.parser == "stdlib"
    assert any("mail-parser failed" in w for w in msg.warnings)
    assert "printer is broken" in msg.text


@pytest.mark.corpora
def test_a_returned_mail_is_one_attachment_whatever_breaks_inside_it() -> None:
    msg = parse_corpus("sisimai-set-of-emails/maildir/bsd/lhost-sendgrid-02.eml")
    assert msg.parser == "mail-parser"  # the broken structure is inside the returned mail
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]
    assert b"Subject: [Debug:1] test" in msg.attachments[0].data
    assert "automatically generated message from SendGrid" in msg.text


@pytest.mark.corpora
def test_multipart_without_boundary_keeps_its_text() -> None:
    msg = parse_corpus("sisimai-set-of-emails/maildir/bsd/lhost-apachejames-01.eml")
    assert "NoBoundaryInMultipartDefect" in msg.defects
    assert "Error: Invalid user address" in msg.text


def test_headers_are_available_decoded_and_case_insensitively() -> None:
    msg = parse_fixture("out-of-office.eml")
    assert msg.header("AUTO-SUBMITTED") == "auto-replied"
    assert msg.header_values("x-auto-response-suppress") == ("All",)
    assert msg.header("x-not-there") is None


def test_parsed_message_is_frozen() -> None:
    msg = parse_fixture("html-only.eml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.subject = "changed"  # type: ignore[misc]


@pytest.mark.corpora
def test_same_bytes_parse_to_equal_values() -> None:
    # Idempotent reprocessing: no invented random names or other run-dependent values.
    raw = (CORPORA / "sisimai-set-of-emails/maildir/bsd/lhost-exim-01.eml").read_bytes()
    assert parse_message(raw, LIMITS) == parse_message(raw, LIMITS)


def test_message_over_size_limit_is_rejected() -> None:
    with pytest.raises(MessageRejected, match="over the limit of 100 bytes"):
        parse_fixture("html-only.eml", IngestLimits(max_message_bytes=100))


def test_header_over_byte_limit_is_rejected() -> None:
    with pytest.raises(MessageRejected, match="header is over the limit"):
        parse_fixture("html-only.eml", IngestLimits(max_header_bytes=64))


def test_too_many_header_fields_are_rejected() -> None:
    with pytest.raises(MessageRejected, match="header fields, over the limit of 5"):
        parse_fixture("html-only.eml", IngestLimits(max_headers=5))


@pytest.mark.corpora
def test_mime_nesting_over_depth_limit_is_rejected() -> None:
    raw = (CORPORA / "rt-emails/emails/nested-mime-sample").read_bytes()  # depth 9
    parse_message(raw, IngestLimits(max_mime_depth=9))
    with pytest.raises(MessageRejected, match="nested deeper than the limit of 8"):
        parse_message(raw, IngestLimits(max_mime_depth=8))


def test_hostile_nesting_beyond_python_recursion_is_rejected_not_crashing() -> None:
    head = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(3000)
    )
    raw = b'Subject: deep\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n' + head
    with pytest.raises(MessageRejected, match="nested"):  # before the part limit would say no
        parse_message(raw, dataclasses.replace(LIMITS, max_parts=10_000))


def test_too_many_parts_are_rejected() -> None:
    with pytest.raises(MessageRejected, match="more than the limit of 2 parts"):
        parse_fixture("rfc2231-filename.eml", IngestLimits(max_parts=2))


def test_attachment_over_size_limit_is_rejected() -> None:
    with pytest.raises(MessageRejected, match="'gateway.dump' is 512 bytes"):
        parse_fixture("uuencoded-attachment.eml", IngestLimits(max_attachment_bytes=100))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    with contextlib.suppress(MessageRejected):
        parse_message(raw, LIMITS)


_MIME_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain; charset=uft-8\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: x-uuencode\r\n",
        b"Content-Disposition: attachment; filename*0*=utf-8''%E2%82; filename*1=x\r\n",
        b"Subject: =?x-bad?B?////?= =?utf-8?Q?=FF?=\r\n",
        b'From: "a@x"@y, <@>, (((\r\n',
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n",
        b"\r\n",
        b"--x\r\n",
        b"--x--\r\n",
        b"begin 644 f\r\nM\xff\xfe\r\nend\r\n",
        b"\xd4\xc5\xd3\xd4 =?\r\n",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MIME_PIECES, max_size=40))
def test_parse_never_raises_on_mime_shaped_garbage(pieces: list[bytes]) -> None:
    with contextlib.suppress(MessageRejected):
        parse_message(b"".join(pieces), LIMITS)


def test_parsing_costs_at_most_ten_times_the_message_size() -> None:
    # DESIGN §3: one message costs at most about ten times its size while it is processed.
    attachment = base64.encodebytes(bytes(range(256)) * 8192)  # 2 MiB of data
    raw = (
        b"From: a@example.com\r\nTo: support@example.com\r\nSubject: big\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        + b"A line of body text for the request.\r\n"
        * 20000
        + b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=dump.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--b--\r\n"
    )
    tracemalloc.start()
    try:
        msg = parse_message(raw, LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert msg.attachments[0].size == 256 * 8192
    assert peak < 10 * len(raw), f"peak {peak / len(raw):.1f}x the message size"


def test_a_subject_or_name_beyond_any_clients_is_cut_with_a_warning() -> None:
    raw = (
        b"From: " + b"N" * 300 + b" <n@example.org>\r\nSubject: " + b"s" * 5000 + b"\r\n\r\nhi\r\n"
    )
    msg = parse_message(raw, IngestLimits())
    assert msg.subject == "s" * 998 and msg.from_name == "N" * 256
    assert msg.from_address == "n@example.org"
    assert "Subject of 5,000 characters cut to 998" in msg.warnings
