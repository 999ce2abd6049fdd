"""One mail delivered to several of our mailboxes is one mail (issue 13 item 5).

A customer writes To support@ and Cc sales@: the MTA hands each mailbox its own copy (Dovecot
or maild's LMTP, two IMAP accounts, two Maildirs). The copies have the same Message-ID, sender
and content and differ only in their delivery headers (Delivered-To, Received), so the spool's
(Message-ID, sha256) key sees two mails. The first copy processed claims the mail's key in
`first_copy`; a later copy within the window joins that copy's ticket as a duplicate delivery
instead of opening a second ticket and sending a second autoresponse.

The key is a unique insert, not a look-up before an insert: of two processes handed the two
copies at once, PostgreSQL makes the second insert wait for the first one's commit, then
answers "exists" (SQLite has one writer at a time). A failed copy's claim is rolled back with
the rest of its work, so the next copy is first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.ingest.parse import ParsedMessage
from maild.ingest.spool import Received
from maild.store.models import Department, FirstCopy, Inbound, Ticket
from maild.tickets._sql import insert_new
from maild.tickets.actors import SYSTEM
from maild.tickets.audit import Action, note
from maild.tickets.lookup import department_by_address

_WHERE_LIMIT = 200  # characters of "delivered to" in a history entry; the header is the sender's


@dataclass(frozen=True)
class EarlierCopy:
    """The first processed copy of a mail: its spool row, arrival and ticket (None when it
    opened none, e.g. an NDR that matched no ticket)."""

    inbound_id: int
    received_at: datetime
    ticket: Ticket | None


def mail_key(msg: ParsedMessage) -> str | None:
    """What makes two copies one mail: the Message-ID, the From address, and what the sender
    wrote (text, HTML, attachments). The content keeps apart the mails of a sender that reuses
    one Message-ID (scanners and forms that count from 1 again); the From keeps a forged copy
    its own mail. None without a Message-ID: nothing then tells copies from separate mails."""
    if not msg.message_id:
        return None
    digest = hashlib.sha256()
    # Length-prefixed, so no choice of values can make two different lists hash alike.
    for part in _key_parts(msg):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data) + data)
    return digest.hexdigest()


def _key_parts(msg: ParsedMessage) -> Iterable[str]:
    yield msg.message_id or ""
    yield (msg.from_address or "").lower()  # domains are case-insensitive; local parts in practice
    yield msg.text
    yield msg.html
    for attachment in msg.attachments:
        yield attachment.filename
        yield attachment.content_type
        yield hashlib.sha256(attachment.data).hexdigest()


def claim_first_copy(
    session: Session, msg: ParsedMessage, mail: Received, window_minutes: int, now: datetime
) -> EarlierCopy | None:
    """None when `mail` is the first copy of its mail (its key is now claimed, committed with
    the copy's ticket), else the earlier copy it duplicates. Copies further apart than the
    window are separate mails; `window_minutes` 0 makes every copy its own mail."""
    key = mail_key(msg) if window_minutes else None
    if key is None:
        return None
    window = timedelta(minutes=window_minutes)
    arrived = mail.received_at or now
    values = {"mail_key": key, "inbound_id": mail.inbound_id, "received_at": arrived}
    if insert_new(session, FirstCopy, values, ["mail_key"]) is not None:
        return None
    first = _first_copy(session, key)
    if arrived - first.received_at > window:
        # The same mail long after the window (the sender sent it again): a new mail, and the
        # key's first copy from now on, unless a concurrent copy of it took the key just before.
        if _take_over(session, key, values, cutoff=arrived - window):
            return None
        first = _first_copy(session, key)
    return first if abs(arrived - first.received_at) <= window else None


def _first_copy(session: Session, key: str) -> EarlierCopy:
    # The ticket is the spool row's, not copied here: a merge moves it with the row.
    query = (
        sa.select(FirstCopy.inbound_id, FirstCopy.received_at, Inbound.ticket_id)
        .join(Inbound, Inbound.id == FirstCopy.inbound_id)
        .where(FirstCopy.mail_key == key)
    )
    inbound_id, received_at, ticket_id = session.execute(query).one()
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    return EarlierCopy(inbound_id, received_at, ticket)


def _take_over(session: Session, key: str, values: dict[str, object], cutoff: datetime) -> bool:
    """Make this copy the key's first, if the recorded one is still older than `cutoff`. The
    condition is checked again under the row lock, so of two takers one wins."""
    statement = (
        sa.update(FirstCopy)
        .where(FirstCopy.mail_key == key, FirstCopy.received_at < cutoff)
        .values(inbound_id=values["inbound_id"], received_at=values["received_at"])
        .returning(FirstCopy.id)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).scalar() is not None


def first_addressed(
    session: Session, msg: ParsedMessage, own: Department | None, window_minutes: int
) -> Department | None:
    """The department a new ticket opens in when its mail may come again as another copy: when
    the To/Cc name several of our departments and this copy was delivered to one of them, the
    first named, so the ticket is the same whichever copy is read first. A copy delivered to
    a department the headers do not name (Bcc, an alias) keeps `own`: no other copy is sure."""
    if own is None or not window_minutes or not msg.message_id:
        return own
    named = [department_by_address(session, address) for address in (*msg.to, *msg.cc)]
    ours = [department for department in named if department is not None]
    return ours[0] if any(department.id == own.id for department in ours) else own


def record_duplicate(
    session: Session, earlier: EarlierCopy, msg: ParsedMessage, mail: Received, now: datetime
) -> str:
    """Note another copy of a processed mail in its ticket's history, and say why it changes
    nothing else: no message, no status, no autoresponse (its bytes stay in the spool)."""
    if earlier.ticket is not None:
        where = _delivered_to(msg, mail)
        detail = f"another copy, delivered to {where}: spool entry {mail.inbound_id}"
        note(session, earlier.ticket, SYSTEM, Action.DUPLICATE_DELIVERY, now, detail=detail)
    same = "same Message-ID, sender and content"
    return f"another copy of the mail of spool entry {earlier.inbound_id} ({same})"


def _delivered_to(msg: ParsedMessage, mail: Received) -> str:
    """Where this copy was delivered, for the ticket's history: the envelope recipients, else
    the department its mailbox belongs to, else the topmost Delivered-To (a file import)."""
    where = ", ".join(mail.envelope.rcpt_to) or mail.department or msg.header("Delivered-To")
    # The header is the sender's to write: bounded, and no controls (PostgreSQL text cannot
    # even hold NUL).
    printable = "".join(c if c.isprintable() else " " for c in (where or "")[: 2 * _WHERE_LIMIT])
    return " ".join(printable.split())[:_WHERE_LIMIT] or "an unknown mailbox"
