"""An `OutgoingMail` as RFC 5322 bytes, written by maild and checked before the outbox sees it.

Python's email generator is not used: CPython 3.11.7 re-decodes encoded-words while folding
(CVE-2024-6923), so a header value could come out as several headers. Here every header line
is built by `maild.outbound.headers`, bodies are quoted-printable or base64, and the result is
7-bit ASCII with CRLF line ends; only the address headers of a mail to or from an address with
no ASCII form (a UTF-8 local part) carry UTF-8, as RFC 6532 allows, and such a mail is sent
only with SMTPUTF8. `check_generated` then reads the bytes back with the standard parser and
refuses them unless they hold exactly the headers, recipients and subject intended.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.utils import format_datetime
from urllib.parse import quote

from maild.addresses import parse_mailbox_list
from maild.errors import InvalidRequest
from maild.outbound import headers
from maild.outbound.message import OutgoingAttachment, OutgoingMail

CRLF = "\r\n"
MAX_LINE_BYTES = 998  # RFC 5322 §2.1.1
_PART_HEADERS = frozenset({"content-type", "content-transfer-encoding", "content-disposition"})
_READER = HeaderRegistry()
_FILENAME_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-()")


def render(mail: OutgoingMail, message_id: str, date: datetime) -> bytes:
    """The message as bytes, ready for the outbox. `message_id` includes angle brackets."""
    lines = _top_headers(mail, message_id, date)
    body = _body(mail, _boundary())
    return (CRLF.join(lines) + CRLF + body).encode("utf-8")


def _top_headers(mail: OutgoingMail, message_id: str, date: datetime) -> list[str]:
    lines = [
        "From: " + headers.mailbox(mail.from_name, _written(mail.from_address)),
        headers.address_list("To", [_written(a) for a in mail.to]),
    ]
    if mail.cc:
        lines.append(headers.address_list("Cc", [_written(a) for a in mail.cc]))
    lines += [
        headers.unstructured("Subject", mail.subject),
        "Date: " + format_datetime(date),
        "Message-ID: " + _required_id(message_id),
    ]
    if mail.in_reply_to:
        lines.append("In-Reply-To: " + mail.in_reply_to)
    if mail.references:
        lines.append(headers.msg_ids("References", list(mail.references)))
    if mail.automatic:
        lines += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
    lines.append("MIME-Version: 1.0")
    return lines


def _written(address: str, what: str = "address") -> str:
    return headers.header_address(address, what)


def _required_id(message_id: str) -> str:
    clean = headers.clean_msg_id(message_id)
    if not clean:
        raise InvalidRequest(f"message id {message_id!r} is not <left@right>")
    return clean


def _body(mail: OutgoingMail, boundary: str) -> str:
    """Content headers and body: text, text+HTML alternatives, then attachments (mixed)."""
    content = _text_part("plain", mail.text)
    if mail.html:
        content = _multipart("alternative", _boundary(), [content, _text_part("html", mail.html)])
    if mail.attachments:
        parts = [content, *(_attachment_part(a) for a in mail.attachments)]
        content = _multipart("mixed", boundary, parts)
    return content


def _content_names(mail: OutgoingMail) -> list[str]:
    """The top-level content headers `_body` writes: a multipart has no transfer encoding."""
    single = not (mail.html or mail.attachments)
    return ["content-type", "content-transfer-encoding"] if single else ["content-type"]


def _boundary() -> str:
    return f"=_maild_{secrets.token_hex(12)}"


def _text_part(subtype: str, text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii")
    return (
        f"Content-Type: text/{subtype}; charset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        + encoded.replace("\n", CRLF)
        + ("" if encoded.endswith("\n") else CRLF)
    )


def _multipart(subtype: str, boundary: str, parts: list[str]) -> str:
    for part in parts:
        if boundary in part:  # a random 96-bit boundary in a body: write it anew
            raise InvalidRequest("a body contains the MIME boundary; send it again")
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{CRLF}{CRLF}'
    body = "".join(f"--{boundary}{CRLF}{part}" for part in parts)
    return head + body + f"--{boundary}--{CRLF}"


def _attachment_part(attachment: OutgoingAttachment) -> str:
    data = base64.encodebytes(attachment.data).decode("ascii").replace("\n", CRLF)
    name = _filename_param(attachment.filename)
    return (
        f"Content-Type: {attachment.content_type}{CRLF}"
        f"Content-Disposition: attachment; {name}{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}" + data
    )


def _filename_param(filename: str) -> str:
    """`filename="a.pdf"` for plain names, RFC 2231 `filename*=utf-8''...` for the rest."""
    if filename and all(c in _FILENAME_SAFE for c in filename):
        return f'filename="{filename}"'
    return "filename*=utf-8''" + quote(filename.encode("utf-8"), safe="")


def resent_headers(
    sender: str, recipients: tuple[str, ...], message_id: str, date: datetime
) -> bytes:
    """RFC 5322 §3.6.6 trace of a resend, prepended to the bytes sent before."""
    lines = [
        "Resent-Date: " + format_datetime(date),
        "Resent-From: " + _written(sender, "resent from address"),
        headers.address_list("Resent-To", [_written(r, "resent to address") for r in recipients]),
        "Resent-Message-ID: " + _required_id(message_id),
    ]
    return (CRLF.join(lines) + CRLF).encode("utf-8")


# --- the check at the exit ----------------------------------------------------------------


def check_generated(raw: bytes, mail: OutgoingMail, message_id: str) -> None:
    """Refuse bytes that are not exactly the mail intended: 7-bit CRLF lines of legal length,
    the top-level headers we wrote and no others, the recipients and subject of `mail` as a
    reader decodes them, and parts with content headers only. Raises InvalidRequest; nothing
    is queued then. (Read with the compat32 policy, which keeps values raw and is fast; the
    three values a reader interprets go through the RFC 5322 header parser.)"""
    _check_lines(raw, utf8_headers=mail.needs_smtputf8)
    parsed = message_from_bytes(raw, policy=policy.compat32)
    names = [name.lower() for name in parsed]
    if names != _expected_names(mail, message_id):
        raise _refused(f"unexpected headers {names}")
    if _addresses(parsed, "to") != list(mail.to) or _addresses(parsed, "cc") != list(mail.cc):
        raise _refused("recipients differ from the request")
    if str(_READER("subject", _unfold(parsed["subject"]))) != mail.subject[: headers.MAX_TEXT]:
        raise _refused("the subject does not read back as written")
    if parsed["message-id"] != message_id:
        raise _refused("the Message-ID does not read back as written")
    for part in parsed.walk():
        if part is not parsed and {n.lower() for n in part} - _PART_HEADERS:
            raise _refused(f"a part carries headers {part.keys()}")


def _unfold(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "")


def _expected_names(mail: OutgoingMail, message_id: str) -> list[str]:
    written = _top_headers(mail, message_id, datetime.now(UTC))
    names = [line.split(":", 1)[0].lower() for line in written]
    return names + _content_names(mail)


def _check_lines(raw: bytes, utf8_headers: bool) -> None:
    """7-bit lines; UTF-8 only in the header block, and only for RFC 6532 mail."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if not body.isascii() or not (head.isascii() or (utf8_headers and _is_utf8(head))):
        raise _refused("it is not 7-bit text")
    if b"\x00" in raw:
        raise _refused("it holds a NUL")
    body = raw.replace(b"\r\n", b"")
    if b"\r" in body or b"\n" in body:
        raise _refused("it has a bare CR or LF")
    if any(len(line) > MAX_LINE_BYTES for line in raw.split(b"\r\n")):
        raise _refused("a line is longer than 998 bytes")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _addresses(parsed: Message, name: str) -> list[str]:
    # The value as stored: compat32 keeps UTF-8 as surrogates, which `parsed[name]` would
    # wrap in a Header that reads each byte as U+FFFD.
    values = [v for k, v in parsed.raw_items() if k.lower() == name]
    if not values:
        return []
    text = values[0].encode("ascii", "surrogateescape").decode("utf-8")
    mailboxes, unambiguous = parse_mailbox_list(_unfold(text))
    if not unambiguous:
        raise _refused(f"the {name} header does not read back as addresses")
    return [box.address for box in mailboxes]


def _refused(reason: str) -> InvalidRequest:
    return InvalidRequest(f"the generated mail failed its check ({reason}); nothing was queued")
