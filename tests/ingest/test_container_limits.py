"""Containers on hostile or unusual input (issue 13 item 7): a container that cannot be opened
safely stays an attachment with a warning; every one is bounded by the mail's limits."""

from __future__ import annotations

import base64
import dataclasses
import struct
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maild.ingest.parse import ParsedMessage, parse_message
from maild.settings import IngestLimits
from tests.conftest import CORPORA, FIXTURES
from tests.ingest import container_mail as cm

LIMITS = IngestLimits()
WHEN = cm.dt.datetime(2026, 3, 2, 10, 0, 0)


def _mail(part_headers: str, payload: bytes, limits: IngestLimits = LIMITS) -> ParsedMessage:
    """A customer's text and one base64 part with `part_headers`."""
    raw = (
        "From: Jane <jane@kunde.example>\nTo: support@example.com\nSubject: container\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe customer's own words.\n"
        f"--b\n{part_headers}\nContent-Transfer-Encoding: base64\n\n"
        f"{cm.wrap76(payload)}\n--b--\n"
    )
    return parse_message(raw.encode(), limits)


def _names(msg: ParsedMessage) -> list[str]:
    return [a.filename for a in msg.attachments]


# --- winmail.dat ----------------------------------------------------------------------------

WINMAIL = 'Content-Type: application/ms-tnef; name="winmail.dat"'
PDF = cm.TnefFile("REPORT.PDF", "Prüfbericht März.pdf", "application/pdf", cm.small_pdf("ok"))


def _attribute_stream(*attributes: bytes) -> bytes:
    return struct.pack("<IH", cm.TNEF_SIGNATURE, 1) + b"".join(attributes)


def _huge_count_block() -> bytes:
    # tnefparse would loop 4 billion times over "missing" properties.
    return cm.tnef_attribute(cm.ATTACHMENT, cm.ATT_ATTACHMENT, struct.pack("<I", 0xFFFFFFFF))


def _huge_multivalue_block() -> bytes:
    # One PT_MV_SHORT property declaring 4 billion values: an object per value in tnefparse.
    props = struct.pack("<IHHI", 1, 0x1002, 0x3000, 0xFFFFFFFF)
    rend = cm.tnef_attribute(cm.ATTACHMENT, cm.ATT_ATTACH_REND_DATA, b"\0" * 14)
    return rend + cm.tnef_attribute(cm.ATTACHMENT, cm.ATT_ATTACHMENT, props)


def _many_attributes() -> bytes:
    one = cm.tnef_attribute(cm.MESSAGE, cm.ATT_PRIORITY, struct.pack("<H", 2))
    return one * 5000


def _embedded(depth: int) -> bytes:
    """An Outlook item attached inside an item, `depth` times."""
    stream = cm.tnef([PDF], WHEN)
    for _ in range(depth):
        imessage = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
        props = cm.mapi_props((0x000D, 0x3701, imessage + stream))
        rend = cm.tnef_attribute(cm.ATTACHMENT, cm.ATT_ATTACH_REND_DATA, b"\0" * 14)
        stream = _attribute_stream(rend, cm.tnef_attribute(cm.ATTACHMENT, cm.ATT_ATTACHMENT, props))
    return stream


def test_winmail_dat_files_get_their_long_unicode_names_and_mime_types() -> None:
    msg = _mail(WINMAIL, cm.tnef([PDF], WHEN))
    assert _names(msg) == ["winmail.dat", "Prüfbericht März.pdf"]
    assert msg.attachments[1].content_type == "application/pdf"
    assert msg.attachments[1].data == PDF.data
    assert msg.text == "The customer's own words."


@pytest.mark.parametrize(
    "stream, reason",
    [
        (b"not tnef at all", "no TNEF signature"),
        (cm.tnef([PDF], WHEN)[:-300], "runs past the end"),
        (_attribute_stream(_huge_count_block()), "more than 4096 MAPI values"),
        (_attribute_stream(_huge_multivalue_block()), "more than 4096 MAPI values"),
        (_attribute_stream(_many_attributes()), "more than 256 attributes"),
        (_embedded(5), "deeper than 3"),
    ],
    ids=["garbage", "truncated", "property-count", "multi-value-count", "attributes", "nesting"],
)
def test_a_winmail_dat_that_cannot_be_read_safely_is_kept_with_a_warning(
    stream: bytes, reason: str
) -> None:
    started = time.perf_counter()
    msg = _mail(WINMAIL, stream)
    assert time.perf_counter() - started < 2
    assert _names(msg) == ["winmail.dat"]
    assert msg.attachments[0].data == stream
    assert any(w.startswith("winmail.dat: ") and reason in w for w in msg.warnings), msg.warnings


def test_an_outlook_item_inside_winmail_dat_within_the_depth_is_opened() -> None:
    msg = _mail(WINMAIL, _embedded(2))
    assert _names(msg)[0] == "winmail.dat" and len(msg.attachments) == 2
    assert not [w for w in msg.warnings if "winmail" in w]


