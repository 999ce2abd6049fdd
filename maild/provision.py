"""Applying the config's organisation to the database, and issuing API tokens.

`apply_config` creates what the config names and is missing, and updates what differs, so a
second run changes nothing. It never deletes: a brand, department, address, group, agent or
membership the config no longer names may have been created through the API or may still own
tickets, so it is kept and listed in the report as "not in config" for an admin to remove by hand.
Runtime state is left alone: an agent's availability, round-robin counters, and a membership's
`receiving` flag, which the config sets only when it creates the membership (agents toggle it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import normal_form
from maild.errors import NotFound
from maild.routing import drain_queue
from maild.settings import (
    AgentConfig,
    BrandConfig,
    DepartmentConfig,
    GroupConfig,
    MemberConfig,
    Settings,
)
from maild.store.db import hold_lock
from maild.store.models import (
    Agent,
    ApiToken,
    Brand,
    Department,
    DepartmentAddress,
    Group,
    Membership,
)

DEFAULT_BRAND = "Default"  # DESIGN §1: one default brand when none is configured

_Named = TypeVar("_Named", Brand, Department, Group, Agent)


@dataclass(frozen=True)
class ProvisionReport:
    """What `apply_config` did, one human-readable line per change."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    not_in_config: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        lines = [f"created {item}" for item in self.created]
        lines += [f"updated {item}" for item in self.updated]
        if not self.changed:
            lines.append("nothing to change: the database already matches the config")
        lines += [f"not in config (kept): {item}" for item in self.not_in_config]
        return lines + [f"warning: {item}" for item in self.warnings]


@dataclass
class _Changes:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    not_in_config: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def freeze(self) -> ProvisionReport:
        return ProvisionReport(
            tuple(self.created),
            tuple(self.updated),
            tuple(self.not_in_config),
            tuple(self.warnings),
        )


def apply_config(session: Session, settings: Settings, now: datetime) -> ProvisionReport:
    """Bring brands, departments (and addresses), groups, agents and memberships in line with
    `settings`, inside the caller's transaction. `now` is the time of the change; the
    organisation tables carry no timestamps yet, so it is not stored."""
    # Two processes starting together would both insert the same new rows and one would fail
    # on a unique key: the second waits here, then finds the first's rows and changes nothing.
    hold_lock(session, "maild.provision.apply_config")
    changes = _Changes()
    brands = _apply_brands(session, settings.brands, changes)
    departments = _apply_departments(session, settings, brands, changes)
    groups = _apply_groups(session, settings.groups, departments, changes)
    _apply_default_groups(settings, departments, groups, changes)
    agents = _apply_agents(session, settings.agents, changes)
    widened = _apply_memberships(session, settings.groups, groups, agents, changes)
    _report_not_in_config(session, settings, changes)
    session.flush()
    for group_id in sorted(widened):
        # DESIGN §1: the queue drains as agents become eligible; a new membership, a higher
        # max_tickets or a mode that receives makes room the queue has not seen yet.
        drain_queue(session, group_id, now)
    return changes.freeze()


def _sync(row: Any, wanted: dict[str, Any]) -> list[str]:
    """Set the attributes of `row` that differ from `wanted`; return their names."""
    changed = [name for name, value in wanted.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, wanted[name])
    return changed


def _upsert(
    session: Session, model: type[_Named], name: str, wanted: dict[str, Any], changes: _Changes
) -> _Named:
    label = f"{model.__tablename__} {name!r}"
    row = session.scalars(sa.select(model).where(model.name == name)).one_or_none()
    if row is None:
        row = model(name=name, **wanted)
        session.add(row)
        session.flush()  # later steps need its id
        changes.created.append(label)
    elif changed := _sync(row, wanted):
        changes.updated.append(f"{label}: {', '.join(changed)}")
    return row


