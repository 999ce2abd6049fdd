"""Where delivered mail goes: an SMTP relay (aiosmtplib) or, with no relay, `.eml` files.

The worker sees one small interface; aiosmtplib's exceptions are translated here, at the edge,
into `DeliveryFailed` (permanent for a 5xx answer, temporary for a 4xx answer or a broken
connection), so nothing of the library leaks inward (STYLE: httpx's transports).

Addresses reach the relay in their ASCII form when they have one (an IDN domain in A-labels).
A mail that needs SMTPUTF8 (RFC 6531: a UTF-8 local part, UTF-8 address headers) is sent with
it when the relay offers it; otherwise it fails for good, saying why, since no retry to that
relay can succeed.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from maild.addresses import ascii_form
from maild.errors import ConfigError, DeliveryFailed
from maild.settings import OutboundSettings
from maild.values import RelaySecurity


@dataclass(frozen=True)
class Envelope:
    """One mail to hand over: VERP sender, RCPT TO addresses, bytes, and a name for files."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    name: str


class Transport(Protocol):
    async def send(self, envelope: Envelope) -> tuple[str, ...]:
        """Hand the mail over; return the recipients refused for good while others were
        accepted. Raises DeliveryFailed when the mail was not taken."""

    async def close(self) -> None: ...


class DirectoryTransport:
    """`make run` without a relay: each mail becomes `<dir>/<name>.eml`, written whole (a
    temporary file renamed), with a `Return-Path` for the envelope sender."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    async def send(self, envelope: Envelope) -> tuple[str, ...]:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{envelope.name}.eml"
        temporary = target.with_suffix(".tmp")
        trace = f"Return-Path: <{envelope.sender}>\r\n".encode()
        try:
            with temporary.open("wb") as handle:
                handle.write(trace + envelope.raw)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(target)
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {target}: {exc.strerror}", False) from exc
        return ()

    async def close(self) -> None:
        return None


class RelayTransport:
    """An SMTP relay, one connection kept open across mails and opened again when it drops."""

    def __init__(self, settings: OutboundSettings) -> None:
        host, _, port = settings.relay.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.settings = settings
        self.password = relay_password(settings)
        self.client: aiosmtplib.SMTP | None = None

    async def send(self, envelope: Envelope) -> tuple[str, ...]:
        wire = {_wire_address(r): r for r in envelope.recipients}
        try:
            client = await self._connected()
            options = await self._mail_options(client, envelope)
            sender = _wire_address(envelope.sender)
            refused, _ = await client.sendmail(
                sender, list(wire), envelope.raw, mail_options=options
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            await self._drop()
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            permanent = _all_permanent(codes)
            raise DeliveryFailed(f"every recipient refused: {reason}", permanent) from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._drop()
            permanent = 500 <= exc.code < 600 and not isinstance(exc, _CONFIG_FAULTS)
            raise DeliveryFailed(f"relay answered {exc.code} {exc.message}", permanent) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise DeliveryFailed(f"relay connection failed: {exc}", False) from exc
        except ValueError as exc:  # aiosmtplib refuses an address no SMTP command may carry
            await self._drop()
            raise DeliveryFailed(f"cannot be sent: {exc}", True) from exc
        return tuple(sorted(wire.get(a, a) for a, r in refused.items() if 500 <= r.code < 600))

    async def _mail_options(self, client: aiosmtplib.SMTP, envelope: Envelope) -> list[str]:
        """["SMTPUTF8"] for RFC 6531 mail when the relay offers it; DeliveryFailed (permanent)
        when it does not."""
        if not needs_smtputf8(envelope):
            return []
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # what the relay offers is known after EHLO
        if client.supports_extension("smtputf8"):
            return ["SMTPUTF8"]
        names = [a for a in (envelope.sender, *envelope.recipients) if ascii_form(a) is None]
        which = ", ".join(names) if names else "an address in its headers"
        raise DeliveryFailed(
            f"cannot be sent: {which} has no ASCII form, so the mail needs SMTPUTF8 (RFC 6531),"
            f" and the relay {self.host}:{self.port} does not offer it",
            True,
        )

    async def _connected(self) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        security = self.settings.relay_security
        self.client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.settings.relay_username or None,
            password=self.password or None,
            use_tls=security is RelaySecurity.TLS,
            start_tls=security is RelaySecurity.STARTTLS,
            tls_context=_tls_context(self.settings.relay_ca_file),
            timeout=self.settings.relay_timeout_seconds,
        )
        await self.client.connect()
        return self.client

    async def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


# A relay refusing our login or our TLS is our configuration, not the mail's fault: retried.
_CONFIG_FAULTS = (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPHeloError)


def needs_smtputf8(envelope: Envelope) -> bool:
    """An address without an ASCII form, or UTF-8 in the bytes (address headers, RFC 6532)."""
    addresses = (envelope.sender, *envelope.recipients)
    return any(ascii_form(a) is None for a in addresses) or not envelope.raw.isascii()


def _wire_address(address: str) -> str:
    return ascii_form(address) or address


def _all_permanent(codes: list[int]) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)


def _tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file or None)


def relay_password(settings: OutboundSettings) -> str:
    """The relay password: `relay_password` (or MAILD_OUTBOUND_RELAY_PASSWORD), else the first
    line of `relay_password_file`."""
    if settings.relay_password or not settings.relay_password_file:
        return settings.relay_password
    try:
        return Path(settings.relay_password_file).read_text().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        where = settings.relay_password_file
        raise ConfigError("[outbound]", "relay_password_file", f"cannot read {where}") from exc


def build_transport(settings: OutboundSettings) -> Transport:
    if settings.relay:
        return RelayTransport(settings)
    return DirectoryTransport(settings.outbox_dir)
