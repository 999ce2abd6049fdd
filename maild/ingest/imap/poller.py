"""Polling `[[imap]]` accounts: every new message of a folder is committed to the spool, and
only then flagged, moved or deleted on the server (DESIGN §3).

One poller per account: connect, log in, select the folder, take every message past the last
UID it settled, then wait — in IDLE when the server offers it, else `poll_seconds` — and take
again. What it takes goes chunk by chunk: fetch each message (BODY.PEEK, so a failure leaves it
unseen), commit it to the spool, run the `after_commit` hook (which wakes the pipeline worker),
then settle the chunk on the server, then move the cursor in `imap_state` past it. A crash
anywhere leaves messages to fetch again, and the spool's duplicate check makes that harmless:
  - before the spool commit: nothing was stored; the message is fetched again;
  - after the commit, before settling: fetched again, spooled as a duplicate, then settled;
  - after settling, before the cursor moves: `seen` mail is fetched again as a duplicate;
    moved or deleted mail is no longer there.
A message that cannot be taken (over the size limit, gone) is logged and left in the folder;
the others go on. Any other failure ends the connection: the poller logs one line and
reconnects after an exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from maild.errors import ImapAuthError, ImapMessageError, MaildError
from maild.ingest.imap.client import ImapClient
from maild.ingest.imap.credentials import AccessToken, read_password
from maild.ingest.imap.state import Cursor, advance, open_cursor
from maild.ingest.imap.wire import Listed
from maild.ingest.spool import Envelope, Spooled, spool
from maild.settings import AfterKind, ImapAccount, ImapAuth, Settings
from maild.store.db import Store

log = logging.getLogger("maild.ingest.imap")

# Run after each spool commit, before the message is settled on the server.
AfterCommit = Callable[[Spooled], Awaitable[None]]
CHUNK = 50  # messages settled per command; also bounds each response to a few dozen lines


def utcnow() -> datetime:
    return datetime.now(UTC)


async def nothing_after_commit(spooled: Spooled) -> None:
    """The default hook: the spooled mail waits for whatever processes the spool."""


@dataclass(frozen=True)
class Inbox:
    """Where the pollers put what they fetch: the spool and `imap_state` in `store`, and the
    hook run after each spool commit."""

    store: Store
    after_commit: AfterCommit
    max_message_bytes: int
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class Pacing:
    """How a poller paces itself: the backoff between reconnects, and how long one IDLE lasts
    before it is renewed (RFC 2177 §3: servers may drop a client idle for 30 minutes)."""

    backoff_first_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    idle_renew_seconds: float = 25 * 60.0

    def backoff(self, failures: int, jitter: float) -> float:
        """The wait after the `failures`-th failure in a row: doubling from the first up to
        the max, of which `jitter` (0..1) takes between half and all, so pollers that failed
        together do not come back together."""
        doubled = self.backoff_first_seconds * 2 ** min(failures - 1, 32)
        return min(self.backoff_max_seconds, doubled) * (0.5 + 0.5 * jitter)


async def poll_imap(
    settings: Settings,
    store: Store,
    stop: asyncio.Event,
    after_commit: AfterCommit = nothing_after_commit,
) -> None:
    """The IMAP service: one poller per `[[imap]]` account until `stop` is set; a message in
    hand is finished (spooled and settled) first."""
    inbox = Inbox(store, after_commit, settings.ingest.max_message_bytes)
    await asyncio.gather(
        stop.wait(),  # a service runs until stopped, also with no account to poll
        *(poll_account(account, inbox, stop) for account in settings.imap),
    )


async def poll_account(
    account: ImapAccount, inbox: Inbox, stop: asyncio.Event, pacing: Pacing = Pacing()
) -> None:
    token = AccessToken(account) if account.auth is ImapAuth.XOAUTH2 else None
    failures = 0

    def working() -> None:
        nonlocal failures
        failures = 0

    while not stop.is_set():
        try:
            await _session(account, inbox, stop, token, pacing, working)
        except Exception as exc:  # noqa: BLE001 - logged; the poller reconnects
            failures += 1
            delay = pacing.backoff(failures, random.random())
            _log_failure(account, exc, delay)
            await _sleep(stop, delay)


async def _session(
    account: ImapAccount,
    inbox: Inbox,
    stop: asyncio.Event,
    token: AccessToken | None,
    pacing: Pacing,
    working: Callable[[], None],
) -> None:
    client = await ImapClient.connect(account)
    try:
        await _log_in(client, account, token)
        validity = await client.select(account.folder)
        after = account.after_ingest
        if after.kind is AfterKind.MOVE:
            await client.require_folder(after.folder)
        cursor = await asyncio.to_thread(
            open_cursor, inbox.store, account.name, account.folder, validity
        )
        while not stop.is_set():
            cursor = await _take_new(client, account, inbox, cursor, stop)
            working()  # a whole pass worked: the next failure starts the backoff afresh
            if not stop.is_set():
                await _wait_for_news(client, account, stop, pacing)
    finally:
        await client.close()


async def _log_in(client: ImapClient, account: ImapAccount, token: AccessToken | None) -> None:
    if token is None:
        password = await asyncio.to_thread(read_password, account)
        await client.login(account.user, password)
        return
    try:
        await client.xoauth2(account.user, await token.current())
    except ImapAuthError:
        # Access tokens expire within the hour: read it again (its refresher has written or
        # prints a new one by now) and try once more before giving up on this connection.
        await client.xoauth2(account.user, await token.refresh())


async def _take_new(
    client: ImapClient, account: ImapAccount, inbox: Inbox, cursor: Cursor, stop: asyncio.Event
) -> Cursor:
    """Spool and settle every message past the cursor, chunk by chunk; the moved cursor."""
    uids = await client.uids_after(cursor.last_uid)
    for start in range(0, len(uids), CHUNK):
        if stop.is_set():
            break
        taken, last = await _take_chunk(client, account, inbox, uids[start : start + CHUNK], stop)
        await client.settle(taken, account.after_ingest)
        if last:
            cursor = await asyncio.to_thread(advance, inbox.store, cursor, last)
    return cursor


async def _take_chunk(
    client: ImapClient, account: ImapAccount, inbox: Inbox, uids: list[int], stop: asyncio.Event
) -> tuple[list[int], int]:
    """Spool the chunk's messages in UID order until `stop`: the UIDs now in the spool, and the
    last UID dealt with (spooled, or left in the folder because it cannot be taken)."""
    taken: list[int] = []
    last = 0
    for listed in await client.sizes(uids):
        if stop.is_set():
            break
        try:
            raw = await _fetch(client, listed, inbox.max_message_bytes)
            spooled = await asyncio.to_thread(_commit, inbox, account, listed.uid, raw)
        except ImapMessageError as exc:
            log.warning("imap %s: %s; left in folder %r", account.name, exc, account.folder)
        else:
            taken.append(listed.uid)
            await _run_after_commit(inbox, account, spooled)
        last = listed.uid
    return taken, last


async def _fetch(client: ImapClient, listed: Listed, max_bytes: int) -> bytes:
    if listed.size > max_bytes:  # not even fetched: the spool would hold it only to refuse it
        raise ImapMessageError(
            f"UID {listed.uid}: {listed.size} bytes, over [ingest] max_message_bytes ({max_bytes})"
        )
    return await client.fetch(listed.uid, max_bytes)


def source_of(account: ImapAccount) -> str:
    """The spool's `source` for mail from this account."""
    return f"imap:{account.name}/{account.folder}"


