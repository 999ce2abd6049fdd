"""Rebalancing plans and schedules: pure functions over frozen values.

Seed "Rebalancing": tickets are redistributed when an agent logs in or at set times of day.
DESIGN §1: it evens out active unpinned tickets among eligible agents. What is evened out is the
set of tickets that may move (unpinned, plus pinned ones when the group allows it): pinned tickets
the group keeps in place are the agent's own business and are not counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from maild.errors import InvalidRequest


@dataclass(frozen=True)
class Movable:
    ticket_id: int
    responded: bool  # an agent already answered it
    created_at: datetime


@dataclass(frozen=True)
class Load:
    """One eligible agent's share in a group: the tickets that may move and the cap on them."""

    agent_id: int
    movable: tuple[Movable, ...]
    room: int | None  # how many movable tickets the agent may hold under max_tickets; None = any


@dataclass(frozen=True)
class Move:
    ticket_id: int
    from_agent_id: int
    to_agent_id: int


def move_preference(ticket: Movable) -> tuple[bool, float]:
    """Move what costs least to hand over: unanswered tickets first, newest first."""
    return (ticket.responded, -ticket.created_at.timestamp())


def targets(loads: Sequence[Load]) -> dict[int, int]:
    """How many movable tickets each agent should hold: counts differ by at most one, except
    where max_tickets caps an agent. An agent already over its cap keeps what it has rather than
    leaving tickets nowhere to go."""
    total = sum(len(load.movable) for load in loads)
    caps = {load.agent_id: _cap(load) for load in loads}
    given = {load.agent_id: 0 for load in loads}
    # (held so far, holds more now → keeps the odd ticket and saves a move, agent id). An agent
    # without room (max_tickets reached by tickets that stay put) never enters the heap: the cap
    # is checked before a ticket is given, not after.
    heap = [(0, -len(load.movable), load.agent_id) for load in loads if caps[load.agent_id] > 0]
    heapq.heapify(heap)
    while total and heap:
        held, tiebreak, agent_id = heapq.heappop(heap)
        given[agent_id] = held + 1
        total -= 1
        if held + 1 < caps[agent_id]:
            heapq.heappush(heap, (held + 1, tiebreak, agent_id))
    return given


def _cap(load: Load) -> int:
    if load.room is None:
        return len(load.movable) + 10**9
    return max(load.room, len(load.movable))


def plan_rebalance(loads: Sequence[Load]) -> list[Move]:
    """The fewest moves that bring every agent to its target."""
    goal = targets(loads)
    surplus: list[tuple[int, Movable]] = []
    for load in loads:
        extra = len(load.movable) - goal[load.agent_id]
        ordered = sorted(load.movable, key=move_preference)
        surplus.extend((load.agent_id, ticket) for ticket in ordered[: max(extra, 0)])
    moves: list[Move] = []
    for load in loads:
        for _ in range(goal[load.agent_id] - len(load.movable)):
            donor, ticket = surplus.pop()
            moves.append(Move(ticket.ticket_id, donor, load.agent_id))
    return moves


def parse_times(text: str) -> tuple[time, ...]:
    """`group.rebalance_times`: comma-separated HH:MM in UTC, e.g. "08:00, 13:30"."""
    result = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            parsed = datetime.strptime(part, "%H:%M").time()
        except ValueError:
            raise InvalidRequest(
                f"rebalance time {part!r} is not HH:MM (24-hour, UTC), e.g. 08:00"
            ) from None
        result.append(parsed)
    return tuple(sorted(result))


def times_due(times: Sequence[time], since: datetime, now: datetime) -> bool:
    """Whether one of the daily `times` falls in (since, now]."""
    if not times or now <= since:
        return False
    if now - since >= timedelta(days=1):
        return True
    for day in {since.date(), now.date()}:
        for moment in times:
            at = datetime.combine(day, moment, tzinfo=now.tzinfo)
            if since < at <= now:
                return True
    return False
