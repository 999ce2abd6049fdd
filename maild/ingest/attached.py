"""A forwarded mail kept as an attachment, read for `maild ticket show` (issue 13 item 8).

The attachment holds the whole mail; its headers and text are read here, through the same
parser and limits as any incoming mail, only when someone looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from maild.errors import MessageRejected
from maild.ingest.parse import parse_message
from maild.settings import IngestLimits

MAIL_TYPES = ("message/rfc822", "message/global")


@dataclass(frozen=True)
class AttachedMail:
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: str | None  # ISO 8601, UTC
    subject: str
    message_id: str | None
    text: str
    attachments: tuple[str, ...]  # file names
    error: str | None = None  # why it could not be read; the bytes are still the attachment

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.from_,
            "to": list(self.to),
            "cc": list(self.cc),
            "date": self.date,
            "subject": self.subject,
            "message_id": self.message_id,
            "text": self.text,
            "attachments": list(self.attachments),
            "error": self.error,
        }


def read_attached_mail(data: bytes, limits: IngestLimits) -> AttachedMail:
    try:
        msg = parse_message(data, limits)
    except MessageRejected as exc:
        return AttachedMail("", (), (), None, "", None, "", (), error=str(exc))
    sender = msg.from_address or ""
    if msg.from_name and sender:
        sender = f"{msg.from_name} <{sender}>"
    return AttachedMail(
        from_=sender or msg.from_name,
        to=msg.to,
        cc=msg.cc,
        date=msg.date.isoformat() if msg.date else None,
        subject=msg.subject,
        message_id=msg.message_id,
        text=msg.text,
        attachments=tuple(a.filename for a in msg.attachments),
    )
