"""The IMAP client the poller uses: the only module that imports aioimaplib.

Like httpx's transports, it offers the few operations the poller needs and turns everything
aioimaplib, asyncio and the socket raise into maild's `ImapError` family, so nothing of the
library leaks inward. Every await is bounded by the account's timeout and gives up at once when
the connection drops (aioimaplib would otherwise wait for an answer that cannot come).

Responses are kept to a few dozen lines: aioimaplib handles the lines of one network read
recursively, and a response of thousands of lines overflows the stack and hangs the command.
So new mail is found with one `UID SEARCH` line and sizes are asked for in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from aioimaplib import aioimaplib as imap

from maild.errors import ImapAuthError, ImapError, ImapMessageError
from maild.ingest.imap import wire
from maild.settings import AfterIngest, AfterKind, ImapAccount, ImapSecurity

T = TypeVar("T")
LOGOUT_SECONDS = 5.0
FETCH_TIMEOUT_FACTOR = 10  # a whole message may take longer than one answer; stalls still fail
_LIBRARY_ERRORS = (imap.AioImapException, OSError, ValueError, UnicodeError)

# aioimaplib logs every line it sends and receives at DEBUG: whole messages, and the base64
# XOAUTH2 string that holds the access token (its scrubbing misses the encoded form).
logging.getLogger("aioimaplib").setLevel(logging.INFO)


class _Protocol(imap.IMAP4ClientProtocol):
    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if command is not None and command.name == "AUTHENTICATE":
            # A refused XOAUTH2 token comes back as a challenge carrying the error (RFC 7628
            # §3.2.3; Google and Microsoft do the same): the client answers with an empty line,
            # then the server says NO. aioimaplib would leave the challenge unanswered.
            self.send("")
            return
        super()._continuation(line)


class _Connection(imap.IMAP4):
    """aioimaplib's client, speaking through the protocol above."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        running = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(running, conn_lost_cb)
        connect = running.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        self._client_task = running.create_task(connect)


