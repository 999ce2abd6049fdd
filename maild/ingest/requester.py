"""Who the customer is: the author of a mail, and the requester of a ticket it opens (pure).

A web form sends From its own address (`wordpress@shop.example`) with the customer in
Reply-To; a script or a scanner may write a From with a name and no address at all. Replies
and the autoresponse go to the requester, so it must be the person, not the form.
"""

from __future__ import annotations

from collections.abc import Callable

from maild.ingest.addresses import parse_mailboxes
from maild.ingest.parse import ParsedMessage


def author_of(msg: ParsedMessage, envelope_from: str | None) -> str:
    """Who wrote the mail: the From mailbox; for a From with no address (a name alone) or
    none, the Sender (RFC 5322 §3.6.2), then the envelope sender or, for mail read from a
    file, the Return-Path delivery recorded; then the first Reply-To. "" when none is known."""
    for address in (msg.from_address, msg.sender, _return_path(msg, envelope_from)):
        if address:
            return address
    return msg.reply_to[0] if msg.reply_to else ""


def requester_of(
    msg: ParsedMessage,
    envelope_from: str | None,
    *,
    reply_to_wins: bool,
    is_ours: Callable[[str], bool],
) -> str:
    """The requester of a ticket `msg` opens: with `reply_to_wins` (the department's setting,
    and not a list's mail, whose Reply-To is the list), a Reply-To that names exactly one
    mailbox, unless it is one of our own addresses; otherwise the author."""
    if reply_to_wins and len(msg.reply_to) == 1 and not is_ours(msg.reply_to[0]):
        return msg.reply_to[0]
    return author_of(msg, envelope_from)


def _return_path(msg: ParsedMessage, envelope_from: str | None) -> str:
    """The envelope sender as strictly parsed as the headers; None (a file) falls back to the
    Return-Path header, which only the delivering server writes. "" for `<>` or garbage."""
    path = envelope_from if envelope_from is not None else msg.header("return-path")
    boxes, unambiguous = parse_mailboxes(path.strip() if path else None)
    return boxes[0].address if unambiguous and len(boxes) == 1 else ""
