"""Walking a parsed MIME tree and enforcing the limits that protect the daemon (DESIGN §3).

The walk is iterative: `email.message.Message.walk` recurses once per nesting level, and a
hostile message could nest deeper than Python's recursion limit.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import Policy, compat32
from typing import cast

from maild.errors import MessageRejected
from maild.ingest.charsets import GuessBudget, decode_bytes
from maild.settings import IngestLimits

# RFC 5322 §2.1: the header section ends at the first empty line. sisimai's `mac` files use
# bare CR line ends, which the stdlib parser accepts too.
_HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_HEADER_START = re.compile(rb"(?:^|\r\n|\n|\r)[^ \t\r\n]")
_FEED_BYTES = 64 * 1024


def check_raw_limits(raw: bytes, limits: IngestLimits) -> None:
    """Reject a message whose size, header bytes or header count exceed the limits."""
    if len(raw) > limits.max_message_bytes:
        raise MessageRejected(
            f"message is {len(raw)} bytes, over the limit of {limits.max_message_bytes} bytes"
        )
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    header = raw[: end.start()] if end else raw
    if len(header) > limits.max_header_bytes:
        raise MessageRejected(
            f"message header is over the limit of {limits.max_header_bytes} bytes"
        )
    count = len(_HEADER_START.findall(header))
    if count > limits.max_headers:
        raise MessageRejected(
            f"message has {count} header fields, over the limit of {limits.max_headers}"
        )


def parse_tree(raw: bytes, limits: IngestLimits) -> Message:
    """The stdlib tree of a mail, refused as soon as it grows past `limits.max_parts` parts.

    compat32 (the default policy) never raises on malformed headers and keeps raw 8-bit bytes
    recoverable (surrogateescape), which the charset chain needs.
    """
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    if end is None:
        return _feed([raw], limits.max_parts)
    header, set_aside = _set_aside_big_fields(raw, end.end())
    # A single-part mail: the parser would hold its body as one string per line (a 21 MB
    # body of short lines cost 47x its size) only to join them; its body is the rest.
    tree = _feed(header, limits.max_parts)
    if tree.get_content_maintype() in ("multipart", "message") or tree.get_payload():
        tree = _feed([*header, memoryview(raw)[end.end() :]], limits.max_parts)
    else:
        tree.set_payload(raw[end.end() :].decode("ascii", "surrogateescape"))
    _put_back(tree, set_aside)
    return tree


# A header field with its continuation lines, and the name the stdlib parser accepts as one
# (its `headerRE`): a line it would not accept ends its header section there. Possessive
# repeats: a field of 12,000 folded lines would otherwise keep a backtracking entry per line.
_FIELD = re.compile(rb"[^ \t\r\n][^\r\n]*+(?:(?:\r\n|\r|\n)[ \t][^\r\n]*+)*+")
_FIELD_NAME = re.compile(rb"[\041-\071\073-\176]*:[ \t]*+")
_BIG_FIELD = 4096


def _set_aside_big_fields(raw: bytes, end: int) -> tuple[list[memoryview], dict[str, str]]:
    """The header block `raw[:end]` as pieces for the parser, with the value of each field
    over `_BIG_FIELD` bytes replaced by a token, and what each token stands for, as compat32
    would have read it.

    The stdlib parser holds a field's lines as a list of strings, and a long line in a
    four-bytes-per-character buffer, before it joins them: a 200 KB display name cost five
    times its size, 12,000 folded lines of encoded-words ten. Only real fields are set aside
    (never the Content- fields, which steer the parse), and only before any line the parser
    would not read as a field."""
    view = memoryview(raw)
    pieces: list[memoryview] = []
    set_aside: dict[str, str] = {}
    start = 0
    nonce = secrets.token_hex(8)
    for field in _FIELD.finditer(raw, 0, end):
        name = _FIELD_NAME.match(raw, field.start(), field.end())
        if name is None:
            break
        small = field.end() - field.start() <= _BIG_FIELD
        if small or raw[field.start() : field.start() + 8].lower() == b"content-":
            continue
        token = f"maild-set-aside-{nonce}-{len(set_aside)}"
        set_aside[token] = str(view[name.end() : field.end()], "ascii", "surrogateescape")
        pieces += (view[start : name.end()], memoryview(token.encode()))
        start = field.end()
    pieces.append(view[start:end])
    return pieces, set_aside


def _put_back(tree: Message, set_aside: dict[str, str]) -> None:
    if not set_aside:
        return
    items = list(tree.raw_items())
    for name in {name.lower() for name, _value in items}:
        del tree[name]
    for name, value in items:
        tree.set_raw(name, set_aside.get(value, value) if isinstance(value, str) else value)


def _feed(pieces: Sequence[bytes | memoryview], max_parts: int) -> Message:
    """The parser fed in slices, counting the parts it creates: checking the tree after the
    parse let 3.4 million empty parts cost 1.36 GB first."""
    parser = BytesFeedParser(_factory=_counting_factory(max_parts))
    try:
        for piece in pieces:
            view = memoryview(piece)
            for start in range(0, len(view), _FEED_BYTES):
                parser.feed(bytes(view[start : start + _FEED_BYTES]))
        return cast(Message, parser.close())
    except RecursionError as exc:
        raise MessageRejected("MIME structure is nested too deeply to parse") from exc


def _counting_factory(max_parts: int) -> Callable[..., Message]:
    # The parser calls the factory once when it is built (to learn its signature) and then
    # once per part, message/rfc822 parts and the messages inside them included.
    made = -1

    def make(policy: Policy = compat32) -> Message:
        nonlocal made
        made += 1
        if made > max_parts:
            raise MessageRejected(f"message has more than the limit of {max_parts} parts")
        return Message(policy)

    return make


def walk(root: Message) -> Iterator[tuple[Message, int]]:
    """Every part of the tree in document order, with its depth (the root is depth 0).

    A message/rfc822 part counts as one level and the message inside it as the next.
    """
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        yield part, depth
        children = part.get_payload() if part.is_multipart() else []
        if isinstance(children, list):
            nested = [child for child in children if isinstance(child, Message)]
            stack.extend((child, depth + 1) for child in reversed(nested))


def check_tree_limits(root: Message, limits: IngestLimits) -> None:
    """Reject a message nested deeper, or split in more parts, than the limits allow."""
    for parts, (_part, depth) in enumerate(walk(root), start=1):
        if depth > limits.max_mime_depth:
            raise MessageRejected(
                f"MIME structure is nested deeper than the limit of {limits.max_mime_depth}"
            )
        if parts > limits.max_parts:
            raise MessageRejected(f"message has more than the limit of {limits.max_parts} parts")


def part_bytes(part: Message) -> bytes:
    """The decoded content of a leaf part (base64, quoted-printable, uuencode undone)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def part_text(part: Message, guesses: GuessBudget | None = None) -> tuple[str, str | None]:
    """A leaf part's content as text through the charset fallback chain, with the codec used."""
    return decode_bytes(part_bytes(part), part.get_content_charset(), guesses)


class TextBudget:
    """How much text a heuristic may still read: characters and lines, spent as it reads."""

    def __init__(self, chars: int, lines: int) -> None:
        self.chars = chars
        self.lines = lines

    def take(self, text: str) -> str:
        """The first part of `text` the budget allows, whole lines when it is cut by lines."""
        piece = text[: max(self.chars, 0)]
        cut = piece.split("\n", max(self.lines, 0))
        if len(cut) > self.lines:
            piece = "\n".join(cut[: self.lines]) + ("\n" if self.lines else "")
        self.chars -= len(piece)
        self.lines -= piece.count("\n")
        return piece


def bounded_copy(part: Message, budget: TextBudget) -> Message:
    """A copy of a (limit-checked) tree whose leaf payloads hold only what `budget` allows,
    for third-party heuristics that read every line of a mail. The original is not changed."""
    copied = copy.copy(part)
    payload = part.get_payload()
    if isinstance(payload, list):
        children: list[Message | str] = [
            bounded_copy(child, budget) for child in payload if isinstance(child, Message)
        ]
        copied.set_payload(children)
    elif isinstance(payload, str):
        copied.set_payload(budget.take(payload))
    return copied
