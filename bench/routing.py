"""Distribution throughput: round-robin decisions per second in a big group, on SQLite.

A group of AGENTS agents (primary, max_tickets set, so every decision checks a limit) holds
TICKETS open active tickets. Each decision is one committed transaction that loads a new ticket
and `place`s it: lock the group, find whose turn it is, count their active tickets, assign, bump
the round-robin count, write history. The baseline, measured in the same run on the same file,
is the least any assignment must do: one committed, indexed single-row UPDATE per decision.
Target: at least 500 decisions per second.

    .venv/bin/python bench/routing.py [--agents 1000] [--tickets 100000] [--decisions 2000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maild.routing import RoundRobin  # noqa: E402
from maild.store.db import Store, upgrade_schema  # noqa: E402
from maild.store.models import Agent, Brand, Department, Group, Membership, Ticket  # noqa: E402
from maild.values import Status  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def populate(store: Store, agents: int, tickets: int, fresh: int) -> tuple[int, list[int]]:
    """The group, its agents, their open tickets, and `fresh` unassigned tickets to place."""
    with store.transaction() as s:
        brand = Brand(name="bench")
        s.add(brand)
        s.flush()
        department = Department(brand_id=brand.id, name="support")
        s.add(department)
        s.flush()
        group = Group(department_id=department.id, name="everyone")
        s.add(group)
        s.flush()
        s.execute(
            sa.insert(Agent), [{"name": f"agent{i}", "logged_in": True} for i in range(agents)]
        )
        agent_ids = list(s.scalars(sa.select(Agent.id).order_by(Agent.id)))
        per_agent = tickets // max(agents, 1)
        s.execute(
            sa.insert(Membership),
            [_member(a, group.id, per_agent, i) for i, a in enumerate(agent_ids)],
        )
        base = {"brand_id": brand.id, "department_id": department.id, "group_id": group.id}
        rows = [_ticket(base, f"OPEN-{i:07d}", agent_ids[i % agents]) for i in range(tickets)]
        for start in range(0, len(rows), 10_000):
            s.execute(sa.insert(Ticket), rows[start : start + 10_000])
        s.execute(sa.insert(Ticket), [_ticket(base, f"NEW-{i:07d}", None) for i in range(fresh)])
        new_ids = list(s.scalars(sa.select(Ticket.id).where(Ticket.number.like("NEW-%"))))
        return group.id, new_ids


def _member(agent_id: int, group_id: int, held: int, i: int) -> dict[str, object]:
    return {
        "agent_id": agent_id,
        "group_id": group_id,
        "max_tickets": held * 2 + 10,
        "allocated_count": held,
        "last_assigned_at": NOW - timedelta(seconds=i),
    }


def _ticket(base: dict[str, int], number: str, agent_id: int | None) -> dict[str, object]:
    return {
        **base,
        "number": number,
        "agent_id": agent_id,
        "status": Status.ACTIVE,
        "created_at": NOW,
        "last_action_at": NOW,
        "response_clock_at": NOW,
    }


def timed(label: str, n: int, work: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for i in range(n):
        work(i)
    rate = n / (time.perf_counter() - start)
    print(f"{label:<44} {rate:10.0f} decisions/s")
    return rate


def run(agents: int, tickets: int, decisions: int, path: Path) -> tuple[float, float]:
    store = Store.open(f"sqlite:///{path}")
    upgrade_schema(store)
    group_id, new_ids = populate(store, agents, tickets, 2 * decisions)
    baseline_ids, placed_ids = new_ids[:decisions], new_ids[decisions:]
    router = RoundRobin()

    def baseline(i: int) -> None:
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(Ticket)
                .where(Ticket.id == baseline_ids[i])
                .values(agent_id=1 + i % agents)
            )

    def decide(i: int) -> None:
        with store.transaction() as s:
            ticket = s.get_one(Ticket, placed_ids[i])
            router.place(s, ticket, NOW + timedelta(milliseconds=i))

    print(f"group of {agents} agents, {tickets} open tickets, {decisions} decisions, SQLite")
    base = timed("baseline: one indexed UPDATE per commit", decisions, baseline)
    ours = timed("maild: RoundRobin.place per commit", decisions, decide)
    _check(store, placed_ids)
    store.close()
    return base, ours


def _check(store: Store, placed_ids: list[int]) -> None:
    """A benchmark that assigns nothing measures nothing: every ticket must have an agent."""
    with store.transaction() as s:
        unplaced = s.scalar(
            sa.select(sa.func.count()).where(Ticket.id.in_(placed_ids), Ticket.agent_id.is_(None))
        )
    if unplaced:
        raise SystemExit(f"{unplaced} tickets were queued: the group has no room; raise the limits")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base, ours = run(args.agents, args.tickets, args.decisions, Path(tmp) / "bench.db")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"maild / baseline: {ours / base:.2f}; target >= 500 decisions/s: "
        f"{'met' if ours >= 500 else 'NOT met'}; peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
