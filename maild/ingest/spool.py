"""The inbound spool: raw bytes are committed here before anything else happens to a mail.

SMTP answers 250 and IMAP flags a message only after `spool` has committed. Everything after is
restartable from the spool row. The same message (same Message-ID and same bytes) is spooled once;
a second arrival is reported as a duplicate and changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maild.store.models import Inbound, Raw
from maild.values import InboundState


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope. `mail_from` "" is the null sender `<>`; None means no envelope
    (a file import or IMAP fetch, where only the headers tell)."""

    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Received:
    """A spooled mail handed to processing: its bytes, where they are stored, its envelope."""

    inbound_id: int
    raw_id: int
    raw: bytes
    envelope: Envelope


@dataclass(frozen=True)
class Spooled:
    inbound_id: int
    duplicate: bool
    state: InboundState


def message_key(raw: bytes) -> str:
    """The Message-ID as written in the headers (stripped), or "" when there is none. Only the
    header block is parsed: this runs before SMTP answers, on untrusted input."""
    end = _header_end(raw)
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:end])
        value = headers.get("Message-ID")
    except Exception:  # noqa: BLE001 - any parse failure means "no usable Message-ID"
        return ""
    return "" if value is None else " ".join(str(value).split())[:998]


def _header_end(raw: bytes) -> int:
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return min(positions) + 2 if positions else len(raw)


def store_raw(session: Session, raw: bytes) -> Raw:
    """The `raw` row for these bytes, created once per content hash."""
    digest = hashlib.sha256(raw).hexdigest()
    found = session.scalars(sa.select(Raw).where(Raw.sha256 == digest)).first()
    if found is not None:
        return found
    row = Raw(sha256=digest, size=len(raw), data=raw)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another writer stored the same bytes just now
        return session.scalars(sa.select(Raw).where(Raw.sha256 == digest)).one()
    return row


def spool(session: Session, raw: bytes, source: str, envelope: Envelope, now: datetime) -> Spooled:
    """Record one received mail in the spool (the caller commits), or find its earlier copy."""
    key = message_key(raw)
    digest = hashlib.sha256(raw).hexdigest()
    earlier = _find(session, key, digest)
    if earlier is not None:
        return Spooled(earlier.id, duplicate=True, state=earlier.state)
    row = Inbound(
        source=source[:500],
        envelope_from=envelope.mail_from,
        envelope_to=",".join(envelope.rcpt_to),
        message_key=key,
        sha256=digest,
        raw_id=store_raw(session, raw).id,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same message arrived by another path at the same moment
        found = _find(session, key, digest)
        assert found is not None
        return Spooled(found.id, duplicate=True, state=found.state)
    return Spooled(row.id, duplicate=False, state=InboundState.RECEIVED)


def _find(session: Session, key: str, digest: str) -> Inbound | None:
    query = sa.select(Inbound).where(Inbound.message_key == key, Inbound.sha256 == digest)
    return session.scalars(query).first()
