"""Raw bytes of a mail → a typed, frozen `ParsedMessage` (pure: no database, no network).

Conventions the rest of maild relies on:
- Message-IDs (`message_id`, `in_reply_to`, `references`) keep their angle brackets,
  `<id@host>`, exactly the form the header carries and `thread.make_message_id` produces, so
  inbound and outbound ids compare without conversion.
- Addresses are lower-cased addr-specs parsed strictly (see `addresses.py`); a header that
  cannot be read unambiguously yields no address and a warning.
- Nothing but an exceeded limit raises: `MessageRejected` carries the reason to show.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from functools import lru_cache

from maild.errors import MessageRejected
from maild.ingest.addresses import Mailbox, parse_mailboxes
from maild.ingest.bodies import Attachment, Bodies, default_filename
from maild.ingest.charsets import (
    GuessBudget,
    decode_escapes,
    decode_header_text,
    decode_surrogates,
    repair_display_names,
    unfold,
)
from maild.ingest.containers import read_bodies
from maild.ingest.htmltext import html_to_text
from maild.ingest.mime import check_raw_limits, check_tree_limits, parse_tree, walk
from maild.ingest.uuencode import extract_uuencoded
from maild.settings import IngestLimits

__all__ = ["Attachment", "ParsedMessage", "parse_message"]

_MSG_ID = re.compile(r"<[^<>\s]+>")
# Address headers repeat from mail to mail (our own addresses in To, a customer's From on every
# reply) and the RFC 5322 parser behind them is slow; its result is a pure, immutable value.
_mailboxes = lru_cache(maxsize=1024)(parse_mailboxes)
# Mail has one To and one Cc; a thousand of them would each cost a parse (and a charset guess).
_MAX_ADDRESS_FIELDS = 16
# RFC 5322 §2.1.1's line limit: no mail client writes a longer subject, and no agent reads one.
_MAX_SUBJECT = 998
_MAX_NAME = 256  # a display name, as shown beside the address


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    from_address: str | None  # the first From mailbox; None when absent or ambiguous
    from_name: str
    sender: str | None  # the Sender mailbox (RFC 5322 §3.6.2: who sent it for the author)
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None  # aware, UTC
    message_id: str | None  # `<id@host>`
    in_reply_to: str | None
    references: tuple[str, ...]  # oldest first, as in the header
    headers: tuple[tuple[str, str], ...]  # top-level fields in order, unfolded and decoded
    text: str
    html: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]  # what the MIME parser found wrong (class names, deduplicated)
    warnings: tuple[str, ...]  # what we recovered from (charset fallbacks, ambiguous headers)
    parser: str  # "mail-parser" or "stdlib" (the fallback)
    # The stdlib tree, for classify (DSN parts) and flufl.bounce, which take a Message. It is
    # mutable: treat it as read-only. Not part of equality or repr.
    tree: Message = field(compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """The first field called `name` (case-insensitive), decoded; None when absent."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)


def parse_message(raw: bytes, limits: IngestLimits) -> ParsedMessage:
    """Parse one mail; raises `MessageRejected` only when it exceeds one of `limits`."""
    check_raw_limits(raw, limits)
    tree = parse_tree(raw, limits)
    check_tree_limits(tree, limits)
    guesses = GuessBudget()
    bodies = _read_bodies(tree, limits, guesses)
    warnings: list[str] = []
    headers = tuple(
        (name, decode_header_text(str(value), guesses)) for name, value in tree.raw_items()
    )
    author, from_name = _first_mailbox(tree, "from", guesses, warnings)
    html = "\n".join(bodies.html)
    text = "\n".join(bodies.text) if bodies.text else html_to_text(html, warnings)
    if bodies.notes:
        text = "\n\n".join(piece.rstrip("\n") for piece in (text, *bodies.notes) if piece)
    return ParsedMessage(
        subject=_cut(_first(headers, "subject") or "", _MAX_SUBJECT, "Subject", warnings),
        from_address=author,
        from_name=_cut(from_name, _MAX_NAME, "From display name", warnings),
        sender=_first_mailbox(tree, "sender", guesses, warnings)[0],
        reply_to=_addresses(tree, "reply-to", guesses, warnings),
        to=_addresses(tree, "to", guesses, warnings),
        cc=_addresses(tree, "cc", guesses, warnings),
        date=_date(_first(headers, "date"), warnings),
        message_id=_message_id(_first(headers, "message-id")),
        in_reply_to=_message_id(_first(headers, "in-reply-to")),
        references=_message_ids(_first(headers, "references")),
        headers=headers,
        text=text,
        html=html,
        attachments=tuple(bodies.attachments),
        defects=_defects(tree),
        warnings=tuple(bodies.warnings + warnings),
        parser=bodies.parser,
        tree=tree,
    )


