"""Ticket views: the lists agents work from (seed: "Agent Tickets vs. Global Tickets",
"Sorting the Ticket List"). Entry point: `list_tickets(session, TicketQuery(...), now)`.

Every view but `deleted` hides deleted tickets; `deleted` shows only them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.store.models import Agent, Brand, Department, Group, Recent, RecentTransfer, Ticket
from maild.tickets.access import Viewer, visible, visible_row, visible_union
from maild.tickets.rows import MESSAGE_COUNT, TicketRow, count_rows, fetch_rows, row_select
from maild.tickets.search import text_matches
from maild.values import Priority, Status

RECENT_LIMIT = 100  # seed/DESIGN: the 100 most recently touched / transferred
MAX_LIMIT = 1000


class View(StrEnum):
    MINE_ACTIVE = "mine_active"
    MINE_WAITING = "mine_waiting"
    MINE_CLOSED = "mine_closed"  # closed and closed_locked
    FOLLOW_UPS = "follow_ups"  # pending follow-ups (of the viewer, or all without a viewer)
    RECENT = "recent"
    RECENTLY_TRANSFERRED = "recently_transferred"
    QUEUE = "queue"  # active without an agent
    ALL = "all"
    DELETED = "deleted"


class SortKey(StrEnum):
    """The sortable columns (seed: "Sorting the Ticket List")."""

    STATUS = "status"
    PRIORITY = "priority"
    REQUESTER = "requester"
    SUBJECT = "subject"
    BRAND = "brand"
    DEPARTMENT = "department"
    GROUP = "group"
    AGENT = "agent"
    IDLE = "idle"
    DURATION = "duration"
    FOLLOW_UP = "follow_up"
    MESSAGES = "messages"
    NUMBER = "number"


@dataclass(frozen=True)
class TicketQuery:
    """A view, its filters, its order and its page. `viewer_id` is the agent whose "mine",
    recent and recently-transferred lists these are (required for those views)."""

    view: View = View.ALL
    viewer_id: int | None = None
    status: Status | None = None
    group_id: int | None = None
    agent_id: int | None = None
    brand_id: int | None = None
    department_id: int | None = None
    text: str = ""  # basic search within the view
    sort: SortKey = SortKey.IDLE
    descending: bool = False  # IDLE ascending = least idle first
    limit: int = 100
    offset: int = 0
    visible_to: Viewer | None = None  # only the tickets this agent may see (access.py)


def list_tickets(session: Session, query: TicketQuery, now: datetime) -> list[TicketRow]:
    """The page of the view `query` asks for, as rows."""
    if not 1 <= query.limit <= MAX_LIMIT or query.offset < 0:
        raise InvalidRequest(f"limit must be 1..{MAX_LIMIT} and offset 0 or more")
    page = _ordered_ids(query).limit(query.limit).offset(query.offset)
    # The page's ids first, its rows after: the names and message counts of a row are then
    # fetched for the page alone, not for every ticket the view sorts (a million, for `all`).
    statement = row_select().where(Ticket.id.in_(page)).order_by(*_order(query))
    return fetch_rows(session, statement, now)


def _ordered_ids(query: TicketQuery) -> sa.Select[Any]:
    """The view's ticket ids in the order asked for. In idle order, an agent's view is sorted
    from their visible sets (`access.visible_union`), each part giving idle time from its
    index; another key may need any column or a join, so it sorts `Ticket` itself."""
    union = _visible_union(query, [Ticket.id, Ticket.last_action_at])
    if union is None or query.sort is not SortKey.IDLE:
        statement = _joined_for(query.sort, sa.select(Ticket.id))
        return statement.where(*_conditions(query)).order_by(*_order(query))
    tickets = union.subquery()
    idle = _direction(tickets.c.last_action_at, True, query.descending, False)
    return sa.select(tickets.c.id).order_by(idle, _tie(tickets.c.id, query.descending))


def _joined_for(key: SortKey, statement: sa.Select[Any]) -> sa.Select[Any]:
    """`statement` with the one join sorting by `key` needs (a name of the organisation)."""
    joins: dict[SortKey, tuple[Any, Any]] = {
        SortKey.BRAND: (Brand, Brand.id == Ticket.brand_id),
        SortKey.DEPARTMENT: (Department, Department.id == Ticket.department_id),
        SortKey.GROUP: (Group, Group.id == Ticket.group_id),
    }
    if key is SortKey.AGENT:
        return statement.outerjoin(Agent, Agent.id == Ticket.agent_id)
    if key in joins:
        return statement.join(*joins[key])
    return statement


def count_tickets(session: Session, query: TicketQuery, up_to: int | None = None) -> int:
    """How many tickets the view holds with its filters (for paging); with `up_to`, counting
    stops after `up_to + 1`, so the answer is exact at or below `up_to` and means "more" above."""
    union = _visible_union(query, [Ticket.id])
    ids = union if union is not None else sa.select(Ticket.id).where(*_conditions(query))
    return count_rows(session, ids, up_to)


def _conditions(query: TicketQuery) -> list[sa.ColumnElement[bool]]:
    """The view's conditions, its filters and who may see what, on `Ticket`."""
    found = _view_conditions(query)
    if query.visible_to is not None and not _own_view(query, query.visible_to):
        scope = (visible_row if _few(query) else visible)(query.visible_to)
        if scope is not None:
            found.append(scope)
    return found