def _commit(inbox: Inbox, account: ImapAccount, uid: int, raw: bytes) -> Spooled:
    """One message into the spool, in its own transaction: what settling it waits for."""
    try:
        with inbox.store.transaction() as session:
            source = source_of(account)
            return spool(session, raw, source, Envelope(), inbox.clock(), account.department)
    except sa.exc.DataError as exc:
        # The database refuses a value taken from this message: fetching it again would fail
        # again, so it must not hold up the messages behind it.
        reason = str(exc.orig).strip().splitlines()[0][:200]
        raise ImapMessageError(f"UID {uid}: the database refused it: {reason}") from exc


async def _run_after_commit(inbox: Inbox, account: ImapAccount, spooled: Spooled) -> None:
    try:
        await inbox.after_commit(spooled)
    except Exception as exc:  # noqa: BLE001 - the mail is safe in the spool; settle it anyway
        log.warning("imap %s: after spooling entry %d: %s", account.name, spooled.inbound_id, exc)


async def _wait_for_news(
    client: ImapClient, account: ImapAccount, stop: asyncio.Event, pacing: Pacing
) -> None:
    if client.can_idle:
        await client.idle(stop, pacing.idle_renew_seconds)
    else:
        await _sleep(stop, account.poll_seconds)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _log_failure(account: ImapAccount, exc: Exception, delay: float) -> None:
    """One line per failure; a traceback only for what maild did not foresee, at debug level."""
    if isinstance(exc, MaildError):
        reason = str(exc)
    elif isinstance(exc, sa.exc.DBAPIError):
        reason = f"database: {str(exc.orig).strip().splitlines()[0][:200]}"
    else:
        reason = f"unexpected {type(exc).__name__}: {exc}"
    log.warning(
        "imap %s: %s; reconnecting in %.1fs",
        account.name,
        reason,
        delay,
        exc_info=log.isEnabledFor(logging.DEBUG),
    )