def _read_bodies(tree: Message, limits: IngestLimits, guesses: GuessBudget) -> Bodies:
    bodies = read_bodies(tree, limits, guesses)
    bodies.text = [_newlines(text) for text in bodies.text]
    bodies.html = [_newlines(html) for html in bodies.html]
    _move_uuencoded_to_attachments(bodies)
    _check_attachment_sizes(bodies.attachments, limits)
    return bodies


def _newlines(text: str) -> str:
    """One line-end convention for stored text, whatever the transport used (CRLF, bare CR)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _move_uuencoded_to_attachments(bodies: Bodies) -> None:
    for index, text in enumerate(bodies.text):
        remaining, files = extract_uuencoded(text)
        bodies.text[index] = remaining
        for file in files:
            name = file.filename or default_filename(len(bodies.attachments) + 1, "")
            content_type = _guess_type(name)
            bodies.attachments.append(Attachment(name, content_type, len(file.data), file.data))


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _check_attachment_sizes(attachments: list[Attachment], limits: IngestLimits) -> None:
    for attachment in attachments:
        if attachment.size > limits.max_attachment_bytes:
            raise MessageRejected(
                f"attachment {attachment.filename!r} is {attachment.size} bytes, "
                f"over the limit of {limits.max_attachment_bytes} bytes"
            )


def _cut(text: str, limit: int, what: str, warnings: list[str]) -> str:
    """`text` within `limit` characters: a subject or name goes into the ticket, its history,
    every list and the autoresponse, each a copy; the raw mail keeps the whole."""
    if len(text) <= limit:
        return text
    warnings.append(f"{what} of {len(text):,} characters cut to {limit:,}")
    return text[:limit]


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _first_mailbox(
    tree: Message, name: str, guesses: GuessBudget, warnings: list[str]
) -> tuple[str | None, str]:
    """The address and display name of the first mailbox of the first `name` header."""
    values = _raw_values(tree, name)
    if not values:
        return None, ""
    mailboxes, ok = _mailboxes(_address_text(values[0], guesses))
    if not ok:
        warnings.append(f"{name.capitalize()} header is ambiguous or malformed; no address taken")
    if not mailboxes:
        return None, ""
    if len(mailboxes) > 1:
        warnings.append(f"{name.capitalize()} header names several mailboxes; the first is taken")
    return mailboxes[0].address, mailboxes[0].name


def _raw_values(tree: Message, name: str) -> list[str]:
    """The values of every `name` field as stored: raw 8-bit (RFC 6532 UTF-8 addresses) kept as
    surrogates for `parse_mailboxes` to decode. `get_all` would wrap them in a `Header` whose
    str() turns each byte into U+FFFD."""
    wanted = name.lower()
    return [value for key, value in tree.raw_items() if key.lower() == wanted]


def _addresses(
    tree: Message, name: str, guesses: GuessBudget, warnings: list[str]
) -> tuple[str, ...]:
    found: list[Mailbox] = []
    values = _raw_values(tree, name)
    if len(values) > _MAX_ADDRESS_FIELDS:
        warnings.append(f"{len(values)} {name} headers; only the first {_MAX_ADDRESS_FIELDS} read")
    for value in values[:_MAX_ADDRESS_FIELDS]:
        mailboxes, ok = _mailboxes(_address_text(value, guesses))
        if not ok:
            warnings.append(f"{name} header is ambiguous or malformed; its addresses are dropped")
        found.extend(mailboxes)
    return tuple(dict.fromkeys(m.address for m in found))


def _address_text(value: object, guesses: GuessBudget) -> str:
    """An address header's text as mail clients read it: raw 8-bit or ISO-2022-JP decoded,
    unfolded, encoded-words in quoted display names decoded; the strict parser comes next."""
    text = unfold(decode_surrogates(str(value), guesses))
    return repair_display_names(decode_escapes(text), guesses)


def _date(value: str | None, warnings: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        warnings.append(f"Date header is not an RFC 5322 date: {value[:80]!r}")
        return None
    # RFC 5322 §3.3: "-0000" is a time in UTC whose local zone is unknown; it parses naive.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _message_id(value: str | None) -> str | None:
    ids = _message_ids(value)
    return ids[0] if ids else None


def _message_ids(value: str | None) -> tuple[str, ...]:
    """`<id>` tokens of a header; a bare id without brackets (seen in the wild) gets them."""
    if not value:
        return ()
    found = _MSG_ID.findall(value)
    if not found:
        found = [f"<{token}>" for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(found))


def _defects(tree: Message) -> tuple[str, ...]:
    names = (type(defect).__name__ for part, _ in walk(tree) for defect in part.defects)
    return tuple(dict.fromkeys(names))
