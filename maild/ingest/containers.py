"""What mail clients wrap around the customer's words and files (issue 13 items 7 and 8).

Before the body extractor reads a mail, it gets a view of the tree in which
- an opaque-signed S/MIME part is replaced by the signed MIME entity inside it;
- a forwarded mail (`message/rfc822`) is one attachment, the whole mail as an `.eml`: its
  words are someone else's, so they stay out of the ticket text;
- a `text/calendar` part, which no extractor keeps, is a named attachment.
After it, the files inside an Outlook winmail.dat join the attachments (winmail.dat kept), and
each meeting request adds its summary, time and organiser to the text as a note.

Every container is bounded by the mail's own limits: the parts it adds count against
`max_parts`, the entity it opens against `max_mime_depth`. One that cannot be opened, broken
or too big, stays what it was, an attachment, with a warning; a mail is never held for it.
"""

from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass, field, replace
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32

from maild.errors import MessageRejected
from maild.ingest.bodies import Attachment, Bodies, extract_bodies
from maild.ingest.charsets import GuessBudget, decode_header_text
from maild.ingest.mime import check_tree_limits, parse_tree, part_bytes, walk
from maild.ingest.tnef import tnef_files
from maild.settings import IngestLimits

_MAIL_TYPES = ("message/rfc822", "message/global")
_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
_CALENDAR_TYPES = ("text/calendar", "application/ics")
MAX_CALENDAR_NOTES = 3  # each costs a parse of up to 256 KB: a mail of 100 invitations pays 3
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class _AsParsed(Compat32):
    """Headers written back as the parser read them, folding included: compat32 passes each
    through `email.header` again, which refolds, and cost half the time of a whole parse."""

    def fold_binary(self, name: str, value: str) -> bytes:
        line = f"{name}: {value}{self.linesep}"
        try:
            return line.encode("ascii", "surrogateescape")  # 8-bit bytes as they came
        except UnicodeEncodeError:
            return line.encode("utf-8", "surrogateescape")


_AS_PARSED = _AsParsed()


@dataclass
class _Opening:
    limits: IngestLimits
    guesses: GuessBudget
    parts_left: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_bodies(tree: Message, limits: IngestLimits, guesses: GuessBudget) -> Bodies:
    """Text, HTML, attachments and notes of a (limit-checked) mail, its containers opened."""
    opening = _Opening(limits, guesses, limits.max_parts - _count_parts(tree))
    bodies = extract_bodies(_view(tree, 0, opening), guesses)
    bodies.notes.extend(opening.notes)
    bodies.warnings.extend(opening.warnings)
    _add_tnef_files(bodies, opening)
    _add_calendar_notes(bodies)
    return bodies


def _view(part: Message, depth: int, opening: _Opening) -> Message:
    """`part` as the extractor should read it; the parsed tree itself is left unchanged."""
    content_type = part.get_content_type()
    if content_type in _MAIL_TYPES:
        return _attached_mail(part, opening)
    smime_type = part.get_param("smime-type")
    if _opaque_signed(content_type, smime_type if isinstance(smime_type, str) else None):
        return _signed_entity(part, depth, opening)
    if content_type == "text/calendar" and not part.get_filename():
        return _as_attachment(part, "invite.ics")
    payload = part.get_payload()
    if not part.is_multipart() or not isinstance(payload, list):
        return part
    children = [_view(c, depth + 1, opening) if isinstance(c, Message) else c for c in payload]
    if all(new is old for new, old in zip(children, payload, strict=True)):
        return part
    copied = copy.copy(part)
    copied.set_payload(children)
    return copied


def _opaque_signed(content_type: str, smime_type: str | None) -> bool:
    """An `application/pkcs7-mime` that may hold signed data: declared so, or not declared
    (the CMS type then decides; enveloped data is encrypted and left as it is)."""
    if content_type not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return False
    return smime_type is None or smime_type.strip().lower() == "signed-data"


def _signed_entity(part: Message, depth: int, opening: _Opening) -> Message:
    """RFC 8551 §3.5.2: the MIME entity an opaque signature wraps, read with the limits the
    mail has left; the smime.p7m itself when it cannot be opened."""
    # Imported here: asn1crypto and cryptography take a quarter of a second to import, which
    # every `maild` command paid, and few mails are S/MIME.
    from maild.ingest.smime import unwrap_signed

    limits = replace(
        opening.limits,
        max_parts=opening.parts_left,
        max_mime_depth=opening.limits.max_mime_depth - depth - 1,
    )
    try:
        if limits.max_mime_depth < 0:
            raise ValueError("signed content nested deeper than the MIME depth limit")
        signed = unwrap_signed(part_bytes(part))
        entity = parse_tree(signed.content, limits)
        check_tree_limits(entity, limits)
    except (ValueError, MessageRejected) as exc:
        opening.warnings.append(f"S/MIME signed content not opened: {exc}; smime.p7m kept")
        return _as_attachment(part, "smime.p7m")
    opening.parts_left -= _count_parts(entity)
    opening.notes.append(signed.note)
    return _view(entity, depth + 1, opening)


