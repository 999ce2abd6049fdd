"""Pydantic models of the mail an agent sends through the API: replies, the draft, forwards,
resends and new tickets (DESIGN §2, §5; seed "Composing a Ticket Response").

Every value that ends up in a header is checked here, so a refusal names its field: address
lists are parsed by the parser the mail will use, subjects and file names are single lines,
media types are RFC 6838 tokens. The outbound core checks them again where it writes them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from maild.api.ticket_models import FollowUpIn, TicketSummary, TransferIn
from maild.api.types import (
    AddressList,
    Base64Data,
    Flag,
    Line,
    LongName,
    MailAddress,
    MediaType,
    Name,
    RowRef,
    ShortLine,
    Text,
)
from maild.values import Priority, Status

_TYPED = "addresses separated by `;` or `,`"


class UploadIn(BaseModel):
    """A file to attach, its bytes in base64; at most `[outbound] max_attachment_bytes`."""

    filename: Annotated[ShortLine, Field(min_length=1)]
    content_type: MediaType = "application/octet-stream"
    data: Base64Data

    model_config = {"extra": "forbid"}


Uploads = Annotated[list[UploadIn], Field(max_length=20)]


class MarkIn(BaseModel):
    """Seed "Send and Mark": a status, or a follow-up, or a transfer (one of them)."""

    status: Status = Field(
        Status.WAITING, description="the ticket's status after sending (default waiting)"
    )
    follow_up: FollowUpIn | None = Field(None, description="send and schedule a follow-up")
    transfer: TransferIn | None = Field(None, description="send and transfer")


class ReplyIn(MarkIn):
    """An agent's reply. To defaults to the requester; `reply_all` adds the To and Cc of the
    message answered minus our own addresses; Bcc is for the envelope only."""

    body: Text = ""
    to: AddressList = Field("", description=f"{_TYPED}; default: the requester")
    cc: AddressList = Field("", description=_TYPED)
    bcc: AddressList = Field("", description=f"{_TYPED}; never in the headers")
    subject: Line = Field("", description="for this mail only; the ticket keeps its subject")
    reply_all: Flag = False
    canned: LongName | None = Field(None, description="a canned reply, inserted before the body")
    message: RowRef | None = Field(
        None, description="id of the message answered; default: the newest from the customer"
    )
    attachments: Uploads = []

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "body": "Please switch the printer off and on again.",
                    "cc": "office@example.com",
                    "subject": "About your printer",
                    "attachments": [
                        {"filename": "steps.txt", "content_type": "text/plain", "data": "MS4gT2Zm"}
                    ],
                    "status": "waiting",
                }
            ]
        },
    }


class SentOut(BaseModel):
    message_id: str = Field(description="the Message-ID of the queued mail")
    outbox: int = Field(description="its outbox row; the delivery worker of maild serve sends it")
    ticket: TicketSummary


class DraftIn(BaseModel):
    """The ticket's one draft, as typed (nothing is checked as an address until it is sent)."""

    body: Text = ""
    to: Line = ""
    cc: Line = ""
    bcc: Line = ""
    subject: Line = ""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"body": "Dear Carol,", "to": "carol@example.com"}]},
    }


class DraftOut(BaseModel):
    body: str
    to: str
    cc: str
    bcc: str
    subject: str


class ForwardIn(BaseModel):
    """Seed: "Forward - For incoming OR outgoing messages ... including attachments"."""

    to: Annotated[AddressList, Field(min_length=1, description=_TYPED)]
    cc: AddressList = Field("", description=_TYPED)
    bcc: AddressList = Field("", description=_TYPED)
    note: Text = Field("", description="written above the forwarded message")
    attachments: Uploads = []

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"to": "vendor@example.net", "note": "Could you look at this?"}]
        },
    }


class ResendIn(BaseModel):
    to: AddressList = Field("", description=f"{_TYPED}; default: the first recipients")

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"to": "carol.home@example.org"}]},
    }


class NewTicketIn(MarkIn):
    """Seed "Creating New Inbound or Outbound Tickets": outgoing (our mail to `customer`, then
    the mark applies) or `incoming` (as if the customer wrote it; the autoresponder answers)."""

    group: Name
    customer: MailAddress = Field(description="one address: To, or From if incoming")
    subject: Annotated[Line, Field(min_length=1)]
    body: Annotated[Text, Field(min_length=1)]
    incoming: Flag = False
    agent: Name | None = Field(None, description="assign to this agent; null: distribution")
    cc: AddressList = Field("", description=_TYPED)
    bcc: AddressList = Field("", description=f"{_TYPED}; outgoing only")
    priority: Priority = Priority.NORMAL
    attachments: Uploads = []

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "group": "Tier 1",
                    "customer": "Dave Example <dave@example.com>",
                    "subject": "Your quote",
                    "body": "Here is the quote we spoke about.",
                    "priority": "high",
                }
            ]
        },
    }
