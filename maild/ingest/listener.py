"""The SMTP and LMTP listeners: aiosmtpd sessions on a TCP port and a Unix socket, started and
stopped with the daemon.

aiosmtpd answers some refusals itself, before any hook runs (a SIZE over the limit at MAIL, too
much data); `_Session` gives those replies their RFC 3463 enhanced codes and,
for LMTP, one copy per recipient. `Listener.close` stops accepting, lets every DATA that is being
committed get its answer, then tells the remaining sessions 421 and closes them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from maild.errors import ConfigError
from maild.ingest.authdns import SenderCheck
from maild.ingest.intake import Intake
from maild.ingest.smtp import ContentLimits, MailHandler, Recipients
from maild.settings import Settings

log = logging.getLogger("maild.smtp")

SHUTTING_DOWN = b"421 4.3.2 Service shutting down; try again later\r\n"
TOO_BUSY = b"421 4.7.0 Too many connections; try again later\r\n"
# aiosmtpd's own refusals -> the same refusal with an RFC 3463 enhanced status code.
DATA_REFUSALS = {
    "552 Error: message size exceeds fixed maximum message size":
        "552 5.3.4 Message size exceeds fixed maximum message size",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum message size",
}  # fmt: skip
_AFTER_DATA = {"552 Error: Too much mail data"}


@dataclass(frozen=True)
class SessionOptions:
    """What every session of one listener is built with."""

    hostname: str
    max_message_bytes: int
    timeout_seconds: float
    tls: ssl.SSLContext | None = None
    proxy_protocol: bool = False


class _Session:
    """Mixed into aiosmtpd's session classes: enhanced codes for the library's own replies, and
    the listener's count of open sessions. `Listener` makes a subclass per listener with the
    class attributes set (aiosmtpd reads `line_length_limit` while it is constructed)."""

    line_length_limit: int
    open_sessions: set[Any]
    envelope: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.open_sessions.add(self)
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        self.open_sessions.discard(self)
        super().connection_lost(error)  # type: ignore[misc]

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if text in DATA_REFUSALS:
            reply = DATA_REFUSALS[text]
            # RFC 2033 §4.2: an LMTP client waits for one reply per recipient after DATA.
            copies = len(self.envelope.rcpt_tos) if self._per_recipient(text) else 1
            text = "\r\n".join([reply] * max(copies, 1))
        await super().push(text)  # type: ignore[misc]

    def _per_recipient(self, text: str) -> bool:
        return isinstance(self, LMTP) and text in _AFTER_DATA


class _SmtpSession(_Session, SMTP):
    pass


class _LmtpSession(_Session, LMTP):
    pass


class _Refuse(asyncio.Protocol):
    """A connection over `max_connections`: told 421 and closed (RFC 5321 §3.1)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(TOO_BUSY)
        transport.close()


class Listener:
    """One listening socket and its open sessions."""

    def __init__(self, handler: MailHandler, options: SessionOptions, max_connections: int) -> None:
        self.handler = handler
        self.options = options
        self.max_connections = max_connections
        self.sessions: set[SMTP] = set()
        self.server: asyncio.Server | None = None

    async def start_tcp(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._factory(_SmtpSession), host, port)

    async def start_unix(self, path: str) -> None:
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # left by a process that did not close it (a crash, a SIGKILL)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(self._factory(_LmtpSession), path)
        # Postfix's lmtp client runs as another user: the socket's group (systemd's
        # `Group=`, the directory's set-group-id bit) may write to it, others may not.
        os.chmod(path, 0o660)

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def _factory(self, base: type[SMTP]) -> Callable[[], asyncio.BaseProtocol]:
        options = self.options
        attributes = {
            # aiosmtpd cuts "lines" at CRLF only, so a mail written with bare LF would be one
            # long line: its reader may hold a whole mail (what DATA holds anyway), and the
            # handler measures lines as mail parsers read them (`content_refusal`).
            "line_length_limit": options.max_message_bytes + 2,
            "open_sessions": self.sessions,
        }
        cls = type(base.__name__, (base,), attributes)

        def build() -> asyncio.BaseProtocol:
            if len(self.sessions) >= self.max_connections:
                return _Refuse()
            return cls(
                self.handler,
                hostname=options.hostname,
                data_size_limit=options.max_message_bytes,
                enable_SMTPUTF8=True,
                tls_context=options.tls,
                timeout=options.timeout_seconds,
                proxy_protocol_timeout=options.timeout_seconds if options.proxy_protocol else None,
            )

        return build

    async def close(self, grace_seconds: float) -> None:
        """Stop accepting; let DATA commands being committed get their answer (within
        `grace_seconds`); then tell every remaining session 421 and close it."""
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self.handler.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self.sessions):
            transport = session.transport
            if transport is not None and not transport.is_closing():
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(SHUTTING_DOWN)
                transport.close()
        if self.server is not None:
            await self.server.wait_closed()


