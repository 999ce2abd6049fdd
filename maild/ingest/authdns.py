"""SPF, DKIM and DMARC over DNS, for a mail still in its SMTP session (the IP is known there).

Runs in a worker thread before the spool commit, never inside a database transaction: a slow
DNS server must not hold locks. Every lookup is bounded by `[auth] timeout_seconds`; SPF keeps
RFC 7208 §4.6.4's limits (10 lookups, 2 void lookups) through pyspf, DKIM verifies at most
`MAX_SIGNATURES` signatures (dkimpy), and DMARC reads at most two `_dmarc` records. The
resolver is `[auth] nameserver`/`port` (tests point it at a DNS server on loopback), else the
system's. Library errors stay here: the result is always a `SenderAuth`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import dkim
import dns.exception
import dns.resolver
import spf

from maild.ingest.addresses import parse_mailboxes
from maild.ingest.authn import (
    AuthResult,
    DmarcRecord,
    Method,
    Peer,
    SenderAuth,
    dmarc_verdict,
    domain_of,
    organizational_domain,
    parse_dmarc_record,
)
from maild.settings import AuthSettings

log = logging.getLogger("maild.authn")

MAX_SIGNATURES = 3
CHECK_THREADS = 16
_HEADER_WINDOW = 256 * 1024
_TXT_CHARS = 4096

# pyspf finds its DNS function as a module global, with no resolver of its own; the one of the
# check running in this thread is handed to it through a context variable.
_SPF_RESOLVER: ContextVar[dns.resolver.Resolver | None] = ContextVar("spf_resolver", default=None)


class _DnsTrouble(Exception):
    """A lookup timed out or no server answered: a temporary error, not an answer."""


def make_resolver(settings: AuthSettings) -> dns.resolver.Resolver:
    if settings.nameserver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [settings.nameserver]
        resolver.port = settings.port
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = resolver.lifetime = settings.timeout_seconds
    return resolver


class SenderCheck:
    """The receive-time checks, with one resolver for the listener's lifetime."""

    def __init__(self, settings: AuthSettings, threads: int = CHECK_THREADS) -> None:
        self.timeout = settings.timeout_seconds
        self.resolver = make_resolver(settings)
        # Threads of their own: sessions waiting on a silent DNS server must not take the
        # default executor's few threads from the spool commits (`ingest.intake`).
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="maild-auth")

    async def check_in_thread(self, raw: bytes, peer: Peer) -> SenderAuth:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.check, raw, peer)

    def check(self, raw: bytes, peer: Peer) -> SenderAuth:
        """The verdict on `raw` as sent by `peer`. Never raises: what cannot be checked is a
        `temperror`/`permerror` in the verdict."""
        from_domain = from_header_domain(raw)
        spf_result, spf_domain = self._spf(peer)
        dkim_result, dkim_domains = self._dkim(raw)
        dmarc, policy, is_aligned = self._dmarc(from_domain, spf_result, spf_domain, dkim_domains)
        return SenderAuth(
            method=Method.SMTP,
            from_domain=from_domain,
            spf=spf_result,
            spf_domain=spf_domain,
            dkim=dkim_result,
            dkim_domains=dkim_domains,
            dmarc=dmarc,
            policy=policy,
            aligned=is_aligned,
        )

    def _spf(self, peer: Peer) -> tuple[AuthResult, str]:
        if not peer.ip:
            return AuthResult.NONE, ""
        # RFC 7208 §2.4: with the null sender, SPF checks postmaster@<HELO>.
        sender = peer.mail_from or (f"postmaster@{peer.helo}" if peer.helo else "")
        domain = domain_of(sender)
        if not domain:
            return AuthResult.NONE, ""
        token = _SPF_RESOLVER.set(self.resolver)
        try:
            helo = peer.helo or domain
            query = spf.query(i=peer.ip, s=sender, h=helo, querytime=self.timeout * 2)
            result = str(query.check()[0])
        except Exception as exc:  # noqa: BLE001 - a library bug on hostile records is permerror
            log.info("SPF check of %s failed: %s", domain, type(exc).__name__)
            result = "permerror"
        finally:
            _SPF_RESOLVER.reset(token)
        return AuthResult.of(result), domain

    def _dkim(self, raw: bytes) -> tuple[AuthResult, tuple[str, ...]]:
        try:
            verifier = dkim.DKIM(raw, logger=_QUIET, timeout=self.timeout)
            count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
        except Exception:  # noqa: BLE001 - dkimpy cannot read the mail: no signature counts
            return AuthResult.PERMERROR, ()
        if count == 0:
            return AuthResult.NONE, ()
        domains: list[str] = []
        for index in range(min(count, MAX_SIGNATURES)):
            try:
                if verifier.verify(index, dnsfunc=self._dkim_txt):
                    domains.append(verifier.domain.decode("ascii", "replace").lower())
            except Exception:  # noqa: BLE001 - a malformed signature fails, the next is tried
                continue
        return (AuthResult.PASS if domains else AuthResult.FAIL), tuple(dict.fromkeys(domains))

    def _dkim_txt(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's DNS hook: the first TXT record of `name`, its strings joined."""
        try:
            records = self._txt(name.decode("ascii", "replace"))
        except _DnsTrouble as exc:
            raise dkim.DnsTimeoutError(str(exc)) from exc
        return records[0] if records else None

    def _dmarc(
        self, from_domain: str, spf_result: AuthResult, spf_domain: str, dkims: tuple[str, ...]
    ) -> tuple[AuthResult, str, bool]:
        """(DMARC result, the policy, whether an aligned identifier passed)."""
        if not from_domain:
            return AuthResult.NONE, "", False
        try:
            record = self._dmarc_record(from_domain)
        except _DnsTrouble:
            _, is_aligned = dmarc_verdict(from_domain, None, spf_result, spf_domain, dkims)
            return AuthResult.TEMPERROR, "", is_aligned
        result, is_aligned = dmarc_verdict(from_domain, record, spf_result, spf_domain, dkims)
        return result, record.policy if record else "", is_aligned

    def _dmarc_record(self, from_domain: str) -> DmarcRecord | None:
        """RFC 7489 §6.6.3: the From domain's record, else its organisational domain's."""
        found = _first_record(self._txt(f"_dmarc.{from_domain}"), for_subdomain=False)
        organization = organizational_domain(from_domain)
        if found is None and organization != from_domain:
            found = _first_record(self._txt(f"_dmarc.{organization}"), for_subdomain=True)
        return found

    def _txt(self, name: str) -> list[bytes]:
        try:
            answer = self.resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise _DnsTrouble(f"{name}: {type(exc).__name__}") from exc
        except dns.exception.DNSException:
            return []  # a name that cannot be asked for (too long, bad labels) has no records
        return [b"".join(rdata.strings)[:_TXT_CHARS] for rdata in answer]


def _first_record(texts: list[bytes], for_subdomain: bool) -> DmarcRecord | None:
    records = [parse_dmarc_record(t.decode("ascii", "replace"), for_subdomain) for t in texts]
    valid = [r for r in records if r is not None]
    # RFC 7489 §6.6.3: more than one record is as good as none.
    return valid[0] if len(valid) == 1 else None


def from_header_domain(raw: bytes) -> str:
    """The domain of the one From mailbox (RFC 7489 §6.6.1); "" when there is none, or more
    than one, or the header cannot be read unambiguously."""
    end = _header_end(raw[:_HEADER_WINDOW])
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:end])
        values = headers.get_all("From") or []
    except Exception:  # noqa: BLE001 - an unreadable header block names no author
        return ""
    if len(values) != 1:
        return ""
    boxes, unambiguous = parse_mailboxes(str(values[0]))
    return domain_of(boxes[0].address) if unambiguous and len(boxes) == 1 else ""


def _header_end(raw: bytes) -> int:
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return min(positions) + 2 if positions else len(raw)


def _spf_lookup(name: str, qtype: str, strict: Any = True, timeout: float = 30) -> list[Any]:
    """pyspf's DNS function (its `DNSLookup` shape), asking the current check's resolver."""
    resolver = _SPF_RESOLVER.get() or dns.resolver.get_default_resolver()
    try:
        answer = resolver.resolve(name, qtype, lifetime=timeout, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise spf.TempError(f"DNS {exc}") from exc
    except dns.exception.DNSException as exc:
        raise spf.PermError(f"DNS {exc}") from exc
    return [((name, qtype), _spf_value(qtype, rdata)) for rdata in answer]


def _spf_value(qtype: str, rdata: Any) -> Any:
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange)
    if qtype == "PTR":
        return rdata.target.to_text(True)
    return rdata.strings  # TXT


spf.DNSLookup = _spf_lookup


class _Quiet(logging.Logger):
    """dkimpy logs every failed signature at error level: hostile mail would flood the log."""

    def __init__(self) -> None:
        super().__init__("maild.authn.dkim", logging.CRITICAL)


_QUIET = _Quiet()
