"""requester: who the customer is, from the mail alone (issue 13 item 4)."""

from __future__ import annotations

from maild.ingest.parse import ParsedMessage, parse_message
from maild.ingest.requester import author_of, requester_of
from maild.settings import IngestLimits


def _msg(headers: str) -> ParsedMessage:
    return parse_message(f"{headers}\r\nSubject: x\r\n\r\nhi\r\n".encode(), IngestLimits())


def _requester(msg: ParsedMessage, envelope: str | None = None, wins: bool = True) -> str:
    return requester_of(msg, envelope, reply_to_wins=wins, is_ours=lambda a: a.endswith("@ours"))


def test_one_reply_to_mailbox_is_the_requester() -> None:
    msg = _msg("From: Shop <wordpress@shop.example>\r\nReply-To: Carol <carol@c.example>")
    assert _requester(msg) == "carol@c.example"
    assert _requester(msg, wins=False) == "wordpress@shop.example"


def test_several_reply_to_mailboxes_or_our_own_leave_the_author() -> None:
    several = _msg("From: a@shop.example\r\nReply-To: b@c.example, d@c.example")
    ours = _msg("From: a@shop.example\r\nReply-To: support@ours")
    assert _requester(several) == _requester(ours) == "a@shop.example"


def test_author_falls_back_from_a_name_alone_to_sender_then_envelope_then_return_path() -> None:
    named = "From: Kontaktformular\r\nReturn-Path: <www@web.example>"
    assert author_of(_msg(f"{named}\r\nSender: form@shop.example"), None) == "form@shop.example"
    assert author_of(_msg(named), "bounce@relay.example") == "bounce@relay.example"
    assert author_of(_msg(named), None) == "www@web.example"  # a file: Return-Path
    assert author_of(_msg(named), "") == ""  # MAIL FROM:<> names no one
    assert author_of(_msg("From: Kontaktformular\r\nReply-To: r@c.example"), None) == (
        "r@c.example"
    )
