"""The pure decisions: who is eligible, whose turn it is, how a rebalance evens out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maild.errors import InvalidRequest
from maild.routing.balance import Load, Movable, parse_times, plan_rebalance, times_due
from maild.routing.queries import FIRST_PAGE, LAST_PAGE
from maild.routing.rules import TIERS, Candidate, choose_agent, is_eligible, rank_key
from maild.values import Mode

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def cand(agent_id: int, **kw: object) -> Candidate:
    values: dict[str, object] = dict(
        agent_id=agent_id,
        agent_name=f"a{agent_id}",
        mode=Mode.PRIMARY,
        logged_in=True,
        available=True,
        receiving=True,
        max_tickets=None,
        active_count=0,
        allocated_count=0,
        last_assigned_at=None,
    )
    values.update(kw)
    return Candidate(**values)  # type: ignore[arg-type]


def test_lowest_allocated_count_wins() -> None:
    chosen = choose_agent([cand(1, allocated_count=3), cand(2, allocated_count=1)])
    assert chosen is not None and chosen.agent_id == 2


def test_equal_counts_go_to_the_agent_longest_since_last_assignment() -> None:
    recent = cand(1, last_assigned_at=T0)
    older = cand(2, last_assigned_at=T0 - timedelta(hours=1))
    never = cand(3)
    assert choose_agent([recent, older]) == older
    assert choose_agent([recent, older, never]) == never


def test_primary_beats_secondary_whatever_the_counts() -> None:
    primary = cand(1, allocated_count=50)
    secondary = cand(2, mode=Mode.SECONDARY)
    assert choose_agent([secondary, primary]) == primary


def test_not_included_and_inactive_agents_are_not_eligible() -> None:
    assert not is_eligible(cand(1, mode=Mode.NOT_INCLUDED))
    assert not is_eligible(cand(1, logged_in=False))
    assert not is_eligible(cand(1, available=False))
    assert not is_eligible(cand(1, receiving=False))
    assert not is_eligible(cand(1, max_tickets=2, active_count=2))
    assert is_eligible(cand(1, max_tickets=2, active_count=1))
    assert choose_agent([cand(1, mode=Mode.NOT_INCLUDED)]) is None


candidates = st.lists(
    st.builds(
        cand,
        st.integers(1, 10_000),
        mode=st.sampled_from(list(Mode)),
        max_tickets=st.none() | st.integers(0, 3),
        active_count=st.integers(0, 4),
        allocated_count=st.integers(0, 3),
        last_assigned_at=st.none() | st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=90,
    unique_by=lambda c: c.agent_id,
)


@given(candidates)
def test_pages_in_rank_order_find_the_same_agent_as_all_candidates(cands: list[Candidate]) -> None:
    """`queries.candidate_pages` relies on this: choosing page by page is choosing overall."""
    ordered = sorted(cands, key=rank_key)
    pages, size = [], FIRST_PAGE
    while ordered:
        pages.append(ordered[:size])
        ordered, size = ordered[size:], min(size * 4, LAST_PAGE)
    by_page = next((c for page in pages if (c := choose_agent(page)) is not None), None)
    assert by_page == choose_agent(cands)


def test_tier_order_is_the_string_order_the_sql_ranking_relies_on() -> None:
    assert sorted(m.value for m in TIERS) == [m.value for m in TIERS]


def movables(n: int, start: int) -> tuple[Movable, ...]:
    return tuple(Movable(start + i, False, T0) for i in range(n))


@given(st.lists(st.integers(0, 12), min_size=1, max_size=8))
def test_rebalance_leaves_counts_within_one_and_keeps_every_ticket(sizes: list[int]) -> None:
    loads = [Load(i, movables(n, 100 * i), None) for i, n in enumerate(sizes)]
    held = {load.agent_id: {m.ticket_id for m in load.movable} for load in loads}
    moves = plan_rebalance(loads)
    for move in moves:
        held[move.from_agent_id].remove(move.ticket_id)
        held[move.to_agent_id].add(move.ticket_id)
    counts = [len(tickets) for tickets in held.values()]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == sum(sizes)
    assert len(moves) == fewest_moves(sizes)


def fewest_moves(sizes: list[int]) -> int:
    """The odd tickets stay with the agents who hold the most; the rest give their surplus."""
    base, odd = divmod(sum(sizes), len(sizes))
    ordered = sorted(sizes, reverse=True)
    goals = [base + 1] * odd + [base] * (len(sizes) - odd)
    return sum(max(0, n - goal) for n, goal in zip(ordered, goals, strict=True))


def test_rebalance_fills_capped_agents_only_to_their_room() -> None:
    loads = [Load(1, movables(9, 0), None), Load(2, (), 1), Load(3, (), None)]
    moves = plan_rebalance(loads)
    received = [m.to_agent_id for m in moves]
    assert received.count(2) == 1
    assert received.count(3) == 4


def test_rebalance_gives_nothing_to_an_agent_already_at_max_tickets() -> None:
    # Caps 4 and 0: the second agent's max_tickets is used up by tickets that stay put.
    moves = plan_rebalance([Load(1, movables(4, 0), 4), Load(2, (), 0)])
    assert moves == []


@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8) | st.none()), min_size=1))
def test_rebalance_never_fills_an_agent_past_its_room(
    shares: list[tuple[int, int | None]],
) -> None:
    loads = [Load(i, movables(n, 100 * i), room) for i, (n, room) in enumerate(shares)]
    held = {load.agent_id: len(load.movable) for load in loads}
    for move in plan_rebalance(loads):
        held[move.from_agent_id] -= 1
        held[move.to_agent_id] += 1
    for load in loads:
        if load.room is not None:  # an agent over its cap keeps what it has, gets nothing
            assert held[load.agent_id] <= max(load.room, len(load.movable))
    assert sum(held.values()) == sum(n for n, _ in shares)


def test_rebalance_moves_unanswered_newest_tickets_first() -> None:
    answered_old = Movable(1, True, T0)
    fresh = Movable(2, False, T0 + timedelta(hours=1))
    unanswered_old = Movable(3, False, T0)
    moves = plan_rebalance(
        [Load(1, (answered_old, fresh, unanswered_old), None), Load(2, (), None)]
    )
    assert [m.ticket_id for m in moves] == [2]


def test_rebalance_times_are_parsed_and_due_once_in_their_window() -> None:
    times = parse_times("13:30, 08:00,")
    assert times == (time(8, 0), time(13, 30))
    assert times_due(times, T0 - timedelta(hours=2), T0)  # 07:00 → 09:00 holds 08:00
    assert not times_due(times, T0, T0 + timedelta(hours=4))  # 09:00 → 13:00
    assert times_due(times, T0 + timedelta(hours=4), T0 + timedelta(hours=5))
    assert times_due(times, T0.replace(hour=23), T0.replace(hour=23) + timedelta(hours=10))
    assert not times_due((), T0 - timedelta(days=3), T0)


def test_bad_rebalance_time_says_the_expected_format() -> None:
    with pytest.raises(InvalidRequest, match="HH:MM"):
        parse_times("8am")