def _visible_union(query: TicketQuery, columns: list[Any]) -> sa.CompoundSelect | None:
    """`columns` of the view's tickets as one indexed set per part of the access rule, when
    the viewer's rule is such sets and the view is not one of the few or own ones."""
    viewer = query.visible_to
    if viewer is None or _own_view(query, viewer) or _few(query):
        return None
    return visible_union(viewer, columns, _view_conditions(query))


def _few(query: TicketQuery) -> bool:
    """100 tickets at most: visibility is tested on each (`access.visible_row`)."""
    return query.view in (View.RECENT, View.RECENTLY_TRANSFERRED)


def _view_conditions(query: TicketQuery) -> list[sa.ColumnElement[bool]]:
    found = [*_VIEWS[query.view](query)]
    if query.view is not View.DELETED:
        found.append(Ticket.deleted_at.is_(None))
    filters = (
        (Ticket.status, query.status),
        (Ticket.group_id, query.group_id),
        (Ticket.agent_id, query.agent_id),
        (Ticket.brand_id, query.brand_id),
        (Ticket.department_id, query.department_id),
    )
    found.extend(column == value for column, value in filters if value is not None)
    if query.text.strip():
        found.append(text_matches(query.text))
    return found


# The views that hold only tickets of their viewer (assigned to them, or their follow-ups):
# everyone may see those, so the visibility test is left out rather than evaluated per row.
_OWN_VIEWS = frozenset({View.MINE_ACTIVE, View.MINE_WAITING, View.MINE_CLOSED, View.FOLLOW_UPS})


def _own_view(query: TicketQuery, viewer: Viewer) -> bool:
    return query.view in _OWN_VIEWS and query.viewer_id == viewer.agent_id


def _viewer(query: TicketQuery) -> int:
    if query.viewer_id is None:
        raise InvalidRequest(f"view {query.view.value} is an agent's own view; name the agent")
    return query.viewer_id


def _mine(*statuses: Status) -> Callable[[TicketQuery], list[sa.ColumnElement[bool]]]:
    def conditions(query: TicketQuery) -> list[sa.ColumnElement[bool]]:
        return [Ticket.agent_id == _viewer(query), Ticket.status.in_(statuses)]

    return conditions


def _follow_ups(query: TicketQuery) -> list[sa.ColumnElement[bool]]:
    pending: list[sa.ColumnElement[bool]] = [
        Ticket.followup_at.is_not(None),
        Ticket.followup_suspended.is_(False),
    ]
    if query.viewer_id is None:
        return pending
    # The follow-up's agent, or the holder when it is set to auto-assign: two sets of ids, each
    # read from its own index (`coalesce(...) = me` can use none and read every follow-up).
    me = query.viewer_id
    owned = sa.union_all(
        sa.select(Ticket.id).where(Ticket.followup_agent_id == me, Ticket.followup_at.is_not(None)),
        sa.select(Ticket.id).where(
            Ticket.followup_agent_id.is_(None),
            Ticket.agent_id == me,
            Ticket.followup_at.is_not(None),
        ),
    )
    return [*pending, Ticket.id.in_(owned)]


