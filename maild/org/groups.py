"""Groups: their department, distribution settings (rebalancing, queue alert) and members
(seed "Ticket Distribution Methods": mode primary/secondary/not_included, max tickets)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest, NotFound
from maild.org import audit
from maild.org.common import KEEP, Keep, by_name, given, in_use, require_free_name
from maild.routing.availability import went_active
from maild.routing.distribute import drain_queue
from maild.routing.rules import active_in_group
from maild.store.models import Agent, Department, Group, Membership, Ticket
from maild.values import Mode

_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


@dataclass(frozen=True)
class GroupSpec:
    name: str | Keep = KEEP
    department: str | Keep = KEEP
    rebalance: bool | Keep = KEEP
    rebalance_pinned: bool | Keep = KEEP
    rebalance_times: tuple[str, ...] | Keep = KEEP  # HH:MM, UTC
    queue_alert_after_minutes: int | None | Keep = KEEP


@dataclass(frozen=True)
class MemberSpec:
    mode: Mode | Keep = KEEP
    max_tickets: int | None | Keep = KEEP  # None = no limit
    receiving: bool | Keep = KEEP


def group_state(session: Session, group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "department": group.department.name,
        "rebalance": group.rebalance,
        "rebalance_pinned": group.rebalance_pinned,
        "rebalance_times": [t for t in group.rebalance_times.split(",") if t],
        "queue_alert_after_minutes": group.queue_alert_after_minutes,
    }


def members(session: Session, group: Group) -> list[tuple[Membership, Agent]]:
    statement = (
        sa.select(Membership, Agent)
        .join(Agent, Agent.id == Membership.agent_id)
        .where(Membership.group_id == group.id)
        .order_by(Agent.name)
    )
    return [(m, a) for m, a in session.execute(statement).all()]


def create_group(session: Session, spec: GroupSpec, *, actor: str, now: datetime) -> Group:
    values = given(spec)
    name = require_free_name(session, Group, values.pop("name", ""))
    if "department" not in values:
        raise InvalidRequest("a group needs a department; name one")
    department = by_name(session, Department, values.pop("department"))
    group = Group(name=name, department_id=department.id)
    session.add(group)
    session.flush()
    _apply(group, values)
    if department.default_group_id is None:  # its first group, as `config apply` does
        department.default_group_id = group.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="group",
        key=name,
        before=None,
        after=group_state(session, group),
        now=now,
    )
    return group


def update_group(
    session: Session, name: str, spec: GroupSpec, *, actor: str, now: datetime
) -> Group:
    group = by_name(session, Group, name)
    before, values = group_state(session, group), given(spec)
    if "name" in values:
        group.name = require_free_name(session, Group, values.pop("name"), group)
    if "department" in values:
        _move(session, group, by_name(session, Department, values.pop("department")))
    _apply(group, values)
    session.flush()
    session.refresh(group)
    audit.record(
        session,
        actor=actor,
        entity="group",
        key=group.name,
        before=before,
        after=group_state(session, group),
        now=now,
    )
    return group


def _move(session: Session, group: Group, department: Department) -> None:
    """A group with tickets stays in its department: its tickets' department would be wrong."""
    if department.id == group.department_id:
        return
    in_use(
        session,
        f"group {group.name!r} has tickets, so it cannot change department",
        sa.select(Ticket.id).where(Ticket.group_id == group.id),
    )
    _not_a_default(session, group)
    group.department_id = department.id


def _apply(group: Group, values: dict[str, Any]) -> None:
    if "rebalance_times" in values:
        bad = [t for t in values["rebalance_times"] if not _TIME.fullmatch(t)]
        if bad:
            raise InvalidRequest(f"{bad[0]!r} is not a time of day HH:MM (UTC), e.g. 06:30")
        group.rebalance_times = ",".join(values["rebalance_times"])
    alert = values.get("queue_alert_after_minutes", KEEP)
    if alert is not KEEP and alert is not None and alert < 1:
        raise InvalidRequest("queue_alert_after_minutes must be at least 1, or null for none")
    for key in ("rebalance", "rebalance_pinned", "queue_alert_after_minutes"):
        if key in values:
            setattr(group, key, values[key])


