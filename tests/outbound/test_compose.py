"""Outgoing mail is built from validated values: no header injection, strict addresses, BCC
only in the envelope, RFC 3834 headers on automatic mail, and the composition rules of DESIGN
§2 (To, Reply All, subject and tag, threading, attachments, canned reply, signature)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maild.errors import InvalidRequest
from maild.outbound.compose import (
    AgentFacts,
    ForwardRequest,
    MessageFacts,
    ReplyRequest,
    TicketFacts,
    Upload,
    compose_forward,
    compose_reply,
    tagged_subject,
)
from maild.outbound.message import OutgoingAttachment, OutgoingMail
from maild.outbound.templates import Templates, render_source
from maild.outbound.wire import check_generated, render

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MID = "<0123456789abcdef0123.SUP-000001@example.com>"
TICKET = TicketFacts(
    number="SUP-000001",
    tag="[#SUP-000001]",
    subject="Printer broken",
    requester="carol@customer.example",
    status="active",
    priority="normal",
    department="Support",
    from_address="support@example.com",
    from_name="Example Support",
    brand="Example",
    signature="-- \n{{ brand.name }} / {{ agent.display_name }}",
    own_addresses=frozenset({"support@example.com", "sales@example.com"}),
)
ANSWERED = MessageFacts(
    message_id="<m1@customer.example>",
    references=("<m0@customer.example>",),
    sender="carol@customer.example",
    to=("support@example.com", "dave@customer.example"),
    cc=("erin@customer.example", "sales@example.com"),
    subject="Printer broken",
    date=NOW,
    text="It prints nothing.\nPlease help.",
)
AGENT = AgentFacts("alice", "Alice Example", "alice@example.com")


def _mail(**overrides: object) -> OutgoingMail:
    values: dict[str, object] = {
        "from_address": "support@example.com",
        "subject": "[#SUP-000001] Re: printer",
        "text": "Hello",
        "to": ("carol@customer.example",),
    }
    values.update(overrides)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def _reply(request: ReplyRequest, answered: MessageFacts | None = ANSWERED) -> OutgoingMail:
    return compose_reply(TICKET, answered, request, AGENT, Templates(), 2 * 1024 * 1024)


def _parsed(mail: OutgoingMail) -> EmailMessage:
    raw = render(mail, MID, NOW)
    check_generated(raw, mail, MID)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("field", ["subject", "from_name"])
def test_line_break_in_a_header_value_is_refused(field: str) -> None:
    with pytest.raises(InvalidRequest, match="single line"):
        _mail(**{field: "hello\r\nBcc: victim@example.org"})


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.com <bob@evil.example>",
        "a@b.example, d@e.example",
        "not an address",
        "carol@customer.example\r\nBcc: x@y.example",
        "Eve\r\nBcc: x@y.example <eve@customer.example>",
    ],
)
def test_ambiguous_or_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRequest, match="address"):
        _mail(to=(address,))
    with pytest.raises(InvalidRequest, match="address"):
        _mail(bcc=(address,))


def test_bcc_goes_to_the_envelope_and_never_into_headers() -> None:
    mail = _mail(cc=("Dave <dave@customer.example>",), bcc=("Boss@Example.com",))
    assert mail.recipients == (
        "carol@customer.example",
        "dave@customer.example",
        "boss@example.com",
    )
    raw = render(mail, MID, NOW)
    assert b"boss@example.com" not in raw.lower()
    parsed = _parsed(mail)
    assert parsed["Cc"] == "dave@customer.example"
    assert parsed["Message-ID"] == MID


def test_automatic_mail_says_so_and_asks_not_to_be_answered() -> None:
    parsed = _parsed(_mail(automatic=True))
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert _parsed(_mail())["Auto-Submitted"] is None


def test_templates_render_in_a_sandbox() -> None:
    with pytest.raises(InvalidRequest, match="cannot be rendered"):
        render_source("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_html_templates_escape_what_the_sender_wrote() -> None:
    values = {"ticket": {"subject": '<a href="https://evil.example">pay here</a>'}}
    html = render_source("<p>{{ ticket.subject }}</p>", values, html=True)
    assert "<a href" not in html and "&lt;a href" in html
    assert "<a href" in render_source("{{ ticket.subject }}", values)  # text stays text


# --- composition rules --------------------------------------------------------------------


def test_reply_goes_to_the_requester_from_the_department_with_the_brand_name() -> None:
    parsed = _parsed(_reply(ReplyRequest(body="Try turning it off and on.")))
    assert parsed["To"] == "carol@customer.example"
    assert parsed["From"].addresses[0].display_name == "Example Support"
    assert parsed["From"].addresses[0].addr_spec == "support@example.com"
    assert parsed["Subject"] == "[#SUP-000001] Printer broken"
    assert parsed["In-Reply-To"] == "<m1@customer.example>"
    assert parsed["References"] == "<m0@customer.example> <m1@customer.example>"


def test_reply_all_adds_the_answered_to_and_cc_minus_our_own() -> None:
    mail = _reply(ReplyRequest(body="Hi all", reply_all=True, cc="frank@customer.example"))
    assert mail.to == ("carol@customer.example", "dave@customer.example")
    assert mail.cc == ("frank@customer.example", "erin@customer.example")


def test_cc_and_bcc_take_semicolon_or_comma_lists() -> None:
    mail = _reply(
        ReplyRequest(
            body="x", cc='a@x.example; "Doe, Jane" <j@x.example>', bcc="b@x.example, c@x.example"
        )
    )
    assert mail.cc == ("a@x.example", "j@x.example")
    assert mail.bcc == ("b@x.example", "c@x.example")


def test_a_quoted_local_part_with_a_comma_is_one_recipient() -> None:
    mail = _reply(ReplyRequest(body="x", to='"a,b"@x.example'))
    assert mail.recipients == ('"a,b"@x.example',)
    assert _parsed(mail)["To"].addresses[0].addr_spec == '"a,b"@x.example'


def test_subject_override_is_for_this_mail_and_keeps_the_tag() -> None:
    assert _reply(ReplyRequest(body="x", subject="Invoice")).subject == "[#SUP-000001] Invoice"


@pytest.mark.parametrize(
    "subject",
    ["[#SUP-000001] Printer broken", "Re: [#sup-000001] Printer broken [#SUP-000001]"],
)
def test_the_tag_is_never_doubled(subject: str) -> None:
    assert tagged_subject("[#SUP-000001]", subject).count("SUP-000001") == 1
    assert tagged_subject("[#SUP-000001]", subject).startswith("[#SUP-000001] ")


def test_canned_reply_comes_first_and_the_signature_after_the_body() -> None:
    mail = _reply(ReplyRequest(body="Body text.", canned="Hello {{ ticket.number }},"))
    assert mail.text.index("Hello SUP-000001,") < mail.text.index("Body text.")
    assert mail.text.index("Body text.") < mail.text.index("Example / Alice Example")
    assert "> It prints nothing." in mail.text  # the answered mail, quoted


def test_text_and_html_parts_and_the_text_reads_on_its_own() -> None:
    parsed = _parsed(_reply(ReplyRequest(body="Line one\n<b>not markup</b>")))
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    assert "<b>not markup</b>" in text.get_content()
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html.get_content()


def test_attachments_over_the_limit_are_refused() -> None:
    big = Upload("big.bin", "application/octet-stream", b"x" * 11)
    with pytest.raises(InvalidRequest, match="limit is 10 bytes"):
        compose_reply(
            TICKET, None, ReplyRequest(body="x", attachments=(big,)), AGENT, Templates(), 10
        )


def test_attachments_are_sent_with_their_names() -> None:
    upload = Upload("Rechnung März.pdf", "application/pdf", b"%PDF-1.4")
    parsed = _parsed(_reply(ReplyRequest(body="x", attachments=(upload,))))
    (part,) = list(parsed.iter_attachments())
    assert part.get_filename() == "Rechnung März.pdf"
    assert part.get_content() == b"%PDF-1.4"


def test_forward_carries_the_message_and_its_attachments() -> None:
    forwarded = MessageFacts(
        **{
            **ANSWERED.__dict__,
            "attachments": (OutgoingAttachment("log.txt", "text/plain", b"lines"),),
        }
    )
    mail = compose_forward(
        TICKET,
        forwarded,
        ForwardRequest(to="vendor@partner.example", note="See below"),
        AGENT,
        Templates(),
        100,
    )
    assert mail.subject == "[#SUP-000001] Fwd: Printer broken"
    assert "It prints nothing." in mail.text and "See below" in mail.text
    assert [a.filename for a in mail.attachments] == ["log.txt"]


# --- injection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        ReplyRequest(body="x", subject="hi\r\nBcc: victim@evil.example"),
        ReplyRequest(body="x", to="carol@customer.example\r\nBcc: victim@evil.example"),
        ReplyRequest(body="x", cc="Eve\r\nBcc: victim@evil.example <e@x.example>"),
        ReplyRequest(
            body="x", attachments=(Upload("a\r\nBcc: victim@evil.example", "text/plain", b"x"),)
        ),
    ],
)
def test_header_injection_from_a_user_is_refused(request_: ReplyRequest) -> None:
    with pytest.raises(InvalidRequest):
        _reply(request_)


def test_a_brand_from_name_with_a_line_break_is_refused() -> None:
    ticket = replace(TICKET, from_name="Us\r\nBcc: victim@evil.example")
    with pytest.raises(InvalidRequest, match="single line"):
        compose_reply(ticket, None, ReplyRequest(body="x"), AGENT, Templates(), 10)


def test_mail_values_are_reduced_not_decoded_again() -> None:
    # CVE-2024-6923: text that is itself an encoded-word with CR LF must stay text.
    ticket = replace(TICKET, subject="=?utf-8?q?x=0D=0ABcc:_victim@evil.example?=\x1b[2J")
    parsed = _parsed(compose_reply(ticket, None, ReplyRequest(body="x"), AGENT, Templates(), 10))
    assert parsed["Bcc"] is None and "\x1b" not in parsed["Subject"]
    assert "=?" not in parsed["Subject"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=60))
def test_any_subject_and_name_round_trip_as_one_clean_header(subject: str, name: str) -> None:
    one_line = name.replace("\r", "").replace("\n", "").replace("\x00", "")
    ticket = replace(TICKET, subject=subject, from_name=one_line)
    mail = compose_reply(ticket, None, ReplyRequest(body="x"), AGENT, Templates(), 10)
    parsed = _parsed(mail)  # check_generated passed: exactly our headers, subject as written
    assert [k.lower() for k in parsed].count("subject") == 1
    assert parsed["Subject"] == mail.subject
