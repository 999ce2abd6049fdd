"""Walking a parsed MIME tree and enforcing the limits that protect the daemon (DESIGN §3).

The walk is iterative: `email.message.Message.walk` recurses once per nesting level, and a
hostile message could nest deeper than Python's recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from maild.errors import MessageRejected
from maild.ingest.charsets import decode_bytes
from maild.settings import IngestLimits

# RFC 5322 §2.1: the header section ends at the first empty line. sisimai's `mac` files use
# bare CR line ends, which the stdlib parser accepts too.
_HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_HEADER_START = re.compile(rb"(?:^|\r\n|\n|\r)[^ \t\r\n]")


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


def part_text(part: Message) -> tuple[str, str | None]:
    """A leaf part's content as text through the charset fallback chain, with the codec used."""
    return decode_bytes(part_bytes(part), part.get_content_charset())
