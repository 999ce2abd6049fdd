"""Groups: distribution settings, members (mode, max tickets, receiving), rebalancing now."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from maild.api.auth import Admin, Anyone, Ctx, Manager
from maild.api.errors import ERROR_RESPONSES
from maild.api.paging import Limit, Offset, Page, fetch_page
from maild.api.types import Count, Flag, Minutes, Name
from maild.org.common import KEEP, by_name
from maild.org.groups import (
    GroupSpec,
    MemberSpec,
    create_group,
    delete_group,
    group_state,
    members,
    remove_member,
    set_member,
    update_group,
)
from maild.routing import rebalance_group
from maild.store.models import Agent, Group, Ticket
from maild.tickets.states import IN_QUEUE
from maild.values import Mode

router = APIRouter(prefix="/groups", tags=["groups"], responses=ERROR_RESPONSES)
Time = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, UTC")]


class MemberOut(BaseModel):
    agent: str
    mode: Mode
    max_tickets: int | None
    receiving: bool


class GroupOut(BaseModel):
    name: str
    department: str
    rebalance: bool
    rebalance_pinned: bool
    rebalance_times: list[str]
    queue_alert_after_minutes: int | None
    queue_length: int = Field(description="active tickets waiting in the queue")
    members: list[MemberOut]


class GroupIn(BaseModel):
    name: Name
    department: Name
    rebalance: Flag = False
    rebalance_pinned: Flag = False
    rebalance_times: Annotated[list[Time], Field(max_length=24)] = Field(default_factory=list)
    queue_alert_after_minutes: Minutes | None = None

    model_config = {"extra": "forbid"}


class GroupPatch(BaseModel):
    """Fields left out stay as they are; `queue_alert_after_minutes: null` turns it off."""

    name: Name | None = None
    department: Name | None = None
    rebalance: Flag | None = None
    rebalance_pinned: Flag | None = None
    rebalance_times: Annotated[list[Time], Field(max_length=24)] | None = None
    queue_alert_after_minutes: Minutes | None = None

    model_config = {"extra": "forbid"}


class MemberIn(BaseModel):
    """Seed "Round Robin": primary, secondary or not_included (pull from queue); max tickets
    (null = no limit). Left out: kept (or the defaults primary / no limit / receiving)."""

    mode: Mode | None = None
    max_tickets: Count | None = None
    receiving: Flag | None = None

    model_config = {"extra": "forbid"}


class MoveOut(BaseModel):
    ticket: str
    from_agent: str
    to_agent: str


class RebalanceOut(BaseModel):
    moves: list[MoveOut]


def group_out(session: Session, group: Group) -> GroupOut:
    queued = session.execute(
        sa.select(sa.func.count(Ticket.id)).where(
            Ticket.group_id == group.id,
            *IN_QUEUE,
        )
    ).scalar_one()
    listed = [
        MemberOut(agent=a.name, mode=m.mode, max_tickets=m.max_tickets, receiving=m.receiving)
        for m, a in members(session, group)
    ]
    return GroupOut(**group_state(session, group), queue_length=queued, members=listed)


@router.get("", summary="every group with its members and queue length")
def list_groups(ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0) -> Page[GroupOut]:
    with ctx.read() as session:
        rows, total = fetch_page(session, sa.select(Group).order_by(Group.name), limit, offset)
        items = [group_out(session, g) for g in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/{name}", summary="one group")
def show_group(ctx: Ctx, caller: Anyone, name: Name) -> GroupOut:
    with ctx.read() as session:
        return group_out(session, by_name(session, Group, name))


@router.post("", status_code=status.HTTP_201_CREATED, summary="add a group (admin)")
def add_group(ctx: Ctx, caller: Admin, form: GroupIn) -> GroupOut:
    spec = GroupSpec(**{**form.model_dump(), "rebalance_times": tuple(form.rebalance_times)})
    with ctx.write() as session:
        return group_out(session, create_group(session, spec, actor=caller.name, now=ctx.now()))


@router.patch("/{name}", summary="change a group's settings (admin)")
def change_group(ctx: Ctx, caller: Admin, name: Name, form: GroupPatch) -> GroupOut:
    values = {k: v for k, v in form.model_dump().items() if v is not None}
    if "queue_alert_after_minutes" in form.model_fields_set:
        values["queue_alert_after_minutes"] = form.queue_alert_after_minutes
    if form.rebalance_times is not None:
        values["rebalance_times"] = tuple(form.rebalance_times)
    with ctx.write() as session:
        group = update_group(session, name, GroupSpec(**values), actor=caller.name, now=ctx.now())
        return group_out(session, group)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove a group without tickets (admin)",
)
def remove_group(ctx: Ctx, caller: Admin, name: Name) -> None:
    with ctx.write() as session:
        delete_group(session, name, actor=caller.name, now=ctx.now())


@router.put("/{name}/members/{agent}", summary="add or change a membership (admin)")
def put_member(ctx: Ctx, caller: Admin, name: Name, agent: Name, form: MemberIn) -> GroupOut:
    values = {k: v for k, v in form.model_dump().items() if v is not None}
    if "max_tickets" in form.model_fields_set:
        values["max_tickets"] = form.max_tickets
    spec = MemberSpec(**{k: values.get(k, KEEP) for k in ("mode", "max_tickets", "receiving")})
    with ctx.write() as session:
        set_member(session, name, agent, spec, actor=caller.name, now=ctx.now())
        return group_out(session, by_name(session, Group, name))


@router.delete("/{name}/members/{agent}", summary="take an agent out of the group (admin)")
def delete_member(ctx: Ctx, caller: Admin, name: Name, agent: Name) -> GroupOut:
    with ctx.write() as session:
        remove_member(session, name, agent, actor=caller.name, now=ctx.now())
        return group_out(session, by_name(session, Group, name))


@router.post("/{name}/rebalance", summary="even out active tickets now (managers, admins)")
def rebalance(ctx: Ctx, caller: Manager, name: Name) -> RebalanceOut:
    with ctx.write() as session:
        group = by_name(session, Group, name)
        moves = rebalance_group(session, group.id, ctx.now(), actor=caller.name)
        numbers = dict(
            session.execute(
                sa.select(Ticket.id, Ticket.number).where(
                    Ticket.id.in_([m.ticket_id for m in moves])
                )
            ).all()
        )
        names = _names(session, {a for m in moves for a in (m.from_agent_id, m.to_agent_id)})
        return RebalanceOut(
            moves=[
                MoveOut(
                    ticket=numbers[m.ticket_id],
                    from_agent=names[m.from_agent_id],
                    to_agent=names[m.to_agent_id],
                )
                for m in moves
            ]
        )


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    rows = session.execute(sa.select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return dict(rows.all())