def test_winmail_dat_files_count_against_the_part_limit() -> None:
    files = [dataclasses.replace(PDF, long_name=f"page-{n}.pdf") for n in range(5)]
    # The mail has 3 parts: 5 more files would pass a limit of 6.
    msg = _mail(WINMAIL, cm.tnef(files, WHEN), dataclasses.replace(LIMITS, max_parts=6))
    assert _names(msg) == ["winmail.dat"]
    assert any("holds 5 files, over the 3 left" in w for w in msg.warnings)


# --- opaque-signed S/MIME -------------------------------------------------------------------

P7M = 'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'
ENTITY = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease reset my password.\r\n"


@pytest.fixture(scope="module")
def identity() -> tuple[Any, Any, Any]:
    return cm.signing_identity("jane@kunde.example", "Jane Doe")


def _signed(content: bytes, identity: tuple[Any, Any, Any]) -> bytes:
    ca, cert, key = identity
    return cm.signed_data(content, cert, key, ca)


def test_signed_content_replaces_the_p7m_and_the_check_is_noted(identity) -> None:
    msg = _mail(P7M, _signed(ENTITY, identity))
    assert _names(msg) == []
    assert "Please reset my password." in msg.text
    assert msg.text.endswith(
        "S/MIME: signed by Jane Doe <jane@kunde.example>; the signature matches the content "
        "(certificate not checked against trusted authorities)."
    )


def test_content_changed_after_signing_is_shown_and_flagged(identity) -> None:
    der = _signed(ENTITY, identity).replace(b"reset my", b"reset MY")
    msg = _mail(P7M, der)
    assert "Please reset MY password." in msg.text
    assert "the content does NOT match its signature" in msg.text


@pytest.mark.parametrize(
    "headers",
    [P7M, "Content-Type: application/x-pkcs7-mime"],  # no name, no smime-type (older clients)
)
def test_a_broken_p7m_is_kept_as_an_attachment_with_a_warning(identity, headers: str) -> None:
    der = _signed(ENTITY, identity)[:200]
    msg = _mail(headers, der)
    assert _names(msg) == ["smime.p7m"] and msg.attachments[0].data == der
    assert any("S/MIME signed content not opened" in w for w in msg.warnings)
    assert msg.text == "The customer's own words."


def test_signed_content_over_the_part_limit_stays_signed(identity) -> None:
    inner = (
        b'Content-Type: multipart/mixed; boundary="i"\r\n\r\n'
        + b"".join(b"--i\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(5))
        + b"--i--\r\n"
    )
    msg = _mail(P7M, _signed(inner, identity), dataclasses.replace(LIMITS, max_parts=6))
    assert _names(msg) == ["smime.p7m"]
    assert any("more than the limit of 3 parts" in w for w in msg.warnings), msg.warnings


def test_signatures_nested_past_the_depth_limit_stay_signed(identity) -> None:
    content = ENTITY
    for _ in range(4):
        der = _signed(content, identity)
        content = (
            b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der)
        )
    msg = _mail(P7M, der, dataclasses.replace(LIMITS, max_mime_depth=3))
    assert "Please reset my password." not in msg.text
    assert any("nested deeper than the MIME depth limit" in w for w in msg.warnings)
    assert _names(msg) == ["smime.p7m"]


@pytest.mark.corpora
def test_encrypted_smime_is_left_as_it_came() -> None:
    msg = parse_message((CORPORA / "rt-emails/smime/4-encrypted-plain.eml").read_bytes(), LIMITS)
    assert _names(msg) == ["smime.p7m"]
    assert not [w for w in msg.warnings if "S/MIME" in w]


# --- meeting requests -----------------------------------------------------------------------

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    "UID:x1@google.com\r\nDTSTART:20260310T130000Z\r\nDTEND:20260310T133000Z\r\n"
    "ORGANIZER;CN=Jane Doe:mailto:jane@kunde.example\r\nSUMMARY:Onboarding call\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _google_invite(ics: str) -> bytes:
    """Google Calendar's shape: text/calendar in the alternative and the same as invite.ics."""
    encoded = cm.wrap76(ics.encode())
    return (
        "From: Jane Doe <jane@kunde.example>\nTo: support@example.com\n"
        "Subject: Invitation: Onboarding call\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m"\n\n'
        '--m\nContent-Type: multipart/alternative; boundary="a"\n\n'
        '--a\nContent-Type: text/plain; charset="UTF-8"\n\nYou have been invited.\n'
        '--a\nContent-Type: text/calendar; charset="UTF-8"; method=REQUEST\n\n'
        f"{ics.replace(chr(13), '')}\n--a--\n"
        '--m\nContent-Type: application/ics; name="invite.ics"\n'
        'Content-Disposition: attachment; filename="invite.ics"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}\n--m--\n"
    ).encode()


def test_google_invitation_sent_twice_in_one_mail_is_one_attachment_and_one_note() -> None:
    msg = parse_message(_google_invite(ICS), LIMITS)
    assert _names(msg) == ["invite.ics"]
    assert msg.text == (
        "You have been invited.\n\n"
        "Meeting request: Onboarding call\n"
        "When: Tue 10 Mar 2026 13:00–13:30 (UTC)\n"
        "Organiser: Jane Doe <jane@kunde.example>"
    )


