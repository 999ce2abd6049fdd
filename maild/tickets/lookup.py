"""Finding things by id or number, with errors that say what to fix.

Ticket numbers that were merged away resolve through their forwarder (DESIGN §1: "a number that
was merged away resolves through its merge forwarder to the surviving ticket").
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import normal_form
from maild.errors import Conflict, InvalidRequest, NotFound
from maild.store import batch
from maild.store.models import (
    Agent,
    Brand,
    Department,
    DepartmentAddress,
    Forwarder,
    Group,
    Membership,
    Ticket,
)


def resolve_number(session: Session, number: str) -> Ticket | None:
    """The ticket `number` names: itself, or the ticket it was merged into; None if unknown.
    Matching ignores case and surrounding blanks (mail clients change the case of subjects).

    A forwarder points at a ticket row, never at another number, and a merge re-points the
    forwarders of the tickets it absorbs: so a chain A -> B -> C is stored as A -> C and B -> C,
    resolves in one step and cannot form a cycle."""
    wanted = number.strip()
    if not wanted:
        return None
    ticket = _ticket_by_number(session, wanted)
    if ticket is not None:
        return ticket
    forwarder = _forwarder_by_number(session, wanted)
    return None if forwarder is None else session.get(Ticket, forwarder.ticket_id)


def get_ticket(session: Session, number: str) -> Ticket:
    """Like `resolve_number`, but a number that names nothing is `NotFound`."""
    ticket = resolve_number(session, number)
    if ticket is None:
        raise NotFound(f"no ticket {number!r}; check the number (e.g. SUP-000123)")
    return ticket


# Built once: every reply naming its ticket runs these, and building and cache-keying a fresh
# statement cost more than running it.
_BY_NUMBER = sa.select(Ticket).where(Ticket.number == sa.bindparam("number"))
_BY_FOLDED_NUMBER = sa.select(Ticket).where(sa.func.upper(Ticket.number) == sa.bindparam("folded"))
_ADDRESSES = sa.select(DepartmentAddress.address, DepartmentAddress.department_id)


def _ticket_by_number(session: Session, number: str) -> Ticket | None:
    exact = session.scalars(_BY_NUMBER, {"number": number}).first()
    if exact is not None:
        return exact
    return session.scalars(_BY_FOLDED_NUMBER, {"folded": number.upper()}).first()


def _forwarder_by_number(session: Session, number: str) -> Forwarder | None:
    folded = sa.select(Forwarder).where(sa.func.upper(Forwarder.number) == number.upper())
    return session.scalars(folded).first()


def require_live(ticket: Ticket) -> None:
    """Deleted tickets take no action but purge (seed: "no longer available for review or
    action")."""
    if ticket.deleted_at is not None:
        raise Conflict(f"ticket {ticket.number} is deleted; it cannot be changed")


def get_group(session: Session, group_id: int) -> Group:
    group = batch.cached(session, (Group, group_id), lambda: session.get(Group, group_id))
    if group is None:
        raise NotFound(f"no group with id {group_id}; pick an existing group")
    return group


def get_agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}; pick an existing agent")
    return agent


def find_department(session: Session, department_id: int) -> Department | None:
    return batch.cached(
        session, (Department, department_id), lambda: session.get(Department, department_id)
    )


def get_department(session: Session, department_id: int) -> Department:
    department = find_department(session, department_id)
    if department is None:
        raise NotFound(f"no department with id {department_id}; pick an existing department")
    return department


def get_brand(session: Session, brand_id: int) -> Brand:
    brand = batch.cached(session, (Brand, brand_id), lambda: session.get(Brand, brand_id))
    if brand is None:
        raise NotFound(f"no brand with id {brand_id}; pick an existing brand")
    return brand


def require_member(session: Session, agent: Agent, group: Group) -> None:
    """A ticket can only be handed to an agent of its group (seed: agents are picked from the
    group's list)."""
    membership = sa.select(Membership.id).where(
        Membership.agent_id == agent.id, Membership.group_id == group.id
    )
    if session.execute(membership).first() is None:
        raise InvalidRequest(
            f"agent {agent.name} is not a member of group {group.name}; "
            "add the membership or choose another agent"
        )


def department_by_address(session: Session, address: str) -> Department | None:
    """The department that owns `address` (DESIGN §1 "Which department"), if any."""
    department_id = _department_addresses(session).get(normal_form(address))
    return None if department_id is None else get_department(session, department_id)


def is_department_address(session: Session, address: str) -> bool:
    return department_by_address(session, address) is not None


def department_addresses(session: Session) -> frozenset[str]:
    """Every department address, in `normal_form` (read once per batch, like the look-ups above)."""
    return frozenset(_department_addresses(session))


def _department_addresses(session: Session) -> dict[str, int]:
    """Every department address (stored in `normal_form`) and its department: a handful of rows,
    read once per batch; every recipient and every requester is checked against them."""
    return batch.cached(session, DepartmentAddress, lambda: dict(session.execute(_ADDRESSES).all()))
