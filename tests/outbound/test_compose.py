"""Outgoing mail is built from validated values: no header injection, strict addresses, BCC
only in the envelope, RFC 3834 headers on automatic mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from maild.errors import InvalidRequest
from maild.outbound.autoresponder import render_template
from maild.outbound.compose import OutgoingMail, render

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _mail(**overrides: object) -> OutgoingMail:
    values: dict[str, object] = {
        "from_address": "support@example.com",
        "subject": "[#SUP-000001] Re: printer",
        "text": "Hello",
        "to": ("carol@customer.example",),
    }
    values.update(overrides)
    return OutgoingMail(**values)  # type: ignore[arg-type]


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
    ],
)
def test_ambiguous_or_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRequest, match="address"):
        _mail(to=(address,))
    with pytest.raises(InvalidRequest, match="address"):
        _mail(bcc=(address,))


def test_bcc_goes_to_the_envelope_and_never_into_headers() -> None:
    mail = _mail(cc=("Dave <dave@customer.example>",), bcc=("Boss@Example.com",))
    assert mail.recipients == ("carol@customer.example", "dave@customer.example",
                               "boss@example.com")  # fmt: skip
    raw = render(mail, "<t.SUP-000001@example.com>", NOW)
    assert b"boss@example.com" not in raw.lower()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Cc"] == "dave@customer.example"
    assert parsed["Message-ID"] == "<t.SUP-000001@example.com>"


def test_automatic_mail_says_so_and_asks_not_to_be_answered() -> None:
    parsed = message_from_bytes(render(_mail(automatic=True), "<x@example.com>", NOW))
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert message_from_bytes(render(_mail(), "<y@example.com>", NOW))["Auto-Submitted"] is None


def test_templates_render_in_a_sandbox() -> None:
    with pytest.raises(InvalidRequest, match="cannot be rendered"):
        render_template("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_html_templates_escape_what_the_sender_wrote() -> None:
    values = {"ticket": {"subject": '<a href="https://evil.example">pay here</a>'}}
    html = render_template("<p>{{ ticket.subject }}</p>", values, html=True)
    assert "<a href" not in html and "&lt;a href" in html
    assert "<a href" in render_template("{{ ticket.subject }}", values)  # text stays text
