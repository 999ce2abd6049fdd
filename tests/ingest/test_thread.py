"""thread: ticket references a mail carries (DESIGN §1 threading order, §2 bounce correlation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maild.ingest.classify import classify
from maild.ingest.parse import ParsedMessage, parse_message
from maild.ingest.thread import (
    MessageIdRef,
    TicketRefs,
    find_mangled_tags,
    find_tag_numbers,
    find_ticket_refs,
    strip_reply_prefixes,
)
from maild.mailids import make_message_id, parse_message_id, parse_verp, verp_address
from maild.settings import IngestLimits, TicketSettings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "emails"
TOKEN = "3f2a9c0d1e4b5a6f7c8d"
TICKETS = TicketSettings()


def parse_fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes(), IngestLimits())


def test_message_id_round_trips_token_and_number() -> None:
    mid = make_message_id(TOKEN, "SUP-000123", "example.com")
    assert mid == f"<{TOKEN}.SUP-000123@example.com>"
    assert parse_message_id(mid) == (TOKEN, "SUP-000123")
    assert parse_message_id(mid.strip("<>")) == (TOKEN, "SUP-000123")


@pytest.mark.parametrize(
    "mid",
    [
        "<CAF=first@mail.example.net>",
        f"<{TOKEN.upper()}.SUP-000123@example.com>",  # our tokens are lower-case hex
        f"<{TOKEN[:-1]}.SUP-000123@example.com>",  # 19 characters
        f"<{TOKEN}.SUP-000123>",  # no domain
    ],
)
def test_foreign_message_ids_are_not_ours(mid: str) -> None:
    assert parse_message_id(mid) is None


def test_message_id_refuses_a_token_or_number_that_cannot_form_one() -> None:
    with pytest.raises(ValueError):
        make_message_id("not-a-token", "SUP-000123", "example.com")
    with pytest.raises(ValueError):
        make_message_id(TOKEN, "SUP 000123>", "example.com")


def test_verp_address_round_trips_the_token() -> None:
    address = verp_address(TOKEN, "example.com")
    assert address == f"bounces+{TOKEN}@example.com"
    assert parse_verp(address) == TOKEN
    assert parse_verp(f"<BOUNCES+{TOKEN.upper()}@EXAMPLE.COM>") == TOKEN


@pytest.mark.parametrize(
    "address",
    ["support@example.com", f"bounces-{TOKEN}@example.com", "bounces+short@example.com"],
)
def test_other_addresses_carry_no_verp_token(address: str) -> None:
    assert parse_verp(address) is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: AW: Fwd: [#SUP-000123] VPN", "[#SUP-000123] VPN"),
        ("RE[2]: SV: Antw: hello", "hello"),
        ("Re(3): FW: WG: Tr: test", "test"),
        ("Reply needed: invoice", "Reply needed: invoice"),
        ("Fwd:Re:x", "x"),
    ],
)
def test_strip_reply_prefixes(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected


def test_tag_after_reply_prefixes_names_the_ticket() -> None:
    refs = find_ticket_refs(parse_fixture("tag-with-prefixes.eml"), TICKETS)
    assert refs.tag_numbers == ("SUP-000123",)
    assert refs.number == "SUP-000123"


@pytest.mark.parametrize(
    "subject",
    [
        "Printer [#SUP-000042] again",
        "Re: [#sup-000042]",  # case changed by a mail client
        "[#SUP-000042][#SUP-000042] twice",
    ],
)
def test_tag_anywhere_in_the_subject_gives_the_canonical_number(subject: str) -> None:
    assert find_tag_numbers(subject, TICKETS) == ("SUP-000042",)


@pytest.mark.parametrize(
    "subject", ["[#SUP-42] too short", "SUP-000042 no tag", "[#]", "[#-000042]"]
)
def test_text_that_does_not_have_the_tag_shape_names_no_ticket(subject: str) -> None:
    assert find_tag_numbers(subject, TICKETS) == ()


def test_tags_of_any_prefix_are_read_so_numbers_from_before_a_prefix_change_thread() -> None:
    after_change = TicketSettings(prefix="HLP")
    subject = "Re: [#SUP-000001] [#hlp-000002] [#ABC-0000042]"
    assert find_tag_numbers(subject, after_change) == ("SUP-000001", "HLP-000002", "ABC-000042")


def test_our_message_ids_are_read_whatever_the_number_format() -> None:
    mid = make_message_id(TOKEN, "SUP-000001", "example.com")
    raw = f"From: a@b.example\nSubject: x\nIn-Reply-To: {mid}\n\nbody\n".encode()
    msg = parse_message(raw, IngestLimits())
    settings = TicketSettings(prefix="HLP", number_format="{prefix}{seq:04d}")
    assert find_ticket_refs(msg, settings).message_ids == (MessageIdRef(mid, TOKEN, "SUP-000001"),)


def test_tag_regex_follows_the_configured_format_and_escapes_it() -> None:
    custom = TicketSettings(
        prefix="H.D", number_format="{prefix}{seq:04d}", subject_tag="(T*{number})"
    )
    assert find_tag_numbers("Re: (T*H.D0042) x [#H.D0043] (T*h.d0044)", custom) == (
        "H.D0042",
        "H.D0044",
    )


def test_references_only_reply_names_our_message_ids_newest_first() -> None:
    refs = find_ticket_refs(parse_fixture("references-only.eml"), TICKETS)
    assert refs.tag_numbers == ()
    assert refs.message_ids == (
        MessageIdRef(f"<{TOKEN}.SUP-000123@example.com>", TOKEN, "SUP-000123"),
        MessageIdRef(
            "<0a1b2c3d4e5f60718293.SUP-000123@example.com>", "0a1b2c3d4e5f60718293", "SUP-000123"
        ),
    )
    assert refs.number == "SUP-000123"


def test_reply_prefers_the_subject_tag_over_message_ids() -> None:
    refs = TicketRefs(
        tag_numbers=("SUP-000002",), message_ids=(MessageIdRef("<x>", TOKEN, "SUP-000001"),)
    )
    assert refs.number == "SUP-000002"


def test_bounce_refs_come_from_the_returned_message_id_first() -> None:
    refs = TicketRefs(
        tag_numbers=("SUP-000002",),
        message_ids=(MessageIdRef("<x>", TOKEN, "SUP-000001"),),
        from_returned_message=True,
    )
    assert refs.number == "SUP-000001"


def test_failed_dsn_refs_name_the_ticket_of_the_returned_mail() -> None:
    msg = parse_fixture("dsn-failed.eml")
    refs = find_ticket_refs(msg, TICKETS, classify(msg, "").bounce)
    assert refs.from_returned_message
    assert refs.verp_token == TOKEN
    assert [r.message_id for r in refs.message_ids] == [f"<{TOKEN}.SUP-000123@example.com>"]
    assert refs.tag_numbers == ("SUP-000123",)


def test_bounce_of_a_bounce_correlates_on_the_outermost_returned_message_only() -> None:
    msg = parse_fixture("bounce-of-bounce.eml")
    refs = find_ticket_refs(msg, TICKETS, classify(msg, "").bounce)
    assert refs.number == "SUP-000123"
    assert "SUP-000999" not in refs.tag_numbers
    assert all(r.number == "SUP-000123" for r in refs.message_ids)


def test_mail_without_references_names_no_ticket() -> None:
    refs = find_ticket_refs(parse_fixture("html-only.eml"), TICKETS)
    assert refs == TicketRefs()
    assert refs.number is None


# --- issue 13 item 6: tags as people mangle them ----------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Re: #SUP-000001 printer",
        "Re: [SUP-000001] printer",
        "AW: [ SUP-000001 ] Drucker",
        "#sup-000001",
        "Re:#SUP-000001",
        "printer (#SUP-000001).",
    ],
)
def test_mangled_tags_name_the_ticket(subject: str) -> None:
    assert find_mangled_tags(subject, TICKETS) == ("SUP-000001",)


@pytest.mark.parametrize(
    "subject",
    [
        "Order ABC#SUP-000001 shipped",  # inside a longer word
        "see https://shop.example/#SUP-000001",  # a URL's fragment
        "Order #SUP-000001-7",  # a longer code
        "#SUP-000001/2",
        "#SUP-000001abc",
        "#SUP-0000012",  # not as the number format writes it
        "#HLP-000001",  # another prefix: tags of a former one keep their brackets
        "SUP-000001 without a mark",
        "x[SUP-000001]",
    ],
)
def test_look_alikes_of_a_mangled_tag_are_not_tags(subject: str) -> None:
    assert find_mangled_tags(subject, TICKETS) == ()


def test_a_number_format_without_a_prefix_has_no_mangled_form() -> None:
    # `#100234` is an order number far more often than a ticket.
    settings = TicketSettings(number_format="{seq:06d}")
    assert find_mangled_tags("Re: #100234 shipped", settings) == ()


def test_mangled_tags_are_tried_after_whole_tags() -> None:
    raw = b"From: a@b.example\nSubject: #SUP-000002 and [#SUP-000003]\n\nbody\n"
    msg = parse_message(raw, IngestLimits())
    assert find_ticket_refs(msg, TICKETS).tag_numbers == ("SUP-000003", "SUP-000002")
