"""Agents: the caller's own status (log in/out, availability, per-group receiving) and the
admin's list of agents with their roles and API tokens."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from maild.api.auth import Admin, Anyone, Ctx
from maild.api.errors import ERROR_RESPONSES
from maild.api.names import row_by_name
from maild.api.paging import Limit, Offset, Page, fetch_page
from maild.api.types import Address, Flag, LongName, Name
from maild.org import audit
from maild.org.agents import AgentSpec, create_agent, delete_agent, update_agent
from maild.org.common import KEEP, by_name
from maild.provision import create_api_token, revoke_api_tokens
from maild.routing import log_in, log_out, set_available, set_receiving
from maild.store.models import Agent, Group, Membership
from maild.values import Mode, Role

router = APIRouter(prefix="/agents", tags=["agents"], responses=ERROR_RESPONSES)


class MembershipOut(BaseModel):
    group: str
    mode: Mode
    max_tickets: int | None
    receiving: bool


class AgentOut(BaseModel):
    name: str
    display_name: str
    email: str
    role: Role
    logged_in: bool
    available: bool
    memberships: list[MembershipOut]


class AvailabilityIn(BaseModel):
    """Seed "agent status": available or away, and which groups' tickets to receive."""

    available: Flag | None = None
    receiving: Annotated[dict[Name, Flag], Field(max_length=1000)] = Field(
        default_factory=dict, description="group name -> receive its tickets"
    )

    model_config = {"extra": "forbid"}


class LogoutOut(BaseModel):
    handed_off: int = Field(description="unpinned active tickets handed to distribution")


class AgentIn(BaseModel):
    name: Name
    display_name: LongName | None = None
    email: Address | None = None
    role: Role = Role.AGENT

    model_config = {"extra": "forbid"}


class AgentPatch(BaseModel):
    name: Name | None = None
    display_name: LongName | None = None
    email: Address | None = None
    role: Role | None = None

    model_config = {"extra": "forbid"}


class TokenOut(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")


class RevokedOut(BaseModel):
    revoked: int


def agent_out(session: Session, agent: Agent) -> AgentOut:
    rows = session.execute(
        sa.select(Membership, Group.name)
        .join(Group, Group.id == Membership.group_id)
        .where(Membership.agent_id == agent.id)
        .order_by(Group.name)
    ).all()
    members = [
        MembershipOut(group=name, mode=m.mode, max_tickets=m.max_tickets, receiving=m.receiving)
        for m, name in rows
    ]
    return AgentOut(
        name=agent.name,
        display_name=agent.display_name,
        email=agent.email,
        role=agent.role,
        logged_in=agent.logged_in,
        available=agent.available,
        memberships=members,
    )


@router.get("/me", summary="the caller, with their status and groups")
def me(ctx: Ctx, caller: Anyone) -> AgentOut:
    with ctx.read() as session:
        return agent_out(session, _agent(session, caller.agent_id))


@router.post("/me/login", summary="log in: receive tickets in the groups you are active in")
def login(ctx: Ctx, caller: Anyone) -> AgentOut:
    with ctx.write() as session:
        log_in(session, caller.agent_id, ctx.now())
        return agent_out(session, _agent(session, caller.agent_id))


@router.post("/me/logout", summary="log out: unpinned active tickets are handed off")
def logout(ctx: Ctx, caller: Anyone) -> LogoutOut:
    with ctx.write() as session:
        return LogoutOut(handed_off=log_out(session, caller.agent_id, ctx.now()))


@router.put("/me/availability", summary="available or away, and receiving per group")
def availability(ctx: Ctx, caller: Anyone, form: AvailabilityIn) -> AgentOut:
    with ctx.write() as session:
        now = ctx.now()
        for name, receiving in sorted(form.receiving.items()):
            group = row_by_name(session, Group, name, f"receiving.{name}")
            set_receiving(session, caller.agent_id, group.id, receiving, now)
        if form.available is not None:
            set_available(session, caller.agent_id, form.available, now)
        return agent_out(session, _agent(session, caller.agent_id))


def _agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    assert agent is not None  # the caller's token was just checked
    return agent


@router.get("", summary="every agent (for transfer and assignment forms)")
def list_agents(ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0) -> Page[AgentOut]:
    with ctx.read() as session:
        rows, total = fetch_page(session, sa.select(Agent).order_by(Agent.name), limit, offset)
        items = [agent_out(session, a) for a in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/{name}", summary="one agent")
def show_agent(ctx: Ctx, caller: Anyone, name: Name) -> AgentOut:
    with ctx.read() as session:
        return agent_out(session, by_name(session, Agent, name))


@router.post("", status_code=status.HTTP_201_CREATED, summary="add an agent (admin)")
def add_agent(ctx: Ctx, caller: Admin, form: AgentIn) -> AgentOut:
    spec = AgentSpec(
        name=form.name, display_name=form.display_name or "", email=form.email or "", role=form.role
    )
    with ctx.write() as session:
        agent = create_agent(session, spec, actor=caller.name, now=ctx.now())
        return agent_out(session, agent)


@router.patch("/{name}", summary="change an agent's name, email or role (admin)")
def change_agent(ctx: Ctx, caller: Admin, name: Name, form: AgentPatch) -> AgentOut:
    spec = AgentSpec(**{k: (KEEP if v is None else v) for k, v in form.model_dump().items()})
    with ctx.write() as session:
        me = _agent(session, caller.agent_id)
        agent = update_agent(session, name, spec, actor=me, now=ctx.now())
        return agent_out(session, agent)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove an agent who holds no tickets (admin)",
)
def remove_agent(ctx: Ctx, caller: Admin, name: Name) -> None:
    with ctx.write() as session:
        delete_agent(session, name, actor=_agent(session, caller.agent_id), now=ctx.now())


@router.post(
    "/{name}/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="issue an API token for the agent (admin)",
)
def issue_token(ctx: Ctx, caller: Admin, name: Name) -> TokenOut:
    with ctx.write() as session:
        token = create_api_token(session, name, ctx.now())
        audit.record(
            session,
            actor=caller.name,
            entity="api_token",
            key=name,
            before=None,
            after={"issued": 1},
            now=ctx.now(),
        )
        return TokenOut(token=token)


@router.delete("/{name}/tokens", summary="revoke every API token of the agent (admin)")
def revoke_tokens(ctx: Ctx, caller: Admin, name: Name) -> RevokedOut:
    with ctx.write() as session:
        revoked = revoke_api_tokens(session, name)
        audit.record(
            session,
            actor=caller.name,
            entity="api_token",
            key=name,
            before={"revoked": revoked},
            after=None,
            now=ctx.now(),
        )
        return RevokedOut(revoked=revoked)
