"""What a file's first bytes say it holds (pure): an mbox separator line, and whether there is
a mail header block at all. `maild ingest` decides a file's format with the first; every
transport's mail passes the second before it is parsed (DESIGN §5: a README or an image is
held as "not an email message", never turned into a ticket without a sender).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MBOX_SEPARATOR = b"From "
NOT_MAIL = "not an email message: it does not start with a header block"

# Only the head is looked at: a header block that matters fits well inside it.
_SNIFF_BYTES = 64 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")
# RFC 5322 §2.2: field-name is printable US-ASCII but ":"; then optional blanks (obsolete
# syntax allows them) and the colon.
_FIELD = re.compile(rb"([!-9;-~]{1,200})[ \t]*:")
# Fields every mail system writes or reads; a block naming none of them is some other text
# that happens to start with "Word:" (a README's "Note: ...").
_MAIL_FIELDS = frozenset(
    b"from sender reply-to to cc bcc subject date message-id in-reply-to references received"
    b" return-path delivered-to mime-version content-type content-transfer-encoding"
    b" x-mailer user-agent dkim-signature authentication-results arc-seal x-original-to"
    b" envelope-to resent-from resent-to resent-date auto-submitted precedence list-id".split()
)


def starts_with_separator(head: bytes) -> bool:
    """An mbox "From " separator line opens the file (mboxrd/mboxo, RFC 4155)."""
    return head.startswith(MBOX_SEPARATOR)


def drop_separator(raw: bytes) -> bytes:
    """One message without the mbox "From " line that some tools put before it."""
    if not starts_with_separator(raw):
        return raw
    match = _LINE_END.search(raw)
    return raw[match.end() :] if match else b""


def has_header_block(raw: bytes) -> bool:
    """The mail opens with header fields (after an optional "From " line), and one of them is
    a field mail carries. A first line that is not a field means there is no header block."""
    known = False
    for index, line in enumerate(_lines(drop_separator(raw[:_SNIFF_BYTES]))):
        if not line:
            break  # the blank line that ends the header block
        if line[:1] in (b" ", b"\t") and index > 0:
            continue  # a folded continuation of the field above
        field = _FIELD.match(line)
        if field is None:
            break  # RFC 5322 §2.1: the header block ends where fields end
        known = known or field.group(1).lower() in _MAIL_FIELDS
    return known


def _lines(head: bytes) -> Iterator[bytes]:
    """Lines one at a time (CRLF, LF or a bare CR), so only the header block is cut up."""
    start = 0
    for end in _LINE_END.finditer(head):
        yield head[start : end.start()]
        start = end.end()
    yield head[start:]
