"""SQLAlchemy models: the facts maild keeps (DESIGN §6).

Times are stored as naive UTC and read back as aware UTC (`UTCDateTime`), so SQLite and
PostgreSQL behave alike. Enumerations are stored as their string values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from maild.values import (
    CommentKind,
    Direction,
    FieldType,
    InboundState,
    Kind,
    Mode,
    OutboxState,
    ParticipantRole,
    Priority,
    Role,
    Status,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _enum(cls: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


# --- organisation --------------------------------------------------------------------------


class Brand(Base):
    __tablename__ = "brand"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    from_name: Mapped[str] = mapped_column(sa.String(200), default="")
    signature: Mapped[str] = mapped_column(sa.Text, default="")


class Department(Base):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"))
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    # The group new tickets join. A plain id, not a foreign key: department and group refer to
    # each other, and a cycle of foreign keys cannot be created in one pass on every backend.
    default_group_id: Mapped[int | None] = mapped_column()
    autoresponder_enabled: Mapped[bool] = mapped_column(default=False)
    autoresponder_subject: Mapped[str] = mapped_column(sa.Text, default="")
    autoresponder_body: Mapped[str] = mapped_column(sa.Text, default="")
    autoresponder_html: Mapped[str] = mapped_column(sa.Text, default="")
    # Waiting tickets idle longer than this become closed; None = never (seed: auto-close).
    auto_close_after_minutes: Mapped[int | None] = mapped_column()
    # A Reply-To naming one mailbox names the requester of a new ticket (web forms).
    reply_to_is_requester: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    brand: Mapped[Brand] = relationship()
    addresses: Mapped[list[DepartmentAddress]] = relationship(
        back_populates="department", cascade="all, delete-orphan"
    )


class DepartmentAddress(Base):
    __tablename__ = "department_address"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(sa.String(320), unique=True)  # addresses.normal_form

    department: Mapped[Department] = relationship(back_populates="addresses")


class Group(Base):
    __tablename__ = "group"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    rebalance: Mapped[bool] = mapped_column(default=False)
    rebalance_pinned: Mapped[bool] = mapped_column(default=False)
    # Comma-separated HH:MM (UTC) at which the group is rebalanced, when rebalance is on.
    rebalance_times: Mapped[str] = mapped_column(sa.String(200), default="")
    queue_alert_after_minutes: Mapped[int | None] = mapped_column()

    department: Mapped[Department] = relationship(foreign_keys=[department_id])


class Agent(Base):
    __tablename__ = "agent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    email: Mapped[str] = mapped_column(sa.String(320), default="")
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.AGENT)
    password_hash: Mapped[str] = mapped_column(sa.String(200), default="")
    logged_in: Mapped[bool] = mapped_column(default=False)
    available: Mapped[bool] = mapped_column(default=True)


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "group_id"),
        # Round-robin order (maild.routing.queries): a decision reads the first few members.
        sa.Index(
            "ix_membership_round_robin",
            "group_id",
            "mode",
            "allocated_count",
            "last_assigned_at",
            "agent_id",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("group.id", ondelete="CASCADE"), index=True)
    mode: Mapped[Mode] = mapped_column(_enum(Mode), default=Mode.PRIMARY)
    max_tickets: Mapped[int | None] = mapped_column()
    receiving: Mapped[bool] = mapped_column(default=True)
    allocated_count: Mapped[int] = mapped_column(default=0)
    last_assigned_at: Mapped[datetime | None] = mapped_column()

    agent: Mapped[Agent] = relationship()
    group: Mapped[Group] = relationship()


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """A change an admin made to the organisation (departments, groups, agents, ...): who,
    when, and the entity before and after, as JSON ("" when it did not exist)."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(320))
    action: Mapped[str] = mapped_column(sa.String(20))  # created / updated / deleted
    entity: Mapped[str] = mapped_column(sa.String(50))  # department, group, agent, ...
    key: Mapped[str] = mapped_column(sa.String(400))  # the entity's name
    before: Mapped[str] = mapped_column(sa.Text, default="")
    after: Mapped[str] = mapped_column(sa.Text, default="")


