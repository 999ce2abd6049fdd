"""Who gets the next ticket: pure decisions over frozen values, no database.

The rules come from DESIGN §1 "Distribution" and the seed's "Ticket Distribution Methods":
eligible primary agents first, then secondary; among them the lowest allocated count, then the
longest since the last assignment. `not_included` agents pull from the queue by hand only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from maild.values import Mode, Priority

# Tiers in the order they are asked; `not_included` is absent on purpose (seed: "they just
# won't receive any new tickets automatically").
TIERS: tuple[Mode, ...] = (Mode.PRIMARY, Mode.SECONDARY)


@dataclass(frozen=True)
class Candidate:
    """One agent's standing in one group at the moment of a decision."""

    agent_id: int
    agent_name: str
    mode: Mode
    logged_in: bool
    available: bool
    receiving: bool
    max_tickets: int | None
    active_count: int  # the agent's active tickets in this group
    allocated_count: int
    last_assigned_at: datetime | None


def active_in_group(logged_in: bool, available: bool, receiving: bool) -> bool:
    """Seed (agent status): to be assigned a ticket the agent must be logged in, available and
    set to receive tickets for the group."""
    return logged_in and available and receiving


def has_room(candidate: Candidate) -> bool:
    """Seed: max tickets caps the agent's active list; None means no limit."""
    return candidate.max_tickets is None or candidate.active_count < candidate.max_tickets


def is_eligible(candidate: Candidate) -> bool:
    """May receive a new ticket automatically right now."""
    return (
        candidate.mode in TIERS
        and active_in_group(candidate.logged_in, candidate.available, candidate.receiving)
        and has_room(candidate)
    )


def rank_key(candidate: Candidate) -> tuple[int, int, int, datetime | int, int]:
    """Round-robin order: tier, allocated count, never-assigned first, then longest since the
    last assignment; the agent id breaks remaining ties so every process agrees."""
    tier = TIERS.index(candidate.mode) if candidate.mode in TIERS else len(TIERS)
    last = candidate.last_assigned_at
    return (
        tier,
        candidate.allocated_count,
        0 if last is None else 1,
        0 if last is None else last,
        candidate.agent_id,
    )


def choose_agent(candidates: Iterable[Candidate]) -> Candidate | None:
    """The agent whose turn it is, or None when nobody eligible has room (→ the queue)."""
    eligible = [c for c in candidates if is_eligible(c)]
    return min(eligible, key=rank_key, default=None)


def after_assignment(candidate: Candidate, now: datetime) -> Candidate:
    """The candidate's standing once it has received one more new ticket."""
    return replace(
        candidate,
        active_count=candidate.active_count + 1,
        allocated_count=candidate.allocated_count + 1,
        last_assigned_at=now,
    )


def replace_candidate(candidates: Sequence[Candidate], updated: Candidate) -> list[Candidate]:
    """`candidates` with the entry for `updated.agent_id` swapped for `updated`."""
    return [updated if c.agent_id == updated.agent_id else c for c in candidates]


@dataclass(frozen=True)
class QueuedTicket:
    ticket_id: int
    priority: Priority
    queued_at: datetime


def queue_key(ticket: QueuedTicket) -> tuple[int, datetime, int]:
    """DESIGN §1: the queue drains most urgent first, then oldest."""
    return (-ticket.priority.rank, ticket.queued_at, ticket.ticket_id)