def tls_context(cert: str, key: str, source: str) -> ssl.SSLContext | None:
    """The server context for STARTTLS, or None when no certificate is configured."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(source, "smtp.tls_cert", f"cannot load {cert} and {key}: {exc}") from exc
    return context


def host_name(configured: str) -> str:
    """The name in the greeting: configured, else this machine's FQDN (looked up once, not
    per connection as aiosmtpd would)."""
    return configured or socket.getfqdn()


@dataclass(frozen=True)
class MailServices:
    """What the listeners of one `maild serve` share: one spool intake and one recipient check."""

    intake: Intake
    recipients: Recipients


async def run_listeners(
    settings: Settings, shared: MailServices, stop: asyncio.Event, grace_seconds: float
) -> None:
    """Serve SMTP on `[smtp] listen` and LMTP on `[lmtp] socket` (as configured) until `stop`
    is set; then close them and wait until every mail they handed over is committed."""
    listeners: list[Listener] = []
    try:
        if settings.smtp.enabled:
            listeners.append(smtp := _listener(settings, shared, lmtp=False))
            host, _, port = settings.smtp.listen.rpartition(":")
            with _listening(settings.source, "smtp.listen", settings.smtp.listen):
                await smtp.start_tcp(host.strip("[]"), int(port))
        if settings.lmtp.socket:
            listeners.append(lmtp := _listener(settings, shared, lmtp=True))
            with _listening(settings.source, "lmtp.socket", settings.lmtp.socket):
                await lmtp.start_unix(settings.lmtp.socket)
        await stop.wait()
    finally:
        await asyncio.gather(*(listener.close(grace_seconds) for listener in listeners))
        await shared.intake.drain()


@contextmanager
def _listening(source: str, key: str, where: str) -> Iterator[None]:
    """A port in use or a missing directory is the admin's to fix: a one-line config error."""
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(source, key, f"cannot listen on {where}: {reason}") from exc
    log.info("%s listening on %s", "LMTP" if key.startswith("lmtp") else "SMTP", where)


def _listener(settings: Settings, shared: MailServices, lmtp: bool) -> Listener:
    smtp, limits = settings.smtp, settings.ingest
    content = ContentLimits(limits.max_header_bytes, limits.max_headers, smtp.max_line_bytes)
    check = SenderCheck(settings.auth) if settings.auth.check_dns and not lmtp else None
    handler = MailHandler(
        shared.intake, shared.recipients, content, smtp.max_recipients, lmtp, sender_check=check
    )
    options = SessionOptions(
        hostname=host_name(smtp.hostname),
        max_message_bytes=limits.max_message_bytes,
        timeout_seconds=smtp.timeout_seconds,
        # A Unix socket has neither a network to encrypt nor a balancer in front.
        tls=None if lmtp else tls_context(smtp.tls_cert, smtp.tls_key, settings.source),
        proxy_protocol=smtp.proxy_protocol and not lmtp,
    )
    return Listener(handler, options, smtp.max_connections)
