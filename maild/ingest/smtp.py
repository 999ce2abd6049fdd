"""The SMTP/LMTP handler: who may receive, which limits hold, and the spool commit before 250.

aiosmtpd speaks the protocol; this handler only answers its hooks (aiosmtpd's model: a thin
object whose `handle_DATA` returns a status line). The same handler serves SMTP and LMTP; for
LMTP, DATA gets one reply per accepted recipient (RFC 2033 §4.2), also when the spool fails, so
a client waiting for the second reply never hangs.

Every reply carries an RFC 3463 enhanced status code. Nothing is processed here: the mail is
committed to the spool (`Intake`), answered, and left to the pipeline worker.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from maild.addresses import normal_form
from maild.errors import StorageError
from maild.ingest.authdns import SenderCheck
from maild.ingest.authn import Peer, SenderAuth
from maild.ingest.intake import Intake
from maild.ingest.spool import Envelope
from maild.mailids import parse_verp
from maild.store.db import Store
from maild.store.models import DepartmentAddress

log = logging.getLogger("maild.smtp")

OK_QUEUED = "250 2.0.0 OK: queued as {id}"
OK_DUPLICATE = "250 2.0.0 OK: already received as {id}"
TRY_AGAIN = "451 4.3.0 Temporary failure storing the message; try again later"
NO_SUCH_USER = "550 5.1.1 <{address}>: no such recipient here"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
RECIPIENT_OK = "250 2.1.5 OK"
# Larger mails are checked off the event loop (a 25 MB mail takes a fifth of a second).
_CHECK_IN_THREAD = 256 * 1024


@dataclass(frozen=True)
class ContentLimits:
    """DESIGN §3's limits checked before the spool commit; the pipeline checks the rest."""

    max_header_bytes: int
    max_headers: int
    max_line_bytes: int  # with its line ending


def content_refusal(raw: bytes, limits: ContentLimits) -> str | None:
    """The 5xx reply for a mail over the header or line limits, or None."""
    return _header_refusal(raw, limits) or _line_refusal(raw, limits.max_line_bytes)


def _header_refusal(raw: bytes, limits: ContentLimits) -> str | None:
    """Reads at most the first `max_header_bytes` (and a few) bytes of the mail."""
    window = raw[: limits.max_header_bytes + 4]
    end = _blank_line(window)
    block = window[:end] if end is not None else window
    if end is None and len(raw) > limits.max_header_bytes:
        return f"552 5.3.4 Header block larger than {limits.max_header_bytes} bytes"
    # A field starts on a line that does not begin with white space (RFC 5322 §2.2.3).
    fields = len(re.findall(rb"(?:^|\n)[^ \t\r\n]", block))
    if fields > limits.max_headers:
        return f"552 5.3.4 More than {limits.max_headers} header fields"
    return None


def _line_refusal(raw: bytes, max_line_bytes: int) -> str | None:
    """RFC 5321 §4.5.3.1.6: 998 characters and CRLF. A bare LF or CR ends a line too (as mail
    parsers read it), so a mail written with LF line endings is measured line by line."""
    # Every byte but CR and LF made the same letter: a line too long is a run of that letter,
    # found by a substring search (linear, and fast on 25 MB; a regex tries every position).
    if _LETTER * (max_line_bytes - 1) not in raw.translate(_LINE_BYTES):
        return None
    return f"500 5.5.2 Line longer than {max_line_bytes - 2} characters (RFC 5321 §4.5.3.1.6)"


_LETTER = b"a"
_LINE_BYTES = bytes(b if b in b"\r\n" else _LETTER[0] for b in range(256))


def _blank_line(window: bytes) -> int | None:
    """Where the header block ends (the index of its empty line), bare LF allowed."""
    found = [i for i in (window.find(b"\n\r\n"), window.find(b"\n\n")) if i >= 0]
    if window.startswith((b"\r\n", b"\n")):
        return 0
    return min(found) + 1 if found else None


def accepts_recipient(address: str, departments: frozenset[str], bounce_domain: str) -> bool:
    """DESIGN §1: an unknown recipient is refused at RCPT. Ours are the department addresses
    and the VERP bounce address `bounces+TOKEN@<outbound.domain>` (DESIGN §2)."""
    address = normal_form(address)  # as department addresses are stored: IDN in U-labels
    if address in departments:
        return True
    _, _, domain = address.rpartition("@")
    return parse_verp(address) is not None and domain == normal_form(bounce_domain)


class Recipients:
    """The department addresses, read from the database and re-read every `refresh_seconds`
    (departments added through the API or `config apply` are served without a restart)."""

    def __init__(self, store: Store, bounce_domain: str, refresh_seconds: float = 30.0) -> None:
        self.store = store
        self.bounce_domain = bounce_domain
        self.refresh_seconds = refresh_seconds
        self._addresses: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def accepts(self, address: str) -> bool:
        async with self._lock:
            if time.monotonic() - self._loaded_at > self.refresh_seconds:
                self._addresses = await asyncio.to_thread(self._load)
                self._loaded_at = time.monotonic()
        return accepts_recipient(address, self._addresses, self.bounce_domain)

    def _load(self) -> frozenset[str]:
        with self.store.sessions() as session:
            return frozenset(session.scalars(sa.select(DepartmentAddress.address)))


