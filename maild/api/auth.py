"""Bearer tokens per agent (`maild agent token NAME`, stored hashed) and the roles' checks.

A missing, unknown or revoked token is 401. A role check fails with 403 *before* any ticket is
looked up, so a refusal never tells whether a ticket exists; tickets the caller may not see
are 404, worded as for a number that names nothing (maild.tickets.access decides).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from maild.api.context import ApiContext, Caller, context
from maild.api.errors import forbidden, unauthorized
from maild.provision import agent_by_token
from maild.tickets.access import may_delete
from maild.values import Role

_BEARER = HTTPBearer(auto_error=False, description="a token from `maild agent token NAME`")
_HOW = "send `Authorization: Bearer <token>`; an admin creates one with `maild agent token NAME`"


def current_caller(
    ctx: Annotated[ApiContext, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise unauthorized(f"no bearer token; {_HOW}")
    with ctx.read() as session:
        agent = agent_by_token(session, credentials.credentials)
        if agent is None:
            raise unauthorized(f"the token is unknown or was revoked; {_HOW}")
        return Caller(agent.id, agent.name, agent.role)


def admin_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if caller.role is not Role.ADMIN:
        raise forbidden("only an admin may change the organisation; ask an admin")
    return caller


def manager_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if caller.role not in (Role.MANAGER, Role.ADMIN):
        raise forbidden("only managers and admins may do this")
    return caller


def deleting_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if not may_delete(caller.role):
        raise forbidden("agents may not delete or undelete tickets; ask a manager")
    return caller


Ctx = Annotated[ApiContext, Depends(context)]
Anyone = Annotated[Caller, Depends(current_caller)]
Admin = Annotated[Caller, Depends(admin_caller)]
Manager = Annotated[Caller, Depends(manager_caller)]
Deleter = Annotated[Caller, Depends(deleting_caller)]
