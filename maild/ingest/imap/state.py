"""Where each folder's poller stands, kept in `imap_state`: the UIDVALIDITY it saw and the last
UID whose message is in the spool and settled (flagged, moved or deleted) on the server.

RFC 3501 §2.3.1.1: UIDs are only meaningful together with UIDVALIDITY. When it changes (the
mailbox was recreated, or restored from a backup), the UIDs maild remembers name other messages
or none, so the folder is read again from the start; messages seen before are spooled as
duplicates (same Message-ID, same bytes) and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import ImapState
from maild.tickets._sql import insert_if_missing


@dataclass(frozen=True)
class Cursor:
    account: str
    folder: str
    uidvalidity: int
    last_uid: int  # every message up to here is spooled and settled


def resume_from(stored: Cursor | None, uidvalidity: int) -> int:
    """The last UID already taken, under the UIDVALIDITY the server reports now."""
    if stored is None or stored.uidvalidity != uidvalidity:
        return 0
    return stored.last_uid


def open_cursor(store: Store, account: str, folder: str, uidvalidity: int) -> Cursor:
    """The folder's cursor for this UIDVALIDITY; a new UIDVALIDITY starts it again from 0."""
    with store.transaction() as session:
        keys = {"account": account, "folder": folder}
        row = session.get(ImapState, (account, folder), with_for_update=True)
        stored = None if row is None else Cursor(account, folder, row.uidvalidity, row.last_uid)
        cursor = Cursor(account, folder, uidvalidity, resume_from(stored, uidvalidity))
        if row is None:
            # Another process polling the same folder may insert it first: then it is kept.
            insert_if_missing(
                session,
                ImapState,
                {**keys, "uidvalidity": uidvalidity, "last_uid": 0},
                ["account", "folder"],
            )
        elif row.uidvalidity != uidvalidity:
            row.uidvalidity, row.last_uid = uidvalidity, 0
        return cursor


def advance(store: Store, cursor: Cursor, last_uid: int) -> Cursor:
    """Record that every message up to `last_uid` is settled. The stored UID only moves
    forward, and only under the same UIDVALIDITY."""
    with store.transaction() as session:
        session.execute(
            sa.update(ImapState)
            .where(ImapState.account == cursor.account, ImapState.folder == cursor.folder)
            .where(ImapState.uidvalidity == cursor.uidvalidity, ImapState.last_uid < last_uid)
            .values(last_uid=last_uid)
        )
    return Cursor(cursor.account, cursor.folder, cursor.uidvalidity, last_uid)
