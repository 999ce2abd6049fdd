"""Who really wrote a mail: the SPF/DKIM/DMARC verdict as a value, and the pure decisions on it.

The DNS work (`maild.ingest.authdns`) runs where the connecting IP is known, at SMTP receive
time, and its verdict is stored with the spool row. Mail without a connection of our own (file
imports, IMAP) is judged by the `Authentication-Results` of an MTA the admin trusts
(`[auth] trusted_authserv_id`), or left "not checked". Nothing here touches the network.

DMARC (RFC 7489 §3.1, §6.6): the From domain is authenticated when SPF passes for an aligned
envelope domain or a DKIM signature of an aligned domain verifies; relaxed alignment compares
organisational domains (the Public Suffix List, shipped in `publicsuffixlist`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import authres
from publicsuffixlist import PublicSuffixList

from maild.ingest.parse import ParsedMessage

log = logging.getLogger("maild.authn")

# Bounds on what a hostile mail can make us read (STYLE: input is bounded before it is examined).
MAX_AUTH_RESULTS = 10  # Authentication-Results fields looked at
MAX_FIELD_CHARS = 4000
MAX_DKIM_DOMAINS = 5


class AuthResult(StrEnum):
    """RFC 8601 §2.7 result words, for SPF, DKIM and DMARC alike."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
    POLICY = "policy"

    @classmethod
    def of(cls, word: str) -> AuthResult:
        try:
            return cls(word.strip().lower())
        except ValueError:
            return cls.PERMERROR  # a word we do not know proves nothing


class Method(StrEnum):
    """Where a verdict comes from."""

    SMTP = "smtp"  # checked by maild at receive time
    TRUSTED_HEADER = "authres"  # a trusted MTA's Authentication-Results
    NOT_CHECKED = "none"


@dataclass(frozen=True)
class SenderAuth:
    """The verdict on one mail's sender. `aligned` is DMARC's identifier alignment: the From
    domain is vouched for by SPF or DKIM, whether or not the domain publishes a policy."""

    method: Method = Method.NOT_CHECKED
    from_domain: str = ""
    spf: AuthResult = AuthResult.NONE
    spf_domain: str = ""  # the MAIL FROM domain (or HELO) SPF judged
    dkim: AuthResult = AuthResult.NONE
    dkim_domains: tuple[str, ...] = ()  # d= of the signatures that verified
    dmarc: AuthResult = AuthResult.NONE
    policy: str = ""  # p= (or sp=) of the From domain's DMARC record; "" without one
    aligned: bool = False
    authserv_id: str = ""  # for TRUSTED_HEADER

    @property
    def unverified(self) -> bool:
        """DMARC fails: the From domain says this mail is not theirs (DESIGN: still a ticket,
        marked unverified, never answered)."""
        return self.dmarc is AuthResult.FAIL

    def vouches_for(self, address: str) -> bool:
        """True when the verdict authenticates `address`'s domain (the mail's From)."""
        domain = address.rpartition("@")[2].strip().lower().rstrip(".")
        return self.aligned and bool(domain) and domain == self.from_domain

    def summary(self) -> str:
        """One line for history, `inspect` and logs, in Authentication-Results' words."""
        if self.method is Method.NOT_CHECKED:
            return "sender not checked (no SPF/DKIM/DMARC verdict)"
        dkim = f"dkim={self.dkim.value}"
        if self.dkim_domains:
            dkim += f" (d={','.join(self.dkim_domains)})"
        policy = f" (p={self.policy})" if self.policy else ""
        verdict = "verified" if self.aligned else "unverified" if self.unverified else "unproven"
        return (
            f"{verdict}: dmarc={self.dmarc.value}{policy} header.from={self.from_domain or '-'};"
            f" spf={self.spf.value} smtp.mailfrom={self.spf_domain or '-'}; {dkim}"
            f" [{self.method.value}{':' + self.authserv_id if self.authserv_id else ''}]"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "from_domain": self.from_domain,
            "spf": self.spf.value,
            "spf_domain": self.spf_domain,
            "dkim": self.dkim.value,
            "dkim_domains": list(self.dkim_domains),
            "dmarc": self.dmarc.value,
            "policy": self.policy,
            "aligned": self.aligned,
            "authserv_id": self.authserv_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SenderAuth | None:
        """The stored verdict; None for a row that has none (not checked at receive time)."""
        if not data:
            return None
        return cls(
            method=Method(data.get("method", Method.NOT_CHECKED.value)),
            from_domain=str(data.get("from_domain", "")),
            spf=AuthResult.of(str(data.get("spf", "none"))),
            spf_domain=str(data.get("spf_domain", "")),
            dkim=AuthResult.of(str(data.get("dkim", "none"))),
            dkim_domains=tuple(str(d) for d in data.get("dkim_domains", ())),
            dmarc=AuthResult.of(str(data.get("dmarc", "none"))),
            policy=str(data.get("policy", "")),
            aligned=bool(data.get("aligned", False)),
            authserv_id=str(data.get("authserv_id", "")),
        )


NOT_CHECKED = SenderAuth()


def domain_of(address: str | None) -> str:
    if not address or "@" not in address:
        return ""
    return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the registrable domain (one label below the public suffix)."""
    return _public_suffixes().privatesuffix(domain.lower()) or domain.lower()


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # Built on first use, not at import: reading the list takes a third of a second, which
    # every `maild` command paid, most of them never judging a sender.
    return PublicSuffixList()


def aligned(author_domain: str, domain: str, strict: bool) -> bool:
    """RFC 7489 §3.1: strict alignment wants the same domain, relaxed the same organisation."""
    if not author_domain or not domain:
        return False
    if strict:
        return author_domain == domain
    return organizational_domain(author_domain) == organizational_domain(domain)


@dataclass(frozen=True)
class DmarcRecord:
    """The tags of a `_dmarc` TXT record that decide a verdict (RFC 7489 §6.3)."""

    policy: str = "none"
    strict_spf: bool = False
    strict_dkim: bool = False


def parse_dmarc_record(text: str, for_subdomain: bool) -> DmarcRecord | None:
    """A `v=DMARC1` record's tags; None when `text` is not one. `for_subdomain`: the record was
    found at the organisational domain for a subdomain's mail, so `sp=` applies if given."""
    tags: dict[str, str] = {}
    for part in text[:MAX_FIELD_CHARS].split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip().lower())
    if tags.get("v") != "dmarc1" or not text.lstrip().lower().startswith("v=dmarc1"):
        return None
    policy = tags.get("p", "none")
    if for_subdomain and "sp" in tags:
        policy = tags["sp"]
    if policy not in ("none", "quarantine", "reject"):
        policy = "none"  # RFC 7489 §6.6.3: an invalid p= is treated as none
    return DmarcRecord(policy, tags.get("aspf") == "s", tags.get("adkim") == "s")