class TicketSequence(Base):
    """One counter per number prefix; incremented under a row lock so numbers never repeat."""

    __tablename__ = "ticket_sequence"
    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


# --- tickets -------------------------------------------------------------------------------


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        # A group's queue (routing, queue counts) and, in idle order with `deleted_at`, the
        # queue part of an agent's visible tickets (access.py) read from the index alone.
        sa.Index(
            "ix_ticket_group_status_agent",
            "group_id",
            "status",
            "agent_id",
            "last_action_at",
            "deleted_at",
            postgresql_include=["id"],
        ),
        # An agent's tickets (views `mine_*`, the visibility set of access.py) and the queue
        # (agent NULL), in idle order and counted from the index alone: `deleted_at` is in it,
        # and `id` is included on PostgreSQL (SQLite's indexes hold the rowid anyway).
        sa.Index(
            "ix_ticket_agent_status",
            "agent_id",
            "status",
            "last_action_at",
            "deleted_at",
            postgresql_include=["id"],
        ),
        # The views (bench/api.py): `mine_*` and `queue` read a status and an agent (or none)
        # in idle order; the live tickets in idle order, and counted, without the table.
        # `deleted_at` last: the views' `deleted_at IS NULL` is then checked in the index.
        sa.Index(
            "ix_ticket_status_agent_idle",
            "status",
            "agent_id",
            "last_action_at",
            "deleted_at",
            postgresql_include=["id"],
        ),
        sa.Index(
            "ix_ticket_live_idle",
            "last_action_at",
            "deleted_at",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
        # Few tickets are deleted: an index of all the NULLs would lure planners into reading
        # most of the table through it for `deleted_at IS NULL`. In idle order for the view.
        sa.Index(
            "ix_ticket_deleted_idle",
            "last_action_at",
            "deleted_at",
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
        ),
        # The follow-ups of a holder with none named for another agent (view `follow_ups`).
        sa.Index(
            "ix_ticket_followup_holder",
            "agent_id",
            "followup_agent_id",
            sqlite_where=sa.text("followup_at IS NOT NULL"),
            postgresql_where=sa.text("followup_at IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(50), unique=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("group.id"))
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.ACTIVE)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    pinned: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    requester: Mapped[str] = mapped_column(sa.String(320), default="", index=True)
    automatic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    last_action_at: Mapped[datetime] = mapped_column(index=True)
    first_response_at: Mapped[datetime | None] = mapped_column()
    # Start of the agent response clock; reset on transfer (seed: "agent response time IS reset").
    response_clock_at: Mapped[datetime]
    # When the ticket entered its group's queue (agent is None and active); None otherwise.
    queued_at: Mapped[datetime | None] = mapped_column()
    followup_at: Mapped[datetime | None] = mapped_column(index=True)
    followup_prev_status: Mapped[Status | None] = mapped_column(_enum(Status))
    followup_group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("group.id"))
    followup_agent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agent.id", ondelete="SET NULL"),
        index=True,  # who sees it (access.py)
    )
    followup_priority: Mapped[Priority | None] = mapped_column(_enum(Priority))
    followup_pin: Mapped[bool] = mapped_column(default=False)
    followup_note: Mapped[str] = mapped_column(sa.Text, default="")
    # A customer reply suspends the follow-up; its values stay for next time (seed).
    followup_suspended: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None] = mapped_column()

    brand: Mapped[Brand] = relationship()
    department: Mapped[Department] = relationship()
    group: Mapped[Group] = relationship(foreign_keys=[group_id])
    agent: Mapped[Agent | None] = relationship(foreign_keys=[agent_id])


class Participant(Base):
    __tablename__ = "participant"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "address", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(sa.String(320), index=True)  # addresses.normal_form
    role: Mapped[ParticipantRole] = mapped_column(_enum(ParticipantRole))


class Forwarder(Base):
    """A ticket number merged away, pointing at the ticket that absorbed it."""

    __tablename__ = "forwarder"
    number: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))