def test_an_all_day_event_is_shown_by_its_dates() -> None:
    ics = ICS.replace("DTSTART:20260310T130000Z", "DTSTART;VALUE=DATE:20260310").replace(
        "DTEND:20260310T133000Z", "DTEND;VALUE=DATE:20260312"
    )
    msg = parse_message(_google_invite(ics), LIMITS)
    assert "When: Tue 10 Mar 2026 to Thu 12 Mar 2026 (all day)" in msg.text


@pytest.mark.parametrize(
    "ics, reason",
    [
        ("BEGIN:VCALENDAR\r\n\xff\xfe garbage\r\n", "could not be read"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "holds no event"),
        (ICS.replace("SUMMARY:", "DESCRIPTION:" + "x" * 300_000 + "\r\nSUMMARY:"), "over the"),
    ],
    ids=["garbage", "no-event", "too-large"],
)
def test_a_calendar_that_cannot_be_read_is_kept_with_a_warning(ics: str, reason: str) -> None:
    msg = _mail('Content-Type: text/calendar; method=REQUEST; charset="UTF-8"', ics.encode())
    assert _names(msg) == ["invite.ics"]
    assert msg.text == "The customer's own words."
    assert any(w.startswith("invite.ics: ") and reason in w for w in msg.warnings), msg.warnings


# --- forwarded mails ------------------------------------------------------------------------

FORWARDED = (
    "From: Shop <noreply@shop.example>\nTo: jane@kunde.example\n"
    "Subject: =?utf-8?q?Bestellung_4711_versandt?=\nMessage-ID: <o-4711@shop.example>\n"
    "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
)


def _forward(disposition: str) -> bytes:
    inner = FORWARDED.encode() + "Ihre Bestellung ist unterwegs. Grüße\n".encode("latin-1")
    return (
        b"From: Jane <jane@kunde.example>\nTo: support@example.com\nSubject: Fwd\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="f"\n\n'
        b"--f\nContent-Type: text/plain\n\nWhere is it?\n"
        b"--f\nContent-Type: message/rfc822\n" + disposition.encode() + b"\n" + inner + b"--f--\n"
    )


@pytest.mark.parametrize("disposition", ["", "Content-Disposition: inline\n"])
def test_an_unnamed_forwarded_mail_is_an_attachment_named_after_its_subject(
    disposition: str,
) -> None:
    msg = parse_message(_forward(disposition), LIMITS)
    assert msg.text == "Where is it?"
    assert _names(msg) == ["Bestellung 4711 versandt.eml"]
    data = msg.attachments[0].data
    # The forwarded mail's bytes as they came, 8-bit body included, line ends made CRLF.
    assert data.startswith(b"From: Shop <noreply@shop.example>\r\nTo: jane@kunde.example\r\n")
    assert data.endswith("Ihre Bestellung ist unterwegs. Grüße".encode("latin-1"))
    inner = parse_message(data, LIMITS)
    assert inner.message_id == "<o-4711@shop.example>" and "unterwegs. Grüße" in inner.text


def test_every_fixture_parses_without_a_container_warning() -> None:
    for path in sorted(FIXTURES.glob("*.eml")):
        msg = parse_message(path.read_bytes(), LIMITS)
        assert not [w for w in msg.warnings if "kept" in w], (path.name, msg.warnings)


# --- any bytes ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([WINMAIL, P7M, 'Content-Type: text/calendar; charset="UTF-8"']),
    st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=300).map(lambda b: cm.tnef([PDF], WHEN)[:40] + b),
        st.binary(max_size=300).map(lambda b: b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n" + b),
    ),
)
def test_any_bytes_in_a_container_keep_the_part_and_the_text(headers: str, data: bytes) -> None:
    msg = _mail(headers, data)
    assert msg.text.startswith("The customer's own words.")
    assert len(msg.attachments) >= 1 and any(a.data == data for a in msg.attachments)


def test_an_invitation_that_is_the_whole_mail_is_kept_and_summarised() -> None:
    # iOS Calendar's shape: the mail's one part is the calendar.
    raw = (
        "From: Jane <jane@kunde.example>\nTo: support@example.com\nSubject: Invitation\n"
        "MIME-Version: 1.0\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\n\n" + ICS
    ).encode()
    msg = parse_message(raw, LIMITS)
    assert _names(msg) == ["invite.ics"]
    assert msg.text.startswith("Meeting request: Onboarding call\n")


def test_a_mail_that_is_only_a_forwarded_mail_has_no_text_of_its_own() -> None:
    raw = (
        b"From: Jane <jane@kunde.example>\nTo: support@example.com\nSubject: Fwd\n"
        b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
        b"From: x@shop.example\nSubject: inner one\n\ninner body\n"
    )
    msg = parse_message(raw, LIMITS)
    assert msg.text == "" and _names(msg) == ["inner one.eml"]
    assert msg.subject == "Fwd"
