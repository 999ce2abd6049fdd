"""What the ticket lifecycle needs from distribution, as an interface.

`maild.tickets` decides *when* a ticket must be placed with an agent; `maild.routing` decides
*who*. The lifecycle calls these hooks inside the caller's transaction; `maild.routing.RoundRobin`
implements them, and `QueueOnly` (every ticket waits in its group's queue) serves tests and the
"pull from queue" default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from maild.store.models import Ticket


class Distributor(Protocol):
    def place(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """Assign an active ticket that has no agent (new, transferred with auto-assign, handed
        off) to an eligible agent of its group, or leave it queued (agent None, queued_at set)."""

    def reactivate(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """A customer reply made a waiting/closed ticket active again: back to its agent when the
        ticket is pinned or that agent is receiving for the group, otherwise `place` it. Ignores
        max_tickets (but the ticket counts toward it)."""

    def assigned(self, session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
        """An agent was given an active ticket by hand (transfer to them, take, due follow-up):
        count it as received for round robin."""

    def released(
        self, session: Session, group_id: int, agent_id: int | None, now: datetime
    ) -> None:
        """An active ticket of `agent_id` in `group_id` left the agent or left `active`: the agent
        may be under their limit again, so the group's queue may drain."""


class QueueOnly:
    """Nobody is ever assigned automatically: tickets without an agent wait in the queue."""

    def place(self, session: Session, ticket: Ticket, now: datetime) -> None:
        ticket.agent_id = None
        if ticket.queued_at is None:
            ticket.queued_at = now

    def reactivate(self, session: Session, ticket: Ticket, now: datetime) -> None:
        if ticket.agent_id is None:
            self.place(session, ticket, now)

    def assigned(self, session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
        ticket.queued_at = None

    def released(
        self, session: Session, group_id: int, agent_id: int | None, now: datetime
    ) -> None:
        return None
