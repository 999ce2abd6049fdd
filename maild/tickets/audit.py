"""Recording an action: a history entry for the ticket, and a touch in the agent's "recent" list.

Every service in the core ends with `note(...)` (DESIGN §1: "history: every action, who, when,
from -> to"; seed: the Recent view lists the tickets an agent touched).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from maild.store.models import Recent, Ticket
from maild.tickets import history
from maild.tickets._sql import upsert
from maild.tickets.actors import Actor


class Action(StrEnum):
    """The `action` column of history entries written by the core."""

    CREATED = "created"
    STATUS = "status"
    PRIORITY = "priority"
    PIN = "pin"
    SUBJECT = "subject"
    EMAIL = "email"
    CUSTOMER_REPLY = "customer_reply"
    BOUNCE = "bounce"
    AGENT_RESPONSE = "agent_response"
    COMMENT = "comment"
    RESOLUTION = "resolution"
    TIME_LOG = "time_log"
    FIELD = "field"
    RELATED = "related"
    PARTICIPANT = "participant"
    FOLLOWUP_SCHEDULED = "followup_scheduled"
    FOLLOWUP_REMOVED = "followup_removed"
    FOLLOWUP_SUSPENDED = "followup_suspended"
    FOLLOWUP_DUE = "followup_due"
    TRANSFER = "transfer"
    MERGED = "merged"
    DELETED = "deleted"
    UNDELETED = "undeleted"
    AUTO_CLOSED = "auto_closed"
    AUTORESPONSE = "autoresponse"  # sent, or why not (detail)
    DUPLICATE_DELIVERY = "duplicate_delivery"  # another copy of a mail of the ticket (detail)
    SENDER_AUTH = "sender_auth"  # an incoming mail's SPF/DKIM/DMARC verdict (detail)
    # Written by the outbound side (maild.outbound):
    FORWARDED = "forwarded"  # a message of the ticket forwarded (to_value: recipients)
    RESENT = "resent"  # an outgoing message sent again
    DRAFT_SAVED = "draft_saved"
    DELIVERY_FAILED = "delivery_failed"  # the relay refused a mail for good (detail: why)
    # Written by distribution (maild.routing):
    ASSIGNED = "assigned"
    QUEUED = "queued"
    HANDED_OFF = "handed_off"
    TAKEN = "taken"
    REBALANCED = "rebalanced"


def note(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    action: Action,
    now: datetime,
    from_value: object = "",
    to_value: object = "",
    detail: str = "",
) -> None:
    """Write the history entry for `action` and, when an agent did it, touch their recent list."""
    if actor.agent_id is not None:
        touch(session, ticket, actor.agent_id, now)
    history.record(session, ticket, actor.name, action.value, now, from_value, to_value, detail)


def touch(session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
    """Mark `ticket` as touched by the agent now (view `recent`)."""
    values = {"agent_id": agent_id, "ticket_id": ticket.id, "at": now}
    upsert(session, Recent, values, ["agent_id", "ticket_id"])