def _attached_mail(part: Message, opening: _Opening) -> Message:
    """A forwarded mail as one leaf: the mail's bytes, named after its subject."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):  # not split (an encoded message/rfc822): as it came
        return _as_attachment(part, "forwarded-message.eml")
    leaf = Message()
    for name, value in part.raw_items():
        if name.lower() != "content-transfer-encoding":  # the bytes below are as they came
            leaf[name] = value
    leaf.set_payload(_mail_bytes(inner).decode("ascii", "surrogateescape"))
    if leaf.get_content_disposition() != "attachment" or not leaf.get_filename():
        _mark_attachment(leaf, leaf.get_filename() or _mail_filename(inner, opening.guesses))
    return leaf


def _mail_bytes(mail: Message) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_AS_PARSED).flatten(mail)
    # One line end throughout: the parser kept the bodies' own, the generator wrote headers'.
    return re.sub(rb"\r?\n", b"\r\n", out.getvalue())


def _mail_filename(mail: Message, guesses: GuessBudget) -> str:
    subject = decode_header_text(str(mail.get("subject") or ""), guesses)
    name = " ".join(_UNSAFE_NAME.sub(" ", subject).split())[:100].strip(". ")
    return f"{name or 'forwarded-message'}.eml"


def _as_attachment(part: Message, default_name: str) -> Message:
    """A copy of leaf `part` marked as an attachment with a file name, so no extractor reads
    it as text. A copy of the whole leaf: `get_payload()` would replace its 8-bit bytes."""
    if part.get_content_disposition() == "attachment" and part.get_filename():
        return part
    leaf = copy.deepcopy(part)
    _mark_attachment(leaf, part.get_filename() or default_name)
    return leaf


def _mark_attachment(leaf: Message, filename: str) -> None:
    del leaf["content-disposition"]
    leaf.add_header("Content-Disposition", "attachment", filename=filename)


def _count_parts(tree: Message) -> int:
    return sum(1 for _ in walk(tree))


def _add_tnef_files(bodies: Bodies, opening: _Opening) -> None:
    """Each winmail.dat followed by the files inside it."""
    found: list[Attachment] = []
    for attachment in bodies.attachments:
        found.append(attachment)
        tnef = (
            attachment.content_type in _TNEF_TYPES or attachment.filename.lower() == "winmail.dat"
        )
        if not tnef:
            continue
        try:
            files = tnef_files(attachment.data, max(opening.parts_left, 0))
        except ValueError as exc:
            bodies.warnings.append(f"{attachment.filename}: {exc}; kept as it came")
            continue
        opening.parts_left -= len(files)
        found.extend(Attachment(f.filename, f.content_type, len(f.data), f.data) for f in files)
    bodies.attachments[:] = found


def _add_calendar_notes(bodies: Bodies) -> None:
    """A note per distinct calendar; a second copy of one (Google sends the invitation both
    as a text/calendar part and as invite.ics) is dropped."""
    # Imported here: icalendar takes a fifth of a second to import, and few mails invite.
    from maild.ingest.calendar import calendar_note

    seen: set[bytes] = set()
    kept: list[Attachment] = []
    for attachment in bodies.attachments:
        calendar = (
            attachment.content_type in _CALENDAR_TYPES
            or attachment.filename.lower().endswith(".ics")
        )
        if not calendar:
            kept.append(attachment)
            continue
        key = attachment.data.replace(b"\r\n", b"\n").strip()
        if key in seen:
            continue
        seen.add(key)
        kept.append(attachment)
        if len(seen) > MAX_CALENDAR_NOTES:
            bodies.warnings.append(
                f"{attachment.filename}: not summarised, over {MAX_CALENDAR_NOTES} calendars"
            )
            continue
        try:
            bodies.notes.append(calendar_note(attachment.data))
        except ValueError as exc:
            bodies.warnings.append(f"{attachment.filename}: {exc}; kept as an attachment")
    bodies.attachments[:] = kept
