"""Reading delivery reports: RFC 3464 DSN fields and the original message a bounce returns.

Only the outermost report counts: a bounce of a bounce nests a second report inside the
returned message, and correlating on that one would blame the wrong mail (corpora README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser

from maild.ingest.charsets import GuessBudget, decode_bytes, decode_header_text, decode_surrogates
from maild.ingest.mime import part_bytes, walk

# RFC 3464 §2.1 and RFC 6533 (internationalised DSNs).
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# RFC 3462/6522 §3: the third part of a report is the returned message or just its headers.
_RETURNED_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"}
)
_STATUS_CODE = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
# RFC 3464 §2.3.3: without an Action field, the status class tells what happened.
_ACTION_BY_CLASS = {"5": "failed", "4": "delayed", "2": "delivered"}
# Spellings seen from real MTAs (SendGrid writes "expired" for a message given up on).
_ACTION_ALIASES = {"expired": "failed", "failure": "failed", "delay": "delayed"}
_BLOCK_SPLIT = re.compile(r"\r?\n[ \t]*\r?\n")


@dataclass(frozen=True)
class RecipientStatus:
    address: str  # Final-Recipient (else Original-Recipient), lower-cased, type removed
    action: str  # failed | delayed | delivered | relayed | expanded | "" (not stated)
    status: str  # RFC 3463 code such as "5.1.1"; "" when not stated
    diagnostic: str = ""
    original_address: str = ""  # Original-Recipient when it differs: the address we sent to


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says about the delivery of one of our mails (DESIGN §2)."""

    recipients: tuple[RecipientStatus, ...]
    failed_recipients: tuple[str, ...]  # permanent failures
    delayed_recipients: tuple[str, ...]  # temporary: still being retried, not a failure
    is_failure: bool  # False when the report only says "delayed" (it must not revert a ticket)
    original_message_id: str | None  # of the returned (outermost) original, `<id>`
    original_subject: str | None
    verp_token: str | None
    detector: str  # rfc3464 | x-failed-recipients | flufl.bounce | heuristic
    # Came as NDRs come (null or mail-system sender): only then may it change a ticket.
    arrived_as_ndr: bool = True


@dataclass(frozen=True)
class ReturnedHeaders:
    message_id: str | None
    subject: str | None
    return_path: str | None


def find_report_part(tree: Message) -> Message | None:
    """The outermost delivery-status part (shallowest; the first of equals)."""
    found = [
        (depth, index, part)
        for index, (part, depth) in enumerate(walk(tree))
        if part.get_content_type() in _STATUS_TYPES
    ]
    return min(found, key=lambda item: item[:2])[2] if found else None


def read_recipients(status_part: Message) -> tuple[RecipientStatus, ...]:
    """Per-recipient fields of a delivery-status part (blocks naming a recipient)."""
    recipients = []
    guesses = GuessBudget()  # a report may hold thousands of blocks with 8-bit fields
    for block in _field_blocks(status_part):
        final = _recipient_field(block, guesses, "final-recipient", "x-actual-recipient")
        original = _recipient_field(block, guesses, "original-recipient")
        if final or original:
            recipients.append(_recipient_status(final or original, original, block, guesses))
    return tuple(recipients)


def _field_blocks(status_part: Message) -> list[Message]:
    payload = status_part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        blocks = [p for p in payload if isinstance(p, Message)]
        named = (
            _recipient_field(b, GuessBudget(0), "final-recipient", "original-recipient")
            for b in blocks
        )
        if any(named):
            return blocks
    # Encoded (base64) or unparsed fields: decode and split into blocks ourselves.
    text = decode_bytes(_raw_content(status_part))[0]
    return [
        Parser().parsestr(chunk.strip() + "\n", headersonly=True)
        for chunk in _BLOCK_SPLIT.split(text)
        if chunk.strip()
    ]


def _raw_content(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        return b"\n\n".join(p.as_bytes() for p in payload if isinstance(p, Message))
    data = part_bytes(part)
    return data or str(payload).encode("utf-8", "surrogateescape")


def _recipient_field(block: Message, guesses: GuessBudget, *names: str) -> str:
    """The address of an `address-type; address` field (RFC 3464 §2.3.1-2), lower-cased.

    Encoded-words are not decoded: they are not allowed in an addr-spec, so a DSN that shows
    one is quoting the address exactly as it was given.
    """
    for name in names:
        value = block.get(name)
        if value:
            address = str(value).split(";", 1)[-1].strip().strip("<>").strip()
            if "@" in address:
                return decode_surrogates(address, guesses).lower()
    return ""


def _recipient_status(
    address: str, original: str, block: Message, guesses: GuessBudget
) -> RecipientStatus:
    action = str(block.get("action", "")).strip().lower().split(" ", 1)[0]
    action = _ACTION_ALIASES.get(action, action)
    match = _STATUS_CODE.search(str(block.get("status", "")))
    status = match.group(0) if match else ""
    if action not in _ACTIONS:
        action = _ACTION_BY_CLASS.get(status[:1], "")
    diagnostic = decode_header_text(str(block.get("diagnostic-code", "")), guesses)
    return RecipientStatus(
        address,
        action,
        status,
        diagnostic.split(";", 1)[-1].strip(),
        original if original != address else "",
    )


def find_returned_part(tree: Message, status_part: Message | None) -> Message | None:
    """The returned original: the report's sibling when there is a report, else the outermost
    message/rfc822 (or headers) part below the root."""
    if status_part is not None:
        for part, _depth in walk(tree):
            siblings = _children(part)
            if any(child is status_part for child in siblings):
                returned = [c for c in siblings if c.get_content_type() in _RETURNED_TYPES]
                if returned:
                    return returned[0]
    candidates = [
        (depth, index, part)
        for index, (part, depth) in enumerate(walk(tree))
        if depth > 0 and part.get_content_type() in _RETURNED_TYPES
    ]
    return min(candidates, key=lambda item: item[:2])[2] if candidates else None


def _children(part: Message) -> list[Message]:
    payload = part.get_payload() if part.is_multipart() else None
    return [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []


def returned_headers(part: Message) -> ReturnedHeaders:
    """Message-ID, Subject and Return-Path of a returned message or headers part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        headers = payload[0]
    else:
        text = decode_bytes(part_bytes(part) or str(payload).encode("utf-8", "surrogateescape"))
        headers = Parser().parsestr(text[0].lstrip(), headersonly=True)
    return _headers_of(headers)


def _headers_of(headers: Message) -> ReturnedHeaders:
    def first(name: str) -> str | None:
        value = headers.get(name)
        return decode_header_text(str(value)) if value is not None else None

    mid = first("message-id")
    found = re.search(r"<[^<>\s]+>", mid or "")
    return ReturnedHeaders(
        found.group(0) if found else None, first("subject"), first("return-path")
    )


_INLINE_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.I | re.M)
_INLINE_SUBJECT = re.compile(r"^[ \t>]*Subject:[ \t]*(.+)$", re.I | re.M)


def inline_returned_headers(text: str) -> ReturnedHeaders:
    """Headers a non-standard bounce quotes in its text ("--- original message follows")."""
    mid = _INLINE_MESSAGE_ID.search(text)
    subject = _INLINE_SUBJECT.search(text)
    return ReturnedHeaders(
        mid.group(1) if mid else None, subject.group(1).strip() if subject else None, None
    )