class Related(Base):
    __tablename__ = "related"
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    related_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )


class CustomField(Base):
    __tablename__ = "custom_field"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    type: Mapped[FieldType] = mapped_column(_enum(FieldType))
    choices: Mapped[str] = mapped_column(sa.Text, default="")  # newline-separated, for CHOICE


class TicketField(Base):
    __tablename__ = "ticket_field"
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[int] = mapped_column(
        sa.ForeignKey("custom_field.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(sa.Text)


class TimeLog(Base):
    __tablename__ = "time_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime]


class Comment(Base):
    """Agents-only notes: comments and resolutions (never shown to customers)."""

    __tablename__ = "comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    kind: Mapped[CommentKind] = mapped_column(_enum(CommentKind), default=CommentKind.COMMENT)
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class History(Base):
    """Every action on a ticket: who, when, what, from -> to."""

    __tablename__ = "history"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(320))  # agent name, "system" or an address
    action: Mapped[str] = mapped_column(sa.String(50))
    from_value: Mapped[str] = mapped_column(sa.Text, default="")
    to_value: Mapped[str] = mapped_column(sa.Text, default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class Draft(Base):
    __tablename__ = "draft"
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    to_addrs: Mapped[str] = mapped_column(sa.Text, default="")
    cc_addrs: Mapped[str] = mapped_column(sa.Text, default="")
    bcc_addrs: Mapped[str] = mapped_column(sa.Text, default="")
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime]


class CannedReply(Base):
    __tablename__ = "canned_reply"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")


class Recent(Base):
    """Tickets an agent touched (view `recent`, 100 newest)."""

    __tablename__ = "recent"
    agent_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(index=True)


class RecentTransfer(Base):
    """Tickets transferred out of or into an agent's hands (view `recently_transferred`)."""

    __tablename__ = "recent_transfer"
    agent_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(index=True)


# --- mail ----------------------------------------------------------------------------------


class Raw(Base):
    """Raw message bytes, stored once per content hash; compressed after a day idle."""

    __tablename__ = "raw"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    size: Mapped[int]
    compressed: Mapped[bool] = mapped_column(default=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Message(Base):
    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    kind: Mapped[Kind] = mapped_column(_enum(Kind), default=Kind.NORMAL)
    message_id: Mapped[str] = mapped_column(sa.String(998), default="", index=True)
    in_reply_to: Mapped[str] = mapped_column(sa.Text, default="")
    references: Mapped[str] = mapped_column(sa.Text, default="")  # space-separated Message-IDs
    from_addr: Mapped[str] = mapped_column(sa.Text, default="")
    to_addrs: Mapped[str] = mapped_column(sa.Text, default="")  # comma-separated
    cc_addrs: Mapped[str] = mapped_column(sa.Text, default="")
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    date: Mapped[datetime | None] = mapped_column()
    text: Mapped[str] = mapped_column(sa.Text, default="")
    html: Mapped[str] = mapped_column(sa.Text, default="")
    raw_id: Mapped[int | None] = mapped_column(sa.ForeignKey("raw.id"))
    # The unguessable part of Message-IDs maild generates; replies quoting it may append.
    token: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    # Incoming mail: the sender verdict it was judged by (`SenderAuth.as_json`).
    sender_auth: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan"
    )


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.Text, default="")
    content_type: Mapped[str] = mapped_column(sa.String(200), default="application/octet-stream")
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)

    message: Mapped[Message] = relationship(back_populates="attachments")


