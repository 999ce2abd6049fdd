"""Agents: who they are (name, email, role). Their availability is their own (routing);
memberships are in groups.py; API tokens in maild.provision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import parse_address
from maild.errors import Conflict
from maild.org import audit
from maild.org.common import KEEP, Keep, by_name, given, in_use, require_free_name
from maild.store.models import Agent, Ticket
from maild.values import Role


@dataclass(frozen=True)
class AgentSpec:
    name: str | Keep = KEEP
    display_name: str | Keep = KEEP
    email: str | Keep = KEEP  # "" = none
    role: Role | Keep = KEEP


def agent_state(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "display_name": agent.display_name,
        "email": agent.email,
        "role": agent.role.value,
    }


def _values(spec: AgentSpec) -> dict[str, Any]:
    values = given(spec)
    if values.get("email"):
        values["email"] = parse_address(values["email"], "email")
    return values


def create_agent(session: Session, spec: AgentSpec, *, actor: str, now: datetime) -> Agent:
    values = _values(spec)
    name = require_free_name(session, Agent, values.pop("name", ""))
    agent = Agent(name=name, role=values.pop("role", Role.AGENT), **values)
    session.add(agent)
    session.flush()
    audit.record(
        session,
        actor=actor,
        entity="agent",
        key=name,
        before=None,
        after=agent_state(agent),
        now=now,
    )
    return agent


def update_agent(
    session: Session, name: str, spec: AgentSpec, *, actor: Agent, now: datetime
) -> Agent:
    """Change an agent. An admin cannot take the admin role from themselves: nobody might be
    left to give it back."""
    agent = by_name(session, Agent, name)
    before, values = agent_state(agent), _values(spec)
    if agent.id == actor.id and values.get("role", Role.ADMIN) is not Role.ADMIN:
        raise Conflict("you cannot remove your own admin role; ask another admin")
    if "name" in values:
        values["name"] = require_free_name(session, Agent, values["name"], agent)
    for key, value in values.items():
        setattr(agent, key, value)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        entity="agent",
        key=agent.name,
        before=before,
        after=agent_state(agent),
        now=now,
    )
    return agent


def delete_agent(session: Session, name: str, *, actor: Agent, now: datetime) -> None:
    """Remove an agent who holds no ticket and no follow-up (their memberships and tokens go
    with them); tickets are never left pointing at nobody by surprise."""
    agent = by_name(session, Agent, name)
    if agent.id == actor.id:
        raise Conflict("you cannot delete your own agent; ask another admin")
    in_use(
        session,
        f"agent {name!r} still holds tickets",
        sa.select(Ticket.id).where(Ticket.agent_id == agent.id, Ticket.deleted_at.is_(None)),
    )
    in_use(
        session,
        f"agent {name!r} has follow-ups scheduled",
        sa.select(Ticket.id).where(Ticket.followup_agent_id == agent.id),
    )
    before = agent_state(agent)
    session.delete(agent)
    session.flush()
    audit.record(
        session, actor=actor.name, entity="agent", key=name, before=before, after=None, now=now
    )
