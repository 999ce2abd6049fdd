"""Composing outgoing mail: typed values in, RFC 5322 bytes out.

Header values built from user input are validated here: no CR/LF anywhere in a header value,
addresses parsed strictly. BCC recipients are envelope-only and never written into headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from maild.addresses import parse_address
from maild.errors import InvalidRequest


@dataclass(frozen=True)
class OutgoingMail:
    from_address: str
    subject: str
    text: str
    to: tuple[str, ...]
    from_name: str = ""
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    html: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    # RFC 3834 §5: mail a program sends by itself says so, and asks others not to answer it.
    automatic: bool = False
    attachments: tuple[tuple[str, str, bytes], ...] = field(default=())  # name, type, bytes

    def __post_init__(self) -> None:
        # Validated once, here, so that no path (BCC included, which goes only to RCPT) can
        # carry a malformed address or a header line break into the outbox.
        for name in ("to", "cc", "bcc"):
            addresses = tuple(parse_address(a, f"{name} address") for a in getattr(self, name))
            object.__setattr__(self, name, addresses)
        object.__setattr__(self, "from_address", parse_address(self.from_address, "from address"))
        check_header_value("subject", self.subject)
        check_header_value("from name", self.from_name)
        if not self.to:
            raise InvalidRequest("an outgoing mail needs at least one To address")

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the envelope names, BCC included."""
        return self.to + self.cc + self.bcc


def check_header_value(name: str, value: str) -> str:
    """Refuse header injection: a CR or LF in a value would start a new header."""
    if "\r" in value or "\n" in value:
        raise InvalidRequest(f"{name} must be a single line (it contains a line break)")
    return value


def render(mail: OutgoingMail, message_id: str, date: datetime) -> bytes:
    """The message as bytes, ready for the outbox. `message_id` includes angle brackets."""
    msg = EmailMessage(policy=SMTP)
    sender = Address(mail.from_name, addr_spec=mail.from_address)
    msg["From"] = sender
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = check_header_value("message id", message_id)
    if mail.in_reply_to:
        msg["In-Reply-To"] = check_header_value("in-reply-to", mail.in_reply_to)
    if mail.references:
        msg["References"] = check_header_value("references", " ".join(mail.references))
    if mail.automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    _set_body(msg, mail)
    return msg.as_bytes()


def _set_body(msg: EmailMessage, mail: OutgoingMail) -> None:
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    for filename, content_type, data in mail.attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
        )
