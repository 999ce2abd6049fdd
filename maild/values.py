"""Typed values shared by every layer: the vocabulary of the domain. No imports beyond stdlib."""

from enum import StrEnum


class Status(StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    CLOSED = "closed"
    CLOSED_LOCKED = "closed_locked"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Higher is more urgent; the queue drains by rank, then age."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Role(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class Mode(StrEnum):
    """How an agent takes part in a group's round robin (seed: "Ticket Distribution Methods")."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    NOT_INCLUDED = "not_included"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Kind(StrEnum):
    """Classification of a mail (DESIGN §2)."""

    NORMAL = "normal"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


class CommentKind(StrEnum):
    COMMENT = "comment"
    RESOLUTION = "resolution"


class ParticipantRole(StrEnum):
    REQUESTER = "requester"
    CC = "cc"
    AGENT = "agent"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


class InboundState(StrEnum):
    RECEIVED = "received"
    DONE = "done"
    HELD = "held"


class Outcome(StrEnum):
    """What `maild ingest` reports per message (DESIGN §5)."""

    NEW_TICKET = "new_ticket"
    APPENDED = "appended"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    DUPLICATE = "duplicate"
    # Another copy of a mail already processed: the same Message-ID from the same sender,
    # delivered to a second department's mailbox (To one department, Cc another).
    DUPLICATE_DELIVERY = "duplicate_delivery"
    HELD = "held"


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class ReplyPolicy(StrEnum):
    PARTICIPANTS_OR_TOKEN = "participants_or_token"
    ANY = "any"


class RelaySecurity(StrEnum):
    """How the delivery worker talks to its relay."""

    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS; refuses a relay without it
    TLS = "tls"  # TLS from the first byte (submissions, port 465)
    NONE = "none"  # no encryption: a relay on the same host or a test sink only
