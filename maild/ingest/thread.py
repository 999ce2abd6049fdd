"""Which ticket a mail names (DESIGN §1 "Finding the ticket"), decided from the mail alone.

maild's own identifiers (Message-IDs, VERP addresses) are defined in `maild.mailids`, shared
with outbound. Resolving numbers and tokens to tickets (merge forwarders, reply policy) needs
the database and belongs to the apply step.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

from maild.ingest.dsn import BounceReport
from maild.ingest.parse import ParsedMessage
from maild.mailids import (
    parse_message_id,
)
from maild.settings import TicketSettings

# Reply and forward prefixes of common clients and languages: Re, Re[2], Re(2), AW (German),
# SV (Nordic), Antw (Dutch), Fwd/Fw, WG (German forward), TR (French), VS (Finnish), RIF, Odp.
# No two quantifiers over whitespace touch (the optional counter carries its own trailing
# `\s*`), so the regex cannot backtrack: `re` and 100,000 spaces fail in one pass.
_PREFIX = re.compile(
    r"\s*(?:(?:re|aw|sv|antw|fwd?|wg|tr|vs|rif|odp|r)\s*(?:(?:\[\d+\]|\(\d+\))\s*)?[:：]\s*)+",
    re.IGNORECASE,
)
# Prefixes are looked for in the subject's first characters only.
_PREFIX_SPAN = 1000
# Mangled tags too: a person types them near the front, and the check per match is not free.
_TAG_SPAN = 1000


# A ticket prefix as configs write them ("SUP", "HLP", "H.D"), bounded in length.
_PREFIX_SHAPE = r"(?P<prefix>[A-Za-z0-9]{1,20}(?:[._][A-Za-z0-9]{1,20}){0,3})"


@dataclass(frozen=True)
class MessageIdRef:
    message_id: str
    token: str
    number: str


@dataclass(frozen=True)
class TicketRefs:
    tag_numbers: tuple[str, ...] = ()  # from subject tags, canonical form, in order
    message_ids: tuple[MessageIdRef, ...] = ()  # In-Reply-To first, then References newest first
    verp_token: str | None = None  # bounces only
    from_returned_message: bool = False  # True: refs were read from a bounce's original

    @property
    def number(self) -> str | None:
        """The ticket number to try first: DESIGN §1 for replies (tag, then Message-IDs);
        DESIGN §2 for bounces (returned Message-ID, then returned tag; VERP token resolved
        by the caller first)."""
        ids = tuple(ref.number for ref in self.message_ids)
        order = ids + self.tag_numbers if self.from_returned_message else self.tag_numbers + ids
        return order[0] if order else None


def strip_reply_prefixes(subject: str) -> str:
    """The subject without leading `Re:`, `AW:`, `Fwd:`, `Re[2]:`, `SV:`, `Antw:`...."""
    found = _PREFIX.match(subject, 0, _PREFIX_SPAN)
    return (subject[found.end() :] if found else subject).strip()


def find_ticket_refs(
    msg: ParsedMessage, settings: TicketSettings, bounce: BounceReport | None = None
) -> TicketRefs:
    """Ticket references of a mail; for a bounce, those of the message it returns."""
    if bounce is not None:
        return TicketRefs(
            tag_numbers=find_tag_numbers(bounce.original_subject or "", settings),
            message_ids=_maild_ids((bounce.original_message_id,)),
            verp_token=bounce.verp_token,
            from_returned_message=True,
        )
    named = (msg.in_reply_to, *reversed(msg.references))
    tags = find_tag_numbers(msg.subject, settings) + find_mangled_tags(msg.subject, settings)
    return TicketRefs(tag_numbers=tuple(dict.fromkeys(tags)), message_ids=_maild_ids(named))


def find_tag_numbers(subject: str, settings: TicketSettings) -> tuple[str, ...]:
    """Ticket numbers of every tag anywhere in the subject, canonical form, first first. Any
    prefix is read, not only the current one: tags of tickets numbered before a prefix
    change keep working, and a number that names no ticket is left to the lookup to drop."""
    pattern = _tag_pattern(settings.subject_tag, settings.number_format)
    numbers = (_canonical(m, settings) for m in pattern.finditer(subject))
    return tuple(dict.fromkeys(numbers))


def find_mangled_tags(subject: str, settings: TicketSettings) -> tuple[str, ...]:
    """Ticket numbers of tags as people and clients mangle them, `#SUP-000001` (brackets
    dropped) and `[SUP-000001]` (hash dropped), canonical form, first first. They are read
    under the reply policy like a whole tag; to keep order and reference numbers out, only
    with the current prefix (a number format without one has no mangled form: `#100234` is
    an order), only as the number format writes it (`#SUP-0000012` is not SUP-000012), and
    only standing alone: not inside a word, a URL or a longer code (`#SUP-000001-7`)."""
    pattern = _mangled_pattern(settings.prefix, settings.number_format)
    if pattern is None:
        return ()
    found = []
    for match in pattern.finditer(subject[:_TAG_SPAN]):
        number = _canonical(match, settings)
        if number.lower() == match.group("number").lower():
            found.append(number)
    return tuple(dict.fromkeys(found))


def _maild_ids(ids: tuple[str | None, ...]) -> tuple[MessageIdRef, ...]:
    """Our Message-IDs among `ids`, whatever number format made them: the token is what
    identifies the mail, and the format may have changed since we sent it."""
    refs: dict[str, MessageIdRef] = {}
    for mid in ids:
        parsed = parse_message_id(mid) if mid else None
        if mid and parsed:
            refs.setdefault(mid, MessageIdRef(mid, parsed[0], parsed[1]))
    return tuple(refs.values())


def _canonical(match: re.Match[str], settings: TicketSettings) -> str:
    """The number as `number_format` writes it, with the prefix the tag carries: a number made
    under an earlier prefix keeps it (each prefix has its own sequence: SUP-000001 and
    HLP-000001 are two tickets)."""
    found = match.groupdict()
    if found.get("seq") is None:
        return match.group("number")
    prefix = found.get("prefix") or settings.prefix
    if prefix.lower() == settings.prefix.lower():
        prefix = settings.prefix
    return settings.number_format.format(prefix=prefix, seq=int(found["seq"]))


@lru_cache(maxsize=16)
def _tag_pattern(tag: str, number_format: str) -> re.Pattern[str]:
    number = f"(?P<number>{_number_pattern(number_format)})"
    parts = []
    for literal, field, _spec, _conv in string.Formatter().parse(tag):
        parts.append(re.escape(literal))
        if field == "number":
            parts.append(number)
    return re.compile("".join(parts), re.IGNORECASE)


@lru_cache(maxsize=16)
def _mangled_pattern(prefix: str, number_format: str) -> re.Pattern[str] | None:
    fields = {field for _, field, _, _ in string.Formatter().parse(number_format)}
    if "prefix" not in fields or not any(char.isalpha() for char in prefix):
        return None
    number = f"(?P<number>{_number_pattern(number_format, re.escape(prefix))})"
    # `#NUMBER` not after a word, URL or code character, and not before one (nor before
    # `-7`, `.5`, `/2`); `[NUMBER]` (a space inside the brackets allowed) not after a word.
    return re.compile(
        rf"(?<![\w#/.\[-])(?:(?P<hash>#)|\[ ?){number}(?(hash)(?![\w#]|[-./]\w)| ?\])",
        re.IGNORECASE,
    )


@lru_cache(maxsize=16)
def _number_pattern(number_format: str, prefix: str = _PREFIX_SHAPE) -> str:
    """The regex of a number made by `number_format` under any prefix: `{prefix}-{seq:06d}`
    → `(?P<prefix>…)-(?P<seq>\\d{6,})`. The prefix's runs are bounded, so the regex cannot
    backtrack far where the prefix and the sequence touch (`{prefix}{seq}`)."""
    parts = []
    for literal, field, spec, _conv in string.Formatter().parse(number_format):
        parts.append(re.escape(literal))
        if field == "prefix":
            parts.append("(?P=prefix)" if "(?P<prefix>" in "".join(parts) else prefix)
        elif field == "seq":
            width = re.match(r"0?(\d+)", spec or "")
            parts.append(rf"(?P<seq>\d{{{width.group(1)},}})" if width else r"(?P<seq>\d+)")
        elif field is not None:
            parts.append(r"[A-Za-z0-9]+")
    return "".join(parts)