def dmarc_verdict(
    from_domain: str,
    record: DmarcRecord | None,
    spf: AuthResult,
    spf_domain: str,
    dkim_domains: Iterable[str],
) -> tuple[AuthResult, bool]:
    """RFC 7489 §4.2: (the DMARC result, whether an aligned identifier passed). Without a
    record the result is `none`, but alignment is still reported (the domain is vouched for)."""
    spf_strict = record.strict_spf if record else False
    dkim_strict = record.strict_dkim if record else False
    by_spf = spf is AuthResult.PASS and aligned(from_domain, spf_domain, spf_strict)
    by_dkim = any(aligned(from_domain, d, dkim_strict) for d in dkim_domains)
    passed = by_spf or by_dkim
    if record is None:
        return AuthResult.NONE, passed
    return (AuthResult.PASS if passed else AuthResult.FAIL), passed


def from_authentication_results(
    fields: Iterable[str], trusted_id: str, from_domain: str
) -> SenderAuth:
    """The verdict of the topmost `Authentication-Results` written by `trusted_id` (RFC 8601
    §5: only fields of a trusted authserv-id count; the ones below may be forged by the
    sender). NOT_CHECKED when there is none."""
    if not trusted_id:
        return NOT_CHECKED
    for value in list(fields)[:MAX_AUTH_RESULTS]:
        header = _parse_authres(value)
        if header is None or str(header.authserv_id).lower() != trusted_id.lower():
            continue
        return _verdict_of(header, trusted_id, from_domain)
    return NOT_CHECKED


def verdict_from_headers(msg: ParsedMessage, trusted_id: str) -> SenderAuth:
    """For mail maild did not receive over SMTP itself: the trusted MTA's verdict, if any."""
    fields = msg.header_values("authentication-results")
    return from_authentication_results(fields, trusted_id, domain_of(msg.from_address))


def _parse_authres(value: str) -> Any:
    text = " ".join(value[:MAX_FIELD_CHARS].split())
    try:
        return authres.AuthenticationResultsHeader.parse_value(text)
    except Exception:  # noqa: BLE001 - authres raises its own and ValueErrors; unreadable = untrusted
        log.info("unreadable Authentication-Results field ignored")
        return None


def _verdict_of(header: Any, trusted_id: str, from_domain: str) -> SenderAuth:
    found: dict[str, AuthResult] = {}
    spf_domain, header_from = "", ""
    dkim_domains: list[str] = []
    for result in header.results:
        method, word = str(result.method).lower(), AuthResult.of(str(result.result))
        props = {f"{p.type}.{p.name}".lower(): str(p.value) for p in result.properties}
        if method == "spf" and "spf" not in found:
            found["spf"] = word
            spf_domain = domain_of(props.get("smtp.mailfrom", "")) or props.get("smtp.helo", "")
        elif method == "dkim":
            if word is AuthResult.PASS and len(dkim_domains) < MAX_DKIM_DOMAINS:
                dkim_domains.append(props.get("header.d", "").lower())
            if found.get("dkim") is not AuthResult.PASS:
                found["dkim"] = word
        elif method == "dmarc" and "dmarc" not in found:
            found["dmarc"] = word
            header_from = props.get("header.from", "").lower()
    dmarc = found.get("dmarc", AuthResult.NONE)
    spf = found.get("spf", AuthResult.NONE)
    _, is_aligned = dmarc_verdict(from_domain, None, spf, spf_domain.lower(), dkim_domains)
    if dmarc is AuthResult.PASS and header_from == from_domain:
        is_aligned = True
    return SenderAuth(
        method=Method.TRUSTED_HEADER,
        from_domain=from_domain,
        spf=spf,
        spf_domain=spf_domain.lower(),
        dkim=found.get("dkim", AuthResult.NONE),
        dkim_domains=tuple(dkim_domains),
        dmarc=dmarc,
        aligned=is_aligned,
        authserv_id=trusted_id,
    )


@dataclass(frozen=True)
class Peer:
    """What the SMTP session knows of the sending machine, for SPF (RFC 7208 §2.4)."""

    ip: str = ""
    helo: str = ""
    mail_from: str = ""  # "" = the null sender: SPF checks the HELO identity instead