def _latest(model: Any) -> Callable[[TicketQuery], list[sa.ColumnElement[bool]]]:
    def conditions(query: TicketQuery) -> list[sa.ColumnElement[bool]]:
        newest = (
            sa.select(model.ticket_id)
            .join(Ticket, Ticket.id == model.ticket_id)
            .where(model.agent_id == _viewer(query), Ticket.deleted_at.is_(None))
            .order_by(model.at.desc(), model.ticket_id.desc())
            .limit(RECENT_LIMIT)
        )
        return [Ticket.id.in_(newest)]

    return conditions


_VIEWS: dict[View, Callable[[TicketQuery], list[sa.ColumnElement[bool]]]] = {
    View.MINE_ACTIVE: _mine(Status.ACTIVE),
    View.MINE_WAITING: _mine(Status.WAITING),
    View.MINE_CLOSED: _mine(Status.CLOSED, Status.CLOSED_LOCKED),
    View.FOLLOW_UPS: _follow_ups,
    View.RECENT: _latest(Recent),
    View.RECENTLY_TRANSFERRED: _latest(RecentTransfer),
    View.QUEUE: lambda query: [Ticket.status == Status.ACTIVE, Ticket.agent_id.is_(None)],
    View.ALL: lambda query: [],
    View.DELETED: lambda query: [Ticket.deleted_at.is_not(None)],
}


def _rank(column: Any, values: list[Any]) -> sa.ColumnElement[int]:
    return sa.case({value: index for index, value in enumerate(values)}, value=column, else_=99)


# Each key: the column and whether ascending on the column means descending on the key
# (a later last action = less idle; a later creation = shorter duration).
_KEYS: dict[SortKey, tuple[Any, bool]] = {
    SortKey.STATUS: (_rank(Ticket.status, list(Status)), False),
    SortKey.PRIORITY: (_rank(Ticket.priority, [p for p in Priority]), False),
    SortKey.REQUESTER: (Ticket.requester, False),
    SortKey.SUBJECT: (sa.func.lower(Ticket.subject), False),
    SortKey.BRAND: (Brand.name, False),
    SortKey.DEPARTMENT: (Department.name, False),
    SortKey.GROUP: (Group.name, False),
    SortKey.AGENT: (Agent.name, False),
    SortKey.IDLE: (Ticket.last_action_at, True),
    SortKey.DURATION: (Ticket.created_at, True),
    SortKey.FOLLOW_UP: (Ticket.followup_at, False),
    SortKey.MESSAGES: (MESSAGE_COUNT, False),
    SortKey.NUMBER: (Ticket.number, False),
}


# The keys whose value may be NULL (no follow-up, no agent): those sort last. Saying NULLS LAST
# of a NOT NULL column would keep PostgreSQL from reading its index in order (idle time).
_NULLABLE = frozenset({SortKey.FOLLOW_UP, SortKey.AGENT})


def _order(query: TicketQuery) -> list[Any]:
    """The chosen key, then idle time in the same direction (seed: "Final sort order uses the
    ticket's idle time as the deciding factor"), then the id so pages never overlap."""
    keys = [query.sort, SortKey.IDLE] if query.sort is not SortKey.IDLE else [SortKey.IDLE]
    order = [_direction(*_KEYS[key], query.descending, key in _NULLABLE) for key in keys]
    return [*order, _tie(Ticket.id, query.descending)]


def _tie(ticket_id: Any, descending: bool) -> Any:
    return ticket_id.desc() if descending else ticket_id.asc()


def _direction(column: Any, inverted: bool, descending: bool, nullable: bool) -> Any:
    ordered = column.desc() if descending != inverted else column.asc()
    return ordered.nulls_last() if nullable else ordered
