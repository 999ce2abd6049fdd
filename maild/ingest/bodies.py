"""Text, HTML and attachments of a parsed mail: mail-parser first, the stdlib where it fails.

mail-parser knows the many ways clients mark a part as an attachment (disposition, name,
Content-ID, RTF bodies). It raises on some broken structures (an epilogue it cannot find in
sisimai's lhost-sendgrid-02), and then our own walk over the same stdlib tree takes over.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from mailparser import MailParser

from maild.ingest.charsets import GuessBudget, decode_header_text, lookup_codec
from maild.ingest.mime import part_bytes, part_text, walk

# mail-parser invents `<10 random lowercase letters>.txt|.rtf` for unnamed attachments; the
# same mail must give the same names every time it is processed (DESIGN §3: idempotent).
_INVENTED_NAME = re.compile(r"^[a-z]{10}\.(?:txt|rtf)$")
_BODY_TYPES = ("text/plain", "text/html")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)


@dataclass
class Bodies:
    """What a body extractor found; assembled into the frozen ParsedMessage by parse.py."""

    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    # What maild adds below the text (a meeting's time, an S/MIME signature's check), never
    # mistaken for the sender's words: parse.py appends them after the text it chose.
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parser: str = "mail-parser"


class _ChainDecodingParser(MailParser):
    """mail-parser whose body decoding goes through our charset chain.

    mail-parser falls back to UTF-8 with replacement characters when the declared charset
    fails; raw 8-bit bodies with no declared charset would lose every letter that way.
    """

    def __init__(self, message: Message, guesses: GuessBudget) -> None:
        self.guesses = guesses
        self.charset_warnings: list[str] = []
        self.unsplit_multiparts: list[str] = []
        super().__init__(message)

    def _reset(self) -> None:
        """The state `parse` fills in, without mail-parser's analysis of the top-level headers
        (addresses, dates, the Received chain): about half its time, and maild never reads it;
        parse.py reads the headers itself."""
        self._attachments: list[dict[str, Any]] = []
        self._text_plain: list[str] = []
        self._text_html: list[str] = []
        self._text_not_managed: list[str] = []
        self._defects: list[dict[str, Any]] = []
        self._defects_categories: set[str] = set()
        self._has_defects = False
        self._header_index: dict[str, list[str]] = {}
        self._address_headers: dict[str, Any] = {}
        self._address_header_defects: list[dict[str, Any]] = []
        self._date, self._timezone = None, 0
        self._date_header_defects: list[dict[str, Any]] = []
        self._received: list[dict[str, Any]] = []
        self._received_header_defects: list[dict[str, Any]] = []

    def _make_mail(self, complete: bool = True) -> dict[str, Any]:
        # The summary dict (`parser.mail`) repeats the header analysis skipped above.
        return {}

    def _decode_body_payload(self, part: Message, charset: str, part_index: int) -> str:
        text, codec = part_text(part, self.guesses)
        declared = part.get_content_charset()
        expected = lookup_codec(declared) if declared else "utf-8"
        if codec != expected:
            self.charset_warnings.append(
                f"part {part_index}: charset {declared or 'undeclared'!r} "
                f"did not decode; read as {codec or 'latin-1'}"
            )
        if part.get_content_maintype() == "multipart":
            # No usable boundary (Office365 bounces, a boundary on an unfolded line): mail-parser
            # files it under "not managed"; its text is kept as body text instead of lost.
            self.unsplit_multiparts.append(text)
        return text


def extract_bodies(tree: Message, guesses: GuessBudget) -> Bodies:
    """Bodies and attachments of `tree`, by mail-parser or, if it fails, by the stdlib walk."""
    try:
        parser = _ChainDecodingParser(tree, guesses)
    # A third-party parser on hostile input: whatever it raises, the stdlib walk below is the
    # fallback the design asks for (an AttributeError on a missing epilogue, RecursionError...).
    except Exception as exc:
        bodies = _extract_with_stdlib(tree, guesses)
        bodies.warnings.append(f"mail-parser failed ({type(exc).__name__}); used the stdlib")
        return bodies
    bodies = Bodies(text=list(parser.text_plain), html=list(parser.text_html))
    bodies.text.extend(parser.unsplit_multiparts)
    bodies.warnings.extend(parser.charset_warnings)
    if parser.unsplit_multiparts:
        bodies.warnings.append("multipart part without a usable boundary read as text")
    # Walking the parts for their declared names is needed only to judge an invented-looking
    # name; most mails have none, so the walk is skipped for them.
    names = [str(item.get("filename") or "") for item in parser.attachments]
    declared = _declared_names(tree) if any(map(_INVENTED_NAME.match, names)) else set()
    for index, item in enumerate(parser.attachments, start=1):
        bodies.attachments.append(_from_mailparser(item, index, declared))
    return bodies


def _from_mailparser(item: dict[str, Any], index: int, declared: set[str]) -> Attachment:
    content_type = str(item.get("mail_content_type") or "application/octet-stream").lower()
    filename = str(item.get("filename") or "")
    if not filename or (_INVENTED_NAME.match(filename) and filename not in declared):
        filename = default_filename(index, content_type)
    data = _mailparser_payload(item)
    return Attachment(filename, content_type, len(data), data)


def _mailparser_payload(item: dict[str, Any]) -> bytes:
    payload = item.get("payload") or ""
    if isinstance(payload, bytes):
        return payload
    if not item.get("binary"):
        return str(payload).encode("utf-8", "surrogateescape")
    compact = re.sub(r"[^A-Za-z0-9+/]", "", str(payload))
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return str(payload).encode("ascii", "replace")


def _declared_names(tree: Message) -> set[str]:
    """Every name a part declares, as written: an invented name is never among them."""
    names: set[str] = set()
    for part, _depth in walk(tree):
        for value in (
            part.get_param("name"),
            part.get_param("filename", header="content-disposition"),
        ):
            if isinstance(value, str):
                names.add(value.strip('"'))
    return names


def default_filename(index: int, content_type: str) -> str:
    """A stable name for an attachment that declares none: `attachment-2.pdf`."""
    return f"attachment-{index}{mimetypes.guess_extension(content_type) or '.bin'}"


def _extract_with_stdlib(tree: Message, guesses: GuessBudget) -> Bodies:
    bodies = Bodies(parser="stdlib")
    for part, _depth in walk(tree):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        filename = _part_filename(part, guesses)
        if part.get_content_maintype() == "multipart":  # no boundary: keep its text
            bodies.text.append(part_text(part, guesses)[0])
            continue
        attached = bool(filename) or part.get_content_disposition() == "attachment"
        if content_type in _BODY_TYPES and not attached:
            target = bodies.html if content_type == "text/html" else bodies.text
            target.append(part_text(part, guesses)[0])
            continue
        if attached:
            data = part_bytes(part)
            index = len(bodies.attachments) + 1
            name = filename or default_filename(index, content_type)
            bodies.attachments.append(Attachment(name, content_type, len(data), data))
    return bodies


def _part_filename(part: Message, guesses: GuessBudget) -> str:
    """RFC 2231 (`filename*0*=`) is undone by get_filename; RFC 2047 names by us."""
    try:
        raw = part.get_filename()
    except (LookupError, UnicodeError, ValueError):
        return ""
    return decode_header_text(raw, guesses) if raw else ""
