"""Strict address parsing, shared by every layer (DESIGN §2: addresses are parsed strictly).

Python 3.11's `email.utils.getaddresses` has no `strict=` switch, so we use the RFC 5322
parser behind `email.headerregistry` and apply the rule the strict mode follows: a value the
parser cannot read unambiguously yields no address at all rather than a guess. That is what
stops `alice@example.com <bob@evil.com>` from becoming alice, and `"a@x.com"@evil.com` stays
the evil.com mailbox it is (its quoted local part is kept, never split at the inner @).

International addresses (RFC 6531/6532: UTF-8 local parts, IDN domains) are kept in Unicode.
Every address this module returns is in one normal form (`normal_form`), and that is the form
maild stores and compares: the local part NFC and lower-cased, the domain as UTS #46 maps it
and in U-labels, so `bücher.example`, `BÜCHER.example` and `xn--bcher-kva.example` are one
string, readable as people write it. The ASCII forms a relay may need are made at the exit
(`ascii_form`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email import errors
from email.headerregistry import HeaderRegistry
from functools import lru_cache

import idna

from maild.errors import InvalidRequest

_REGISTRY = HeaderRegistry()


@dataclass(frozen=True)
class Mailbox:
    name: str
    address: str  # addr-spec in `normal_form`, quoted local part kept as written


# Bounds on what the RFC 5322 parser is given (issue 12). Its memory grows with the square of
# a value's encoded-words (18,000 in one Cc took 4.6 GB) and it recurses once per nested
# comment (5,000 raised RecursionError). So a header is cut at its top-level commas and parsed
# a few mailboxes at a time; a value beyond these bounds is not read, like an ambiguous one.
MAX_ADDRESS_TEXT = 64 * 1024  # a whole header: a thousand mailboxes
_MAX_MAILBOX_TEXT = 1024  # one mailbox with its display name and comments
_MAX_BATCH_TEXT = 2048  # mailboxes given to the parser at once
_MAX_COMMENT_DEPTH = 8  # RFC 5322 allows nesting; mail never needs much of it


def parse_mailbox_list(text: str) -> tuple[tuple[Mailbox, ...], bool]:
    """The mailboxes of decoded, unfolded address text, and whether it read unambiguously.

    Ambiguous text (any invalid-header defect, or a mailbox without a domain) gives (), and so
    does text beyond the bounds above."""
    batches = _batches(text) if len(text) <= MAX_ADDRESS_TEXT else None
    if batches is None:
        return (), False
    found: list[Mailbox] = []
    for batch in batches:
        mailboxes, unambiguous = _parse_batch(batch)
        if not unambiguous:
            return (), False
        found.extend(mailboxes)
    return tuple(found), True


def _parse_batch(text: str) -> tuple[tuple[Mailbox, ...], bool]:
    try:
        header = _REGISTRY("to", text)
    # AttributeError: CPython 3.11's parser trips over its own defect list on an unclosed
    # domain literal (`a@[`) or a bare `.:`, values a hostile mail can carry.
    except (
        errors.HeaderParseError,
        IndexError,
        ValueError,
        TypeError,
        RecursionError,
        AttributeError,
    ):
        return (), False
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in header.defects):
        return (), False
    found = header.addresses  # type: ignore[attr-defined]
    if any(not a.username or not a.domain for a in found):
        return (), False
    return tuple(Mailbox(a.display_name, normal_form(a.addr_spec)) for a in found), True


def _batches(text: str) -> list[str] | None:
    """`text` as runs of whole mailboxes of about `_MAX_BATCH_TEXT` characters; None when a
    mailbox or its comments exceed the bounds. A group (`name: a@x, b@y;`) stays in one run."""
    items = _top_level_items(text)
    if items is None:
        return None
    if len(items) == 1 or any(len(item) > _MAX_MAILBOX_TEXT for item in items):
        return items if len(items) == 1 and len(text) <= _MAX_BATCH_TEXT else None
    batches: list[list[str]] = [[]]
    size = 0
    for item in items:
        if size + len(item) > _MAX_BATCH_TEXT and batches[-1]:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item) + 1
    return [",".join(batch) for batch in batches]


def _top_level_items(text: str) -> list[str] | None:
    """`text` cut at the commas outside quotes, comments and angle brackets; [text] for a
    group; None when comments nest deeper than `_MAX_COMMENT_DEPTH`."""
    items: list[str] = []
    start = depth = 0
    quoted = escaped = angle = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            depth += 1
            if depth > _MAX_COMMENT_DEPTH:
                return None
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth:
            continue
        elif char == '"':
            quoted = True
        elif char in "<>":
            angle = char == "<"
        elif char == ":" and not angle:
            return [text]
        elif char == "," and not angle:
            items.append(text[start:index])
            start = index + 1
    return [*items, text[start:]]


def parse_address(value: str, what: str = "address") -> str:
    """Exactly one mailbox typed by a person or taken from an envelope, in `normal_form`; anything
    else (a list, a line break, a guess) is refused with a message that says what to write."""
    one_line = "\r" not in value and "\n" not in value
    boxes, unambiguous = parse_mailbox_list(value) if one_line else ((), False)
    if not unambiguous or len(boxes) != 1:
        raise InvalidRequest(
            f"{what} {value!r} is not an email address; write it as name@example.com"
        )
    return boxes[0].address


def normal_form(address: str) -> str:
    """The one form of an addr-spec maild stores and compares: local part NFC (RFC 6532 §3.1)
    and lower-cased, domain in Unicode U-labels (`xn--bcher-kva.example` -> `bücher.example`).
    A domain IDNA refuses (a domain literal, a label no registry allows) is kept as written,
    lower-cased: the mail still names it, and dropping it would lose the sender."""
    local, at, domain = address.rpartition("@")
    if not at:
        return _folded(address)
    return f"{_folded(local)}@{_domain_form(domain)}"


def _folded(text: str) -> str:
    # NFC again after lower(): lower-casing can leave a sequence NFC would compose.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


# Domains repeat from mail to mail (a company's colleagues) and IDNA costs ~100 µs a call.
@lru_cache(maxsize=1024)
def _domain_form(domain: str) -> str:
    text = _folded(domain)
    if text.isascii() and "xn--" not in text:
        return text  # the common case, and IDNA would refuse harmless ASCII (underscores)
    try:
        return str(idna.decode(idna.encode(text, uts46=True)))
    except (idna.IDNAError, UnicodeError, ValueError):
        return text


def ascii_form(address: str) -> str | None:
    """`address` as plain ASCII for a relay without SMTPUTF8: the domain in A-labels (RFC 5890;
    every relay takes `jose@xn--bcher-kva.example`). None when no ASCII form exists: a UTF-8
    local part (RFC 6531 mail only) or a domain IDNA refuses."""
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        return None
    if domain.isascii():
        return address
    ascii_name = ascii_domain(domain)
    return f"{local}@{ascii_name}" if ascii_name is not None else None


def ascii_domain(domain: str) -> str | None:
    """`domain` in A-labels (RFC 5890), as DNS and DKIM's `d=` need it; None when IDNA
    refuses it."""
    if domain.isascii():
        return domain
    try:
        return str(idna.encode(domain, uts46=True).decode("ascii"))
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def split_stored(joined: str) -> tuple[str, ...]:
    """The addresses of a stored list (`", ".join` of addr-specs, as maild writes To and Cc),
    cut only at commas outside a quoted local part or a domain literal (`"doe, j"@x`)."""
    items: list[str] = []
    start = 0
    quoted = escaped = literal = False
    for index, char in enumerate(joined):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "[]":
            literal = char == "["
        elif char == "," and not (quoted or literal):
            items.append(joined[start:index])
            start = index + 1
    items.append(joined[start:])
    # Only the blank the join put there: str.strip() would also eat controls an address kept.
    return tuple(item.strip(" ") for item in items if item.strip(" "))
