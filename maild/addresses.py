"""Strict address parsing, shared by every layer (DESIGN §2: addresses are parsed strictly).

Python 3.11's `email.utils.getaddresses` has no `strict=` switch, so we use the RFC 5322
parser behind `email.headerregistry` and apply the rule the strict mode follows: a value the
parser cannot read unambiguously yields no address at all rather than a guess. That is what
stops `alice@example.com <bob@evil.com>` from becoming alice, and `"a@x.com"@evil.com` stays
the evil.com mailbox it is (its quoted local part is kept, never split at the inner @).
"""

from __future__ import annotations

from dataclasses import dataclass
from email import errors
from email.headerregistry import HeaderRegistry

from maild.errors import InvalidRequest

_REGISTRY = HeaderRegistry()


@dataclass(frozen=True)
class Mailbox:
    name: str
    address: str  # lower-cased addr-spec, quoted local part kept as written


def parse_mailbox_list(text: str) -> tuple[tuple[Mailbox, ...], bool]:
    """The mailboxes of decoded, unfolded address text, and whether it read unambiguously.

    Ambiguous text (any invalid-header defect, or a mailbox without a domain) gives ()."""
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


def parse_address(value: str, what: str = "address") -> str:
    """Exactly one mailbox typed by a person or taken from an envelope, lower-cased; anything
    else (a list, a line break, a guess) is refused with a message that says what to write."""
    one_line = "\r" not in value and "\n" not in value
    boxes, unambiguous = parse_mailbox_list(value) if one_line else ((), False)
    if not unambiguous or len(boxes) != 1:
        raise InvalidRequest(
            f"{what} {value!r} is not an email address; write it as name@example.com"
        )
    return boxes[0].address