def _apply_brands(
    session: Session, configs: tuple[BrandConfig, ...], changes: _Changes
) -> dict[str, Brand]:
    if not configs:
        return {DEFAULT_BRAND: _upsert(session, Brand, DEFAULT_BRAND, {}, changes)}
    return {
        c.name: _upsert(
            session, Brand, c.name, {"from_name": c.from_name, "signature": c.signature}, changes
        )
        for c in configs
    }


def _department_values(config: DepartmentConfig, brand: Brand) -> dict[str, Any]:
    return {
        "brand_id": brand.id,
        "autoresponder_enabled": config.autoresponder_enabled,
        "autoresponder_subject": config.autoresponder_subject,
        "autoresponder_body": config.autoresponder_body,
        "autoresponder_html": config.autoresponder_html,
        "auto_close_after_minutes": config.auto_close_after_minutes,
        "reply_to_is_requester": config.reply_to_is_requester,
    }


def _apply_departments(
    session: Session, settings: Settings, brands: dict[str, Brand], changes: _Changes
) -> dict[str, Department]:
    first_brand = next(iter(brands.values()))  # a department naming no brand gets the first
    result = {}
    for config in settings.departments:
        brand = brands[config.brand] if config.brand else first_brand
        values = _department_values(config, brand)
        department = _upsert(session, Department, config.name, values, changes)
        for address in config.addresses:
            _apply_address(session, department, normal_form(address), changes)
        result[config.name] = department
    return result


def _apply_address(
    session: Session, department: Department, address: str, changes: _Changes
) -> None:
    row = session.scalars(
        sa.select(DepartmentAddress).where(DepartmentAddress.address == address)
    ).one_or_none()
    if row is None:
        session.add(DepartmentAddress(department_id=department.id, address=address))
        changes.created.append(f"address {address!r} of department {department.name!r}")
    elif row.department_id != department.id:
        row.department_id = department.id
        changes.updated.append(f"address {address!r}: moved to department {department.name!r}")


def _apply_groups(
    session: Session,
    configs: tuple[GroupConfig, ...],
    departments: dict[str, Department],
    changes: _Changes,
) -> dict[str, Group]:
    result = {}
    for config in configs:
        values = {
            "department_id": departments[config.department].id,
            "rebalance": config.rebalance,
            "rebalance_pinned": config.rebalance_pinned,
            "rebalance_times": ",".join(config.rebalance_times),
            "queue_alert_after_minutes": config.queue_alert_after_minutes,
        }
        result[config.name] = _upsert(session, Group, config.name, values, changes)
    return result


def _apply_default_groups(
    settings: Settings,
    departments: dict[str, Department],
    groups: dict[str, Group],
    changes: _Changes,
) -> None:
    """The declared `default_group`, else the department's first group in the config; a
    department the config gives no group keeps whatever default it has (e.g. set by the API)."""
    for config in settings.departments:
        department = departments[config.name]
        own = [g.name for g in settings.groups if g.department == config.name]
        name = config.default_group or (own[0] if own else "")
        if name and department.default_group_id != groups[name].id:
            department.default_group_id = groups[name].id
            if f"department {config.name!r}" not in changes.created:  # its creation says it
                changes.updated.append(f"department {config.name!r}: default group {name!r}")
        if department.default_group_id is None:
            changes.warnings.append(
                f"department {config.name!r} has no group, so its mail cannot become tickets;"
                " declare a [[groups]] entry with department = " + repr(config.name)
            )


def _apply_agents(
    session: Session, configs: tuple[AgentConfig, ...], changes: _Changes
) -> dict[str, Agent]:
    return {
        c.name: _upsert(
            session,
            Agent,
            c.name,
            {"email": c.email, "display_name": c.display_name, "role": c.role},
            changes,
        )
        for c in configs
    }


def _apply_memberships(
    session: Session,
    configs: tuple[GroupConfig, ...],
    groups: dict[str, Group],
    agents: dict[str, Agent],
    changes: _Changes,
) -> set[int]:
    """Returns the groups whose memberships were created or changed."""
    changed: set[int] = set()
    for config in configs:
        group = groups[config.name]
        for member in config.members:
            if _apply_membership(session, group, agents[member.agent], member, changes):
                changed.add(group.id)
    return changed


