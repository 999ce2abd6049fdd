"""The one address form maild stores and compares (`maild.addresses.normal_form`), the ASCII
form outbound writes where one exists, and the stored-list reader `export` uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maild.addresses import ascii_form, normal_form, parse_address, parse_mailbox_list, split_stored
from maild.errors import InvalidRequest
from maild.outbound.message import OutgoingMail
from maild.outbound.wire import check_generated, render

MID = "<0123456789abcdef0123.SUP-000001@example.com>"


@pytest.mark.parametrize(
    "spelling",
    [
        "j.weiss@bücher.example",
        "J.Weiss@BÜCHER.example",
        "j.weiss@xn--bcher-kva.example",
        "j.weiss@XN--BCHER-KVA.EXAMPLE",
        "j.weiss@bu\u0308cher.example",  # NFD: u + combining diaeresis, as macOS may write it
        "j.weiss@ｂücher.example",  # fullwidth b: UTS #46 maps it
    ],
)
def test_every_spelling_of_an_idn_domain_is_one_address(spelling: str) -> None:
    assert normal_form(spelling) == "j.weiss@bücher.example"
    assert parse_address(spelling) == "j.weiss@bücher.example"


def test_a_utf8_local_part_is_kept_in_nfc_and_lower_case() -> None:
    assert normal_form("JOSE\u0301.Núñez@correo.ejemplo.es") == "josé.núñez@correo.ejemplo.es"


def test_a_domain_idna_refuses_is_kept_as_written() -> None:
    # Not a registrable name (an emoji label), but the mail names it: keep it, lower-cased.
    assert normal_form("a@☃.EXAMPLE") == "a@☃.example"
    assert normal_form("a@[192.0.2.1]") == "a@[192.0.2.1]"
    assert normal_form("under_score@my_host.example") == "under_score@my_host.example"


def test_the_ascii_form_uses_a_labels_and_exists_only_for_an_ascii_local_part() -> None:
    assert ascii_form("j.weiss@bücher.example") == "j.weiss@xn--bcher-kva.example"
    assert ascii_form("carol@customer.example") == "carol@customer.example"
    assert ascii_form("josé@correo.ejemplo.es") is None
    assert ascii_form("a@☃.example") is None


def test_a_stored_list_is_cut_only_outside_quotes_and_domain_literals() -> None:
    stored = '"doe, jane"@example.org, josé@bücher.example, a@[ipv6:1,2]'
    assert split_stored(stored) == (
        '"doe, jane"@example.org',
        "josé@bücher.example",
        "a@[ipv6:1,2]",
    )
    assert split_stored("") == ()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_any_unicode_text_as_an_address_is_read_stored_and_sent_or_refused_cleanly(
    local: str, domain: str
) -> None:
    """Whatever a From header holds: what the parser reads is in normal form (stable when read
    again), survives the stored list, and either makes a checked outgoing mail or a clear
    refusal; never an exception of another kind."""
    mailboxes, _ = parse_mailbox_list(f"<{local}@{domain}>")
    for mailbox in mailboxes:
        address = mailbox.address
        assert normal_form(address) == address
        assert split_stored(", ".join([address, "x@example.com"]))[0] == address
        try:
            mail = OutgoingMail("support@example.com", "re", "ok", to=(address,))
        except InvalidRequest:
            continue
        assert mail.to == (address,)
        check_generated(render(mail, MID, datetime(2026, 12, 1, tzinfo=UTC)), mail, MID)


@pytest.mark.parametrize("value", ["a@[", "<a@[x>", "Eve <eve@[192.0.2.1>"])
def test_an_unclosed_domain_literal_reads_as_no_address(value: str) -> None:
    # CPython 3.11's parser raised AttributeError here: a hostile From held the mail.
    assert parse_mailbox_list(value) == ((), False)
