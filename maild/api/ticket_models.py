"""Pydantic models of tickets as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from maild.api.types import Address, Flag, Line, LongName, Minutes, Name, Number, Text, UtcTime
from maild.tickets.rows import TicketRow
from maild.values import CommentKind, Direction, Kind, ParticipantRole, Priority, Status


class TicketSummary(BaseModel):
    """A row of a ticket list (seed: "Understanding the Ticket List")."""

    number: str
    status: Status
    priority: Priority
    pinned: bool
    subject: str
    requester: str
    brand: str
    department: str
    group: str
    agent: str | None = Field(description="null: in the group's queue (or not held by anyone)")
    automatic: bool
    created_at: datetime
    last_action_at: datetime
    followup_at: datetime | None
    followup_due: bool
    deleted_at: datetime | None
    message_count: int
    duration_seconds: int
    idle_seconds: int
    fields: dict[str, str]

    @classmethod
    def of(cls, row: TicketRow, now: datetime) -> TicketSummary:
        return cls(
            number=row.number,
            status=row.status,
            priority=row.priority,
            pinned=row.pinned,
            subject=row.subject,
            requester=row.requester,
            brand=row.brand,
            department=row.department,
            group=row.group,
            agent=row.agent,
            automatic=row.automatic,
            created_at=row.created_at,
            last_action_at=row.last_action_at,
            followup_at=row.followup_at,
            followup_due=row.followup_due(now),
            deleted_at=row.deleted_at,
            message_count=row.message_count,
            duration_seconds=int(row.duration.total_seconds()),
            idle_seconds=int(row.idle.total_seconds()),
            fields=dict(row.fields),
        )


# Counting every ticket of a desk-wide view reads a million index entries; an agent's pager
# needs no more than "10,000+", and `exact_total=true` asks for the full count.
COUNT_UP_TO = 10_000


class TicketPage(BaseModel):
    total: int = Field(
        description="how many tickets the view holds with these filters; when `total_exact` "
        f"is false, more than this ({COUNT_UP_TO:,}+): ask with `exact_total=true` to count all"
    )
    total_exact: bool = Field(default=True, description="false when `total` is a lower bound")
    limit: int
    offset: int
    items: list[TicketSummary]

    @classmethod
    def of(
        cls, counted: int, up_to: int | None, limit: int, offset: int, items: list[TicketSummary]
    ) -> TicketPage:
        """A page from a count made with `up_to` (see `count_tickets`)."""
        exact = up_to is None or counted <= up_to
        total = counted if exact or up_to is None else up_to
        return cls(total=total, total_exact=exact, limit=limit, offset=offset, items=items)


class AttachmentOut(BaseModel):
    id: int
    message: int = Field(description="id of the message carrying it")
    filename: str
    content_type: str
    size: int
    url: str = Field(description="download link (Content-Disposition: attachment)")


class MessageOut(BaseModel):
    id: int
    direction: Direction
    kind: Kind
    message_id: str
    from_: str = Field(serialization_alias="from")
    to: str
    cc: str
    subject: str
    date: datetime | None
    text: str
    html: str = Field(description="sanitised HTML (raw only to admins with raw_html=true)")
    attachments: list[AttachmentOut]
    raw_url: str | None = Field(description="the raw message (message/rfc822), when kept")


class CommentOut(BaseModel):
    id: int
    kind: CommentKind
    body: str
    agent: str | None
    created_at: datetime


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    from_: str = Field(serialization_alias="from")
    to: str
    detail: str


class TimeLogOut(BaseModel):
    id: int
    minutes: int
    note: str
    agent: str | None
    created_at: datetime


class ParticipantOut(BaseModel):
    address: str
    role: ParticipantRole


class RelatedOut(BaseModel):
    number: str
    subject: str
    status: Status


class FollowUpOut(BaseModel):
    at: datetime
    group: str
    agent: str | None = Field(description="null: auto-assign within the group when due")
    priority: Priority | None
    pin: bool
    note: str
    suspended: bool = Field(description="a customer reply suspended it; values kept for next time")
    previous_status: Status | None


class TicketDetail(TicketSummary):
    first_response_at: datetime | None
    response_clock_at: datetime
    follow_up: FollowUpOut | None
    participants: list[ParticipantOut]
    messages: list[MessageOut]
    attachments: list[AttachmentOut]
    comments: list[CommentOut]
    time_logs: list[TimeLogOut]
    history: list[HistoryOut]
    related: list[RelatedOut]
    merged: list[str] = Field(description="numbers merged into this ticket (they still resolve)")


# --- requests ------------------------------------------------------------------------------


class TicketPatch(BaseModel):
    """Everyday changes (seed "Actions"); each given field is applied, in this order."""

    status: Status | None = None
    priority: Priority | None = None
    pinned: Flag | None = None
    subject: Line | None = Field(None, description="used for all future replies")
    email: Address | None = Field(None, description="future replies go to this address")

    model_config = {"extra": "forbid"}


class CommentIn(BaseModel):
    body: Annotated[Text, Field(min_length=1)]
    kind: CommentKind = CommentKind.COMMENT

    model_config = {"extra": "forbid"}


class TransferIn(BaseModel):
    """Seed "Transferring Tickets": new group, agent (null = auto-assign), priority, status,
    pin and a comment; `brand` null = the brand of the group's department."""

    group: Name
    agent: Name | None = None
    priority: Priority | None = None
    status: Status | None = None
    pin: Flag = False
    comment: Text = ""
    brand: LongName | None = None

    model_config = {"extra": "forbid"}


class FollowUpIn(BaseModel):
    """Seed "Scheduling Tickets For Follow-up". `group` defaults to the ticket's; `agent`
    left out = the caller (seed default), null = auto-assign when due."""

    at: UtcTime
    group: Name | None = None
    agent: Name | None = None
    priority: Priority | None = None
    pin: Flag = False
    note: Text = ""

    model_config = {"extra": "forbid"}


class MergeIn(BaseModel):
    primary: Number
    others: Annotated[list[Number], Field(min_length=1, max_length=9)]

    model_config = {"extra": "forbid"}


class FieldsIn(BaseModel):
    """Custom field values by field name; an empty value clears the field."""

    values: Annotated[dict[Name, Annotated[Text, Field(max_length=10_000)]], Field(max_length=100)]

    model_config = {"extra": "forbid"}


class TimeLogIn(BaseModel):
    minutes: Minutes
    note: Text = ""

    model_config = {"extra": "forbid"}


class RelatedIn(BaseModel):
    number: Number

    model_config = {"extra": "forbid"}


class BulkStatus(BaseModel):
    action: Literal["status"]
    status: Status


class BulkPriority(BaseModel):
    action: Literal["priority"]
    priority: Priority


class BulkPin(BaseModel):
    action: Literal["pin"]
    pinned: Flag


class BulkTransfer(BaseModel):
    action: Literal["transfer"]
    transfer: TransferIn


class BulkDelete(BaseModel):
    action: Literal["delete"]


BulkAction = Annotated[
    BulkStatus | BulkPriority | BulkPin | BulkTransfer | BulkDelete, Field(discriminator="action")
]


class BulkIn(BaseModel):
    """Seed "Performing Actions on Multiple Tickets": one action on up to 100 tickets."""

    numbers: Annotated[list[Number], Field(min_length=1, max_length=100)]
    change: BulkAction

    model_config = {"extra": "forbid"}


class BulkResult(BaseModel):
    number: str
    ok: bool
    error: str | None = Field(None, description="why this ticket was not changed")


class BulkOut(BaseModel):
    changed: int
    results: list[BulkResult]