def _apply_membership(
    session: Session, group: Group, agent: Agent, member: MemberConfig, changes: _Changes
) -> bool:
    """Create or update the membership; whether anything changed."""
    label = f"membership of {agent.name!r} in {group.name!r}"
    row = session.scalars(
        sa.select(Membership).where(
            Membership.group_id == group.id, Membership.agent_id == agent.id
        )
    ).one_or_none()
    wanted = {"mode": member.mode, "max_tickets": member.max_tickets}
    if row is None:
        # `receiving` is the agent's own switch: the config gives only its first value.
        row = Membership(group_id=group.id, agent_id=agent.id, receiving=member.receiving)
        session.add(row)
        _sync(row, wanted)
        changes.created.append(label)
        return True
    if changed := _sync(row, wanted):
        changes.updated.append(f"{label}: {', '.join(changed)}")
        return True
    return False


def _report_not_in_config(session: Session, settings: Settings, changes: _Changes) -> None:
    named = (
        ("brand", Brand.name, {b.name for b in settings.brands} or {DEFAULT_BRAND}),
        ("department", Department.name, {d.name for d in settings.departments}),
        ("group", Group.name, {g.name for g in settings.groups}),
        ("agent", Agent.name, {a.name for a in settings.agents}),
        (
            "address",
            DepartmentAddress.address,
            {normal_form(a) for d in settings.departments for a in d.addresses},
        ),
    )
    for label, column, names in named:
        for name in session.scalars(sa.select(column).order_by(column)):
            if name not in names:
                changes.not_in_config.append(f"{label} {name!r}")
    _report_memberships(session, settings, changes)


def _report_memberships(session: Session, settings: Settings, changes: _Changes) -> None:
    members = {(g.name, m.agent) for g in settings.groups for m in g.members}
    configured = {g.name for g in settings.groups}
    rows = session.execute(
        sa.select(Group.name, Agent.name)
        .join(Membership, Membership.group_id == Group.id)
        .join(Agent, Agent.id == Membership.agent_id)
        .order_by(Group.name, Agent.name)
    )
    for group, agent in rows:
        # Memberships of groups the config does not name are covered by that group's line.
        if group in configured and (group, agent) not in members:
            changes.not_in_config.append(f"membership of {agent!r} in {group!r}")


def hash_token(token: str) -> str:
    """How API tokens are stored and looked up: only their sha256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, agent_name: str, now: datetime) -> str:
    """A new bearer token for `agent_name`; the caller shows it once, only its hash is kept."""
    agent = session.scalars(sa.select(Agent).where(Agent.name == agent_name)).one_or_none()
    if agent is None:
        raise NotFound(
            f"no agent named {agent_name!r}; declare it under [[agents]] in the config"
            " and run `maild config apply`"
        )
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(agent_id=agent.id, token_hash=hash_token(token), created_at=now))
    session.flush()
    return token


def revoke_api_tokens(session: Session, agent_name: str) -> int:
    """Revoke every API token of `agent_name` (their next request gets 401); returns how many."""
    agent = session.scalars(sa.select(Agent).where(Agent.name == agent_name)).one_or_none()
    if agent is None:
        raise NotFound(f"no agent named {agent_name!r}; check the name (case matters)")
    result = session.execute(sa.delete(ApiToken).where(ApiToken.agent_id == agent.id))
    return int(getattr(result, "rowcount", 0) or 0)


def agent_by_token(session: Session, token: str) -> Agent | None:
    """The agent a bearer token belongs to, or None for an unknown or revoked token."""
    statement = (
        sa.select(Agent)
        .join(ApiToken, ApiToken.agent_id == Agent.id)
        .where(ApiToken.token_hash == hash_token(token))
    )
    return session.scalars(statement).first()