class Inbound(Base):
    """The spool: every accepted mail, committed before SMTP says 250 or IMAP marks it."""

    __tablename__ = "inbound"
    __table_args__ = (sa.UniqueConstraint("message_key", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(500))  # "smtp", "imap:acct/folder", a path
    envelope_from: Mapped[str | None] = mapped_column(sa.Text)  # None = no envelope; "" = <>
    # RCPT TO addresses as a JSON list: a quoted local part may hold a comma (issue 12).
    rcpt_to: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    message_key: Mapped[str] = mapped_column(sa.String(998), default="")  # Message-ID or ""
    sha256: Mapped[str] = mapped_column(sa.String(64))
    raw_id: Mapped[int] = mapped_column(sa.ForeignKey("raw.id"))
    # The department the transport assigned (an IMAP account's); it wins over the recipients.
    department: Mapped[str | None] = mapped_column(sa.String(200))
    # The SPF/DKIM/DMARC verdict taken at receive time (`SenderAuth.as_json`); None = none taken.
    sender_auth: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    state: Mapped[InboundState] = mapped_column(
        _enum(InboundState), default=InboundState.RECEIVED, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    outcome: Mapped[str] = mapped_column(sa.String(20), default="")
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column()


class FirstCopy(Base):
    """The first processed copy of each mail, keyed by its Message-ID and sender: a mail To one
    department and Cc another reaches maild twice, and the later copy joins this one's ticket.
    The key is unique, so two processes given the two copies at once cannot both be first."""

    __tablename__ = "first_copy"
    id: Mapped[int] = mapped_column(primary_key=True)
    mail_key: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex, see ingest
    # Its ticket is the spool row's, which a merge moves; purging the row forgets the copy.
    inbound_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inbound.id", ondelete="CASCADE"), index=True
    )
    received_at: Mapped[datetime]  # of the first copy: the duplicate window starts here


class Bounce(Base):
    """A non-delivery report: recorded on its ticket, or kept for admins when it matches none."""

    __tablename__ = "bounce"
    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound.id"))
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    recipients: Mapped[str] = mapped_column(sa.Text, default="")  # comma-separated
    action: Mapped[str] = mapped_column(sa.String(20), default="")  # failed / delayed / ...
    status: Mapped[str] = mapped_column(sa.String(20), default="")
    original_message_id: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime]


class ImapState(Base):
    """Where the poller of one account's folder stands: the UIDs it has handed to the spool
    are those up to `last_uid` under this `uidvalidity` (RFC 3501 §2.3.1.1)."""

    __tablename__ = "imap_state"
    account: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    folder: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(sa.BigInteger)
    last_uid: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Outbox(Base):
    """Outgoing mail, written in the same transaction as the ticket change that causes it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    message_row_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL")
    )
    purpose: Mapped[str] = mapped_column(sa.String(30), default="reply")  # reply, autoresponse
    envelope_from: Mapped[str] = mapped_column(sa.Text)  # VERP: bounces+TOKEN@domain
    # The envelope's RCPT TO addresses, BCC included, as a JSON list: an address may contain a
    # comma (a quoted local part), so a joined string could not be split back safely.
    recipients: Mapped[list[str]] = mapped_column(sa.JSON)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    state: Mapped[OutboxState] = mapped_column(
        _enum(OutboxState), default=OutboxState.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column()

    # Lets the unit of work insert the outgoing message and its outbox row in one flush.
    message: Mapped[Message | None] = relationship()


class AutoresponseLog(Base):
    __tablename__ = "autoresponse_log"
    __table_args__ = (
        sa.Index("ix_autoresponse_log_sender_at", "sender", "at"),
        sa.Index("ix_autoresponse_log_domain_at", "domain", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(sa.String(320))  # folded: user+tag@ is user@
    domain: Mapped[str] = mapped_column(sa.String(255), default="")
    at: Mapped[datetime]


# --- scheduled jobs ------------------------------------------------------------------------


class JobRun(Base):
    """The last run of each periodic job (maild.scheduler), shared by every process: `maild
    jobs list` shows it, and a job that acts on times of day (rebalancing) starts from it."""

    __tablename__ = "job_run"
    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool]
    result: Mapped[str] = mapped_column(sa.Text, default="")  # what it did, or its error
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)


class QueueAlertSent(Base):
    """A ticket whose wait in its group's queue was reported to the managers (once per ticket)."""

    __tablename__ = "queue_alert"
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    sent_at: Mapped[datetime]
