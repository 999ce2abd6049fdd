"""Strict parsing of address headers (DESIGN §2: addresses are parsed strictly).

Python 3.11's `email.utils.getaddresses` has no `strict=` switch, so we use the RFC 5322
parser behind `email.headerregistry` and apply the same rule the strict mode follows: a header
the parser cannot read unambiguously yields no address at all rather than a guess. That is
what stops `alice@example.com <bob@evil.com>` from becoming alice, and `"a@x.com"@evil.com`
stays the evil.com mailbox it is (its quoted local part is kept, never split at the inner @).
"""

from __future__ import annotations

from dataclasses import dataclass
from email import errors
from email.headerregistry import HeaderRegistry

from maild.ingest.charsets import decode_surrogates, unfold

_REGISTRY = HeaderRegistry()


@dataclass(frozen=True)
class Mailbox:
    name: str
    address: str  # lower-cased addr-spec, quoted local part kept as written


def parse_mailboxes(value: str | None) -> tuple[tuple[Mailbox, ...], bool]:
    """The mailboxes of an address header, and whether the header was read unambiguously.

    An ambiguous header (any invalid-header defect, or a mailbox without a domain) gives ().
    """
    if not value:
        return (), True
    text = unfold(decode_surrogates(value))
    try:
        header = _REGISTRY("to", text)
    except (errors.HeaderParseError, IndexError, ValueError, TypeError):
        return (), False
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in header.defects):
        return (), False
    found = header.addresses  # type: ignore[attr-defined]
    if any(not a.username or not a.domain for a in found):
        return (), False
    return tuple(Mailbox(a.display_name, a.addr_spec.lower()) for a in found), True
