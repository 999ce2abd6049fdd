"""An outgoing mail as typed values, checked when it is built: what `maild.outbound.wire` turns
into bytes and the outbox queues.

Every address is parsed strictly (one mailbox, in `maild.addresses.normal_form`, nothing a
header may not hold) and every header text is one line: whatever built the value, no path (BCC
included, which goes only to RCPT TO) can carry a malformed address or a line break into the
outbox (DESIGN §2). Addresses stay in Unicode here; `wire` writes their ASCII form when they
have one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from maild.addresses import parse_address
from maild.errors import InvalidRequest
from maild.outbound.headers import (
    clean_mail_text,
    clean_msg_id,
    clean_user_text,
    header_address,
    needs_smtputf8,
)

# RFC 2045 §5.1 type/subtype tokens; anything else is sent as application/octet-stream.
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes

    def __post_init__(self) -> None:
        # Reduced, not refused: forwarded files carry names a mail gave them. A name a user
        # typed was refused earlier when it held a line break (compose.check_uploads).
        name = clean_mail_text(self.filename)[:255]
        object.__setattr__(self, "filename", name or "attachment")
        kind = self.content_type.strip().lower()
        object.__setattr__(
            self, "content_type", kind if _MIME_TYPE.fullmatch(kind) else "application/octet-stream"
        )


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
    attachments: tuple[OutgoingAttachment, ...] = field(default=())

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name in ("to", "cc", "bcc"):
            # Each address once: To wins over Cc, Cc over Bcc (RCPT TO is sent once per address).
            checked = _addresses(getattr(self, name), f"{name} address", seen)
            object.__setattr__(self, name, checked)
        if not self.to:
            raise InvalidRequest("an outgoing mail needs at least one To address")
        object.__setattr__(self, "from_address", _address(self.from_address, "from address"))
        object.__setattr__(self, "subject", clean_user_text("subject", self.subject))
        object.__setattr__(self, "from_name", clean_user_text("from name", self.from_name))
        object.__setattr__(self, "in_reply_to", clean_msg_id(self.in_reply_to))
        references = tuple(filter(None, (clean_msg_id(r) for r in self.references)))
        object.__setattr__(self, "references", references)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the envelope names, BCC included."""
        return self.to + self.cc + self.bcc

    @property
    def needs_smtputf8(self) -> bool:
        """True when an address has no ASCII form: the mail is RFC 6531 mail, and only a relay
        offering SMTPUTF8 may take it."""
        return any(needs_smtputf8(a) for a in (self.from_address, *self.recipients))


def _address(value: str, what: str) -> str:
    address = parse_address(value, what)
    header_address(address, what)  # refuses what no header may hold
    return address


def _addresses(values: tuple[str, ...], what: str, seen: set[str]) -> tuple[str, ...]:
    kept = []
    for value in values:
        address = _address(value, what)
        if address not in seen:
            seen.add(address)
            kept.append(address)
    return tuple(kept)