class MailHandler:
    """aiosmtpd's hooks for SMTP and LMTP sessions."""

    def __init__(
        self,
        intake: Intake,
        recipients: Recipients,
        limits: ContentLimits,
        max_recipients: int,
        lmtp: bool = False,
        sender_check: SenderCheck | None = None,
    ) -> None:
        self.intake = intake
        # SPF/DKIM/DMARC at receive time, where the client IP is known (`[auth] check_dns`).
        self.sender_check = sender_check
        self.recipients = recipients
        self.limits = limits
        self.max_recipients = max_recipients
        self.lmtp = lmtp
        self.in_flight = 0  # DATA commands being committed; shutdown waits for them

    async def handle_EHLO(
        self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        session.host_name = hostname
        # No AUTH: maild receives mail for its own addresses and relays nothing.
        kept = [r for r in responses[:-1] if not r.startswith("250-AUTH")]
        return [*kept, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_PROXY(self, server: SMTP, session: SmtpSession, env: Any, data: Any) -> bool:
        # Only enabled behind a load balancer the admin runs; its header names the client.
        return True

    async def handle_MAIL(
        self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return TOO_MANY_RECIPIENTS
        try:
            accepted = await self.recipients.accepts(address)
        except Exception as exc:  # noqa: BLE001 - the database is away: try again later
            log.error("cannot read department addresses: %s", exc)
            return "451 4.3.0 Temporary failure checking the recipient; try again later"
        if not accepted:
            return NO_SUCH_USER.format(address=_printable(address))
        envelope.rcpt_tos.append(address)
        return RECIPIENT_OK

    async def handle_RSET(self, server: SMTP, session: SmtpSession, envelope: Any) -> str:
        return "250 2.0.0 OK"

    async def handle_NOOP(self, server: SMTP, session: SmtpSession, envelope: Any, arg: str) -> str:
        return "250 2.0.0 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        self.in_flight += 1
        try:
            reply = await self._store(session, envelope)
        finally:
            self.in_flight -= 1
        # RFC 2033 §4.2: after DATA, LMTP answers once per accepted recipient.
        return "\r\n".join([reply] * len(envelope.rcpt_tos)) if self.lmtp else reply

    async def _store(self, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > _CHECK_IN_THREAD:
            refusal = await asyncio.to_thread(content_refusal, raw, self.limits)
        else:
            refusal = content_refusal(raw, self.limits)
        if refusal is not None:
            log.info("refused mail from %s: %s", source_of(session, self.lmtp), refusal)
            return refusal
        mail_from = envelope.mail_from if envelope.mail_from != "<>" else ""
        auth = await self._authenticate(session, raw, mail_from or "")
        try:
            spooled = await self.intake.receive(
                raw,
                source_of(session, self.lmtp),
                Envelope(mail_from, tuple(envelope.rcpt_tos)),
                auth,
            )
        except StorageError:
            return TRY_AGAIN
        except Exception:  # a bug must not kill the session nor leave an LMTP client waiting
            log.exception("unexpected error storing a mail")
            return TRY_AGAIN
        if spooled.duplicate:
            log.info("duplicate of spool entry %d from %s", spooled.inbound_id, session.peer)
            return OK_DUPLICATE.format(id=spooled.inbound_id)
        return OK_QUEUED.format(id=spooled.inbound_id)

    async def _authenticate(
        self, session: SmtpSession, raw: bytes, mail_from: str
    ) -> SenderAuth | None:
        """The sender verdict, taken off the event loop and before the spool transaction (DNS
        may be slow; no lock is held meanwhile). None for LMTP: the MTA in front saw the
        client, and its trusted Authentication-Results are read when the mail is processed."""
        if self.sender_check is None or self.lmtp:
            return None
        peer = Peer(ip=client_ip(session), helo=session.host_name or "", mail_from=mail_from)
        return await self.sender_check.check_in_thread(raw, peer)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer "500 Error: (TypeName) text": no internals to the client.
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        return "451 4.3.0 Internal error; try again later"


def source_of(session: SmtpSession, lmtp: bool) -> str:
    """The spool's `source`: the client's address (behind a PROXY header, the one it names)."""
    if lmtp:
        return "lmtp"
    host = client_ip(session)
    return f"smtp:{host}" if host else "smtp"


def client_ip(session: SmtpSession) -> str:
    """The client's IP address (behind a PROXY header, the one it names); "" when unknown."""
    proxy = session.proxy_data
    peer: Any = proxy.src_addr if proxy is not None and proxy.src_addr else session.peer
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    return str(host) if host else ""  # an IP address object or a string


def _printable(text: str) -> str:
    return "".join(c if " " < c < "\x7f" else "?" for c in text)[:320]
