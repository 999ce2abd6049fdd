"""The audit history of organisation changes (admins only): who, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from maild.api.auth import Admin, Ctx
from maild.api.errors import ERROR_RESPONSES
from maild.org.audit import entries, state_of

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)
Entity = Literal[
    "brand",
    "department",
    "group",
    "membership",
    "agent",
    "canned_reply",
    "custom_field",
    "api_token",
]


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AuditOut]


@router.get("", summary="organisation changes, newest first")
def audit_history(
    ctx: Ctx,
    caller: Admin,
    entity: Entity | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditPage:
    with ctx.read() as session:
        rows, total = entries(session, entity, limit, offset)
        items = [
            AuditOut(
                at=e.at,
                actor=e.actor,
                action=e.action,
                entity=e.entity,
                key=e.key,
                before=state_of(e.before),
                after=state_of(e.after),
            )
            for e in rows
        ]
    return AuditPage(total=total, limit=limit, offset=offset, items=items)