def tls_context(account: ImapAccount) -> ssl.SSLContext:
    """Certificate and host name checked against the system's CAs, or `ca_file`'s."""
    try:
        return ssl.create_default_context(cafile=account.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ImapError(f"cannot load ca_file {account.ca_file}: {exc}") from exc


class ImapClient:
    """One connection to the account's server."""

    def __init__(self, account: ImapAccount) -> None:
        self._account = account
        self._timeout = float(account.timeout_seconds)
        self._lost = asyncio.Event()
        self._conn = _Connection(
            account.host,
            account.server_port,
            timeout=self._timeout,
            conn_lost_cb=lambda _exc: self._lost.set(),
            ssl_context=tls_context(account) if account.security is ImapSecurity.TLS else None,
        )

    @classmethod
    async def connect(cls, account: ImapAccount) -> ImapClient:
        """Connected, greeted and, with `starttls`, encrypted; not yet logged in."""
        client = cls(account)
        try:
            await client._call(client._conn.wait_hello_from_server(), "connect")
            if account.security is ImapSecurity.STARTTLS:
                await client._starttls()
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def can_idle(self) -> bool:
        return self._conn.has_capability("IDLE")

    async def _starttls(self) -> None:
        protocol = self._conn.protocol
        if "STARTTLS" not in protocol.capabilities:
            # Never fall back to plaintext: the password would follow.
            raise ImapError('the server does not offer STARTTLS; try security = "tls"')
        command = imap.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _expect_ok(await self._call(protocol.execute(command), "STARTTLS"), "STARTTLS")
        loop = asyncio.get_running_loop()
        handshake = loop.start_tls(
            protocol.transport,
            protocol,
            tls_context(self._account),
            server_hostname=self._account.host,
        )
        protocol.transport = await self._call(handshake, "TLS handshake")
        # RFC 3501 §6.2.1: what was announced before TLS is forgotten and asked again.
        await self._call(protocol.capability(), "CAPABILITY")

    async def login(self, user: str, password: str) -> None:
        response = await self._call(self._conn.login(wire.quoted(user), password), "LOGIN")
        await self._authenticated(response, f"the server refused the password of {user!r}")

    async def xoauth2(self, user: str, token: str) -> None:
        response = await self._call(self._conn.xoauth2(user, token), "AUTHENTICATE XOAUTH2")
        await self._authenticated(response, f"the server refused the access token of {user!r}")

    async def _authenticated(self, response: imap.Response, refused: str) -> None:
        if response.result != "OK":
            raise ImapAuthError(f"{refused}: {_said(response)}")
        # What the server offers (IDLE, MOVE, UIDPLUS) may grow after login.
        await self._call(self._conn.protocol.capability(), "CAPABILITY")

    async def select(self, folder: str) -> int:
        """Open `folder` read-write; its UIDVALIDITY."""
        response = await self._call(self._conn.select(wire.mailbox_name(folder)), "SELECT")
        if response.result != "OK":
            raise ImapError(f"cannot open folder {folder!r}: {_said(response)}")
        validity = wire.uidvalidity(response.lines)
        if validity is None:  # RFC 3501 §6.3.1 makes it mandatory
            raise ImapError(f"the server gave no UIDVALIDITY for folder {folder!r}")
        return validity

    async def require_folder(self, folder: str) -> None:
        response = await self._call(
            self._conn.status(wire.mailbox_name(folder), "(UIDNEXT)"), "STATUS"
        )
        if response.result != "OK":
            raise ImapError(f"folder {folder!r} cannot be used: {_said(response)}")

    async def uids_after(self, uid: int) -> list[int]:
        """The UIDs of the selected folder past `uid`, ascending."""
        search = self._conn.uid_search(f"UID {uid + 1}:*", charset=None)
        response = _expect_ok(await self._call(search, "UID SEARCH"), "UID SEARCH")
        return wire.searched(response.lines, uid)

    async def sizes(self, uids: Iterable[int]) -> list[wire.Listed]:
        wanted = list(uids)
        listing = self._conn.uid("fetch", wire.uid_set(wanted), "(UID RFC822.SIZE)")
        response = _expect_ok(await self._call(listing, "UID FETCH"), "UID FETCH")
        return wire.listed(response.lines, wanted)

    async def fetch(self, uid: int, max_bytes: int) -> bytes:
        """The message's bytes, leaving it unseen (BODY.PEEK). At most `max_bytes + 1` are
        asked for, so a server that understates a size cannot make us hold more."""
        parts = f"(UID BODY.PEEK[]<0.{max_bytes + 1}>)"
        fetching = self._conn.uid("fetch", str(uid), parts)
        timeout = self._timeout * FETCH_TIMEOUT_FACTOR
        response = await self._call(fetching, f"UID FETCH {uid}", timeout)
        if response.result != "OK":
            raise ImapMessageError(f"UID {uid}: the server refused it: {_said(response)}")
        body = wire.fetched_body(response.lines, uid)
        if body is None:
            raise ImapMessageError(f"UID {uid}: the server sent no message (expunged meanwhile?)")
        if len(body) > max_bytes:
            raise ImapMessageError(f"UID {uid}: over [ingest] max_message_bytes ({max_bytes})")
        return body

    async def settle(self, uids: list[int], after: AfterIngest) -> None:
        """Mark messages the spool holds as `after` says: \\Seen, moved, or deleted."""
        if not uids:
            return
        where = wire.uid_set(uids)
        if after.kind is AfterKind.SEEN:
            await self._store(where, r"(\Seen)")
        elif after.kind is AfterKind.MOVE and self._conn.has_capability("MOVE"):
            await self._uid("move", where, wire.mailbox_name(after.folder))
        else:
            if after.kind is AfterKind.MOVE:  # RFC 6851 §3.3: MOVE is COPY, then delete
                await self._uid("copy", where, wire.mailbox_name(after.folder))
            await self._store(where, r"(\Deleted)")
            await self._expunge(where)

    async def _store(self, where: str, flags: str) -> None:
        await self._uid("store", where, "+FLAGS.SILENT", flags)

    async def _expunge(self, where: str) -> None:
        if self._conn.has_capability("UIDPLUS"):
            await self._uid("expunge", where)
        else:
            # Without UIDPLUS (RFC 4315) EXPUNGE removes every \Deleted message of the folder.
            _expect_ok(await self._call(self._conn.expunge(), "EXPUNGE"), "EXPUNGE")

    async def _uid(self, command: str, *args: str) -> None:
        what = f"UID {command.upper()}"
        _expect_ok(await self._call(self._conn.uid(command, *args), what), what)

    async def idle(self, stop: asyncio.Event, renew: float) -> None:
        """Wait in IDLE (RFC 2177) until the server reports a change, `stop` is set or `renew`
        seconds have passed; then end the IDLE."""
        idling = await self._call(self._conn.idle_start(timeout=renew), "IDLE")
        push = asyncio.ensure_future(self._conn.wait_server_push(timeout=renew + self._timeout))
        waits = [push, asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._lost.wait())]
        try:
            await asyncio.wait(waits, timeout=renew, return_when=asyncio.FIRST_COMPLETED)
        finally:
            _settle(waits)
        if self._lost.is_set():
            idling.cancel()
            raise ImapError("IDLE: the server closed the connection")
        self._conn.idle_done()
        _expect_ok(await self._call(idling, "IDLE (DONE)"), "IDLE")

    async def close(self) -> None:
        """Log out when the connection still works, and let go of it in any case."""
        if not self._lost.is_set() and self._conn.get_state() in (imap.AUTH, imap.SELECTED):
            with contextlib.suppress(ImapError):  # leaving anyway
                await self._call(self._conn.logout(), "LOGOUT", LOGOUT_SECONDS)
        self._conn._client_task.cancel()
        transport = self._conn.protocol.transport
        if transport is not None:
            transport.close()

    async def _call(self, awaitable: Awaitable[T], what: str, timeout: float | None = None) -> T:
        """`awaitable`'s result, or an `ImapError` when it fails, times out or the connection
        drops first."""
        limit = timeout or self._timeout
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=limit, return_when="FIRST_COMPLETED")
        finally:
            _settle([lost] if task.done() else [task, lost])
        if task in done:
            try:
                return task.result()
            except _LIBRARY_ERRORS as exc:
                raise ImapError(f"{what}: {_describe(exc)}") from exc
        if lost in done:
            raise ImapError(f"{what}: the server closed the connection")
        raise ImapError(f"{what}: no answer within {limit:.0f}s")


def _settle(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what still runs; collect what ended, so no error is reported as unretrieved."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()


def _expect_ok(response: imap.Response, what: str) -> imap.Response:
    if response.result != "OK":
        raise ImapError(f"{what} failed: {_said(response)}")
    return response


def _said(response: imap.Response) -> str:
    """The server's text, printable and short: it goes into one log line."""
    last = response.lines[-1] if response.lines else b""
    text = bytes(last[:200]).decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text) or response.result


def _describe(exc: BaseException) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(exc)[:200])
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
