"""The inbound spool: raw bytes are committed here before anything else happens to a mail.

SMTP answers 250 and IMAP flags a message only after `spool` has committed. Everything after is
restartable from the spool row. The same message (same Message-ID and same bytes) is spooled once;
a second arrival is reported as a duplicate and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.ingest.authn import SenderAuth
from maild.store.models import Inbound, Raw
from maild.tickets._sql import insert_new_rows
from maild.values import InboundState


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope. `mail_from` "" is the null sender `<>`; None means no envelope
    (a file import or IMAP fetch, where only the headers tell)."""

    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arrival:
    """A mail as a transport hands it over, before the spool commit."""

    raw: bytes
    source: str  # "smtp:192.0.2.1", "lmtp", "imap:account/folder", a file path
    envelope: Envelope
    auth: SenderAuth | None = None  # the sender verdict taken in the SMTP session, if any


@dataclass(frozen=True)
class Received:
    """A spooled mail handed to processing: its bytes, where they are stored, its envelope, the
    department its transport assigned ("" = decided by its recipients), and when it arrived."""

    inbound_id: int
    raw_id: int
    raw: bytes
    envelope: Envelope
    department: str = ""
    received_at: datetime | None = None  # the spool commit's time; None: not known (tests)
    auth: SenderAuth | None = None  # taken at receive time; None: judge by the headers


@dataclass(frozen=True)
class Spooled:
    inbound_id: int
    duplicate: bool
    state: InboundState


# The first Message-ID field: its name at a line start (the parser's lines end at CR, LF or
# CRLF) and the value up to the next line break that no whitespace continues.
_MESSAGE_ID_FIELD = re.compile(rb"(?:\A|[\r\n])message-id:", re.IGNORECASE)
_FIELD_END = re.compile(rb"\r\n(?![ \t])|\r(?![\n \t])|\n(?![ \t])")
# A Message-ID is kept to 998 characters; more of its value than this is never needed.
_MAX_KEY_SOURCE = 8 * 998


def message_key(raw: bytes) -> str:
    """The Message-ID as written in the headers (whitespace collapsed), or "" when there is
    none. This runs before SMTP answers, on untrusted input, so it scans the header bytes for
    the field instead of parsing them: the stdlib header parser held a 200 KB header line
    about ten times over. Non-ASCII bytes read as U+FFFD, as the parser's `str` gave them, so
    keys spooled before stay comparable."""
    end = _header_end(raw)
    field = _MESSAGE_ID_FIELD.search(raw, 0, end)
    if field is None:
        return ""
    stop = _FIELD_END.search(raw, field.end(), min(end, field.end() + _MAX_KEY_SOURCE))
    value = raw[field.end() : stop.start() if stop else min(end, field.end() + _MAX_KEY_SOURCE)]
    # PostgreSQL text cannot hold NUL: a NUL in the header must not make the mail unstorable.
    text = value.decode("ascii", "replace").replace("\x00", "")
    return " ".join(text.split())[:998]


def _header_end(raw: bytes) -> int:
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return min(positions) + 2 if positions else len(raw)


def spool(
    session: Session,
    raw: bytes,
    source: str,
    envelope: Envelope,
    now: datetime,
    department: str = "",
    auth: SenderAuth | None = None,
) -> Spooled:
    """Record one received mail in the spool (the caller commits), or find its earlier copy.
    `department` is the one the transport assigns (an IMAP account's), "" for none; `auth` the
    sender verdict its SMTP session took."""
    return spool_many(session, [Arrival(raw, source, envelope, auth)], now, department)[0]


def spool_many(
    session: Session, arrivals: Sequence[Arrival], now: datetime, department: str = ""
) -> list[Spooled]:
    """Record received mails in the spool (the caller commits), each as `spool` would one
    after the other, in two multi-row INSERTs whatever their number: the group commit of
    `ingest.intake` writes the mails of concurrent SMTP sessions at once. A mail the spool
    holds already, or that came earlier in `arrivals`, is reported as its earlier copy."""
    keys = [(message_key(a.raw), hashlib.sha256(a.raw).hexdigest()) for a in arrivals]
    raws = {digest: arrival.raw for arrival, (_, digest) in zip(arrivals, keys, strict=True)}
    raw_ids = _store_raws(session, raws)
    firsts: dict[tuple[str, str], int] = {}  # each key's first arrival (its index)
    for index, key in enumerate(keys):
        firsts.setdefault(key, index)
    rows = [
        _inbound_row(arrivals[index], key, raw_ids[key[1]], now, department)
        for key, index in firsts.items()
    ]
    # ON CONFLICT DO NOTHING: the same message spooled before, or by another path this moment.
    inserted = insert_new_rows(session, Inbound, rows, _INBOUND_KEY, ["id", *_INBOUND_KEY])
    created = {(key, digest): row_id for row_id, key, digest in inserted}
    results = []
    for index, key in enumerate(keys):
        if key in created:  # by this call; a later copy in `arrivals` is a duplicate of it
            first = firsts[key] == index
            results.append(Spooled(created[key], not first, InboundState.RECEIVED))
        else:
            earlier = _find(session, *key)
            assert earlier is not None
            results.append(Spooled(earlier.id, duplicate=True, state=earlier.state))
    return results


_INBOUND_KEY = ["message_key", "sha256"]


def _inbound_row(
    arrival: Arrival, key: tuple[str, str], raw_id: int, now: datetime, department: str
) -> dict[str, Any]:
    message_id, digest = key
    auth = arrival.auth
    return {
        "source": arrival.source[:500],
        "envelope_from": arrival.envelope.mail_from,
        "rcpt_to": list(arrival.envelope.rcpt_to),
        "message_key": message_id,
        "sha256": digest,
        "raw_id": raw_id,
        "department": department or None,
        "sender_auth": auth.as_json() if auth is not None else None,
        "received_at": now,
    }


def _store_raws(session: Session, raws: dict[str, bytes]) -> dict[str, int]:
    """The id of the `raw` row for each of these bytes (by content hash), each created once."""
    rows = [{"sha256": digest, "size": len(raw), "data": raw} for digest, raw in raws.items()]
    inserted = insert_new_rows(session, Raw, rows, ["sha256"], ["id", "sha256"])
    ids = {digest: row_id for row_id, digest in inserted}
    stored_before = [digest for digest in raws if digest not in ids]
    if stored_before:  # a duplicate, or the same bytes under another Message-ID
        query = sa.select(Raw.id, Raw.sha256).where(Raw.sha256.in_(stored_before))
        ids.update((digest, row_id) for row_id, digest in session.execute(query))
    return ids


def _find(session: Session, key: str, digest: str) -> Inbound | None:
    query = sa.select(Inbound).where(Inbound.message_key == key, Inbound.sha256 == digest)
    return session.scalars(query).first()