def _not_a_default(session: Session, group: Group) -> None:
    default_of = session.scalars(
        sa.select(Department.name).where(Department.default_group_id == group.id)
    ).first()
    if default_of is not None:
        raise Conflict(
            f"group {group.name!r} is the default group of department {default_of!r};"
            " choose another default group there first"
        )


def delete_group(session: Session, name: str, *, actor: str, now: datetime) -> None:
    group = by_name(session, Group, name)
    in_use(
        session,
        f"group {name!r} still has tickets",
        sa.select(Ticket.id).where(Ticket.group_id == group.id),
    )
    in_use(
        session,
        f"group {name!r} is the group of scheduled follow-ups",
        sa.select(Ticket.id).where(Ticket.followup_group_id == group.id),
    )
    _not_a_default(session, group)
    before = group_state(session, group)
    session.execute(sa.delete(Membership).where(Membership.group_id == group.id))
    session.delete(group)
    session.flush()
    audit.record(session, actor=actor, entity="group", key=name, before=before, after=None, now=now)


def member_state(member: Membership, agent: Agent) -> dict[str, Any]:
    return {
        "agent": agent.name,
        "mode": member.mode.value,
        "max_tickets": member.max_tickets,
        "receiving": member.receiving,
    }


def set_member(
    session: Session,
    group_name: str,
    agent_name: str,
    spec: MemberSpec,
    *,
    actor: str,
    now: datetime,
) -> Membership:
    """Add the agent to the group or change their membership. When that makes the agent
    active in the group, the pool changed: counts reset and the queue drains (routing)."""
    group, agent = by_name(session, Group, group_name), by_name(session, Agent, agent_name)
    member = session.scalars(
        sa.select(Membership).where(
            Membership.group_id == group.id, Membership.agent_id == agent.id
        )
    ).first()
    before = None if member is None else member_state(member, agent)
    was_active = member is not None and _active(agent, member)
    if member is None:
        member = Membership(group_id=group.id, agent_id=agent.id, mode=Mode.PRIMARY, receiving=True)
        session.add(member)
    values = given(spec)
    if values.get("max_tickets") is not None and values["max_tickets"] < 0:
        raise InvalidRequest("max_tickets must be 0 or more, or null for no limit")
    for key, value in values.items():
        setattr(member, key, value)
    session.flush()
    if _active(agent, member) and not was_active:
        went_active(session, group.id, now, login=False)
    elif values:
        # A higher max_tickets or a mode that receives may make room: DESIGN §1, the queue
        # drains as agents become eligible (nothing happens when nobody has room).
        drain_queue(session, group.id, now)
    audit.record(
        session,
        actor=actor,
        entity="membership",
        key=f"{group.name}/{agent.name}",
        before=before,
        after=member_state(member, agent),
        now=now,
    )
    return member


def _active(agent: Agent, member: Membership) -> bool:
    return active_in_group(agent.logged_in, agent.available, member.receiving)


def remove_member(
    session: Session, group_name: str, agent_name: str, *, actor: str, now: datetime
) -> None:
    """Take the agent out of the group; the tickets they hold stay with them (transfer them
    to hand them on)."""
    group, agent = by_name(session, Group, group_name), by_name(session, Agent, agent_name)
    member = session.scalars(
        sa.select(Membership).where(
            Membership.group_id == group.id, Membership.agent_id == agent.id
        )
    ).first()
    if member is None:
        raise NotFound(f"agent {agent_name!r} is not a member of group {group_name!r}")
    before = member_state(member, agent)
    session.delete(member)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="membership",
        key=f"{group.name}/{agent.name}",
        before=before,
        after=None,
        now=now,
    )
