"""Several writers distributing at once (DESIGN §1: "two maild processes on one PostgreSQL
never assign a ticket twice or break round-robin order")."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import Group, History, Membership, Ticket
from tests.conftest import truncate_all
from tests.routing.factory import ROUND_ROBIN, bare_ticket, join, make_agent, make_group, make_org

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def distribute(url: str, worker: int, groups: list[int], count: int, start: Callable) -> None:  # type: ignore[type-arg]
    """One writer: `count` new tickets, alternating between `groups`, one transaction each."""
    store = Store.open(url)
    start()
    for i in range(count):
        with store.transaction() as session:
            group = session.get_one(Group, groups[i % len(groups)])
            now = NOW + timedelta(milliseconds=i)
            ticket = bare_ticket(session, group, now, number=f"W{worker}-{i:05d}")
            ROUND_ROBIN.place(session, ticket, now)
    store.close()


def prepare(store: Store) -> tuple[int, int]:
    """An `even` group of 10 equal agents without limits, a `capped` one of 5 with 100 each."""
    with store.transaction() as session:
        org = make_org(session)
        even, capped = make_group(session, org, "even"), make_group(session, org, "capped")
        for i in range(10):
            join(session, make_agent(session, f"even{i}"), even)
        for i in range(5):
            join(session, make_agent(session, f"capped{i}"), capped, max_tickets=100)
        return even.id, capped.id


def check(store: Store, even: int, capped: int, per_group: int) -> None:
    with store.transaction() as session:
        tickets = session.scalars(sa.select(Ticket)).all()
        assert len(tickets) == 2 * per_group
        # every ticket assigned or queued exactly once, and said so once in its history
        assert all((t.agent_id is None) == (t.queued_at is not None) for t in tickets)
        decided = Counter(
            session.scalars(
                sa.select(History.ticket_id).where(History.action.in_(["assigned", "queued"]))
            )
        )
        assert set(decided.values()) == {1} and len(decided) == len(tickets)
        counts = Counter((t.group_id, t.agent_id) for t in tickets)
        even_counts = [n for (g, a), n in counts.items() if g == even]
        assert len(even_counts) == 10 and max(even_counts) - min(even_counts) <= 1
        # the capped agents fill up evenly to their limit; the rest waits in the queue
        each = min(100, per_group // 5)
        members = sa.select(Membership.agent_id).where(Membership.group_id == capped)
        expected = {agent: each for agent in session.scalars(members)}
        assert {a: n for (g, a), n in counts.items() if g == capped and a is not None} == expected
        assert counts[(capped, None)] == per_group - 5 * each


def test_threads_on_one_database_never_double_assign_or_skip_a_turn(store: Store) -> None:
    even, capped = prepare(store)
    url = store.engine.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(4)
    threads = [
        threading.Thread(target=distribute, args=(url, w, [even, capped], 150, barrier.wait))
        for w in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check(store, even, capped, per_group=300)


@pytest.mark.slow
# Several processes each: on one xdist worker with the other such test, never both at once
# on 2 cores (a join timeout under that load is no finding).
@pytest.mark.xdist_group("many-processes")
def test_four_processes_distribute_2000_tickets_on_postgresql(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    truncate_all(store)  # the session database is shared with the `store` fixture's tests
    try:
        even, capped = prepare(store)
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(4)
        workers = [
            context.Process(
                target=distribute, args=(postgres_url, w, [even, capped], 500, barrier.wait)
            )
            for w in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        check(store, even, capped, per_group=1000)
    finally:
        truncate_all(store)
        store.close()
