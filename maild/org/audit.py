"""The audit history of organisation changes: who, when, what, before and after (as JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    key: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    now: datetime,
) -> AuditEntry | None:
    """Write one entry; created when there was no `before`, deleted when there is no `after`.
    An update that changed nothing writes nothing."""
    if before is not None and after is not None and dict(before) == dict(after):
        return None
    action = "created" if before is None else "deleted" if after is None else "updated"
    entry = AuditEntry(
        at=now,
        actor=actor,
        action=action,
        entity=entity,
        key=key,
        before=_json(before),
        after=_json(after),
    )
    session.add(entry)
    return entry


def _json(state: Mapping[str, Any] | None) -> str:
    return "" if state is None else json.dumps(state, sort_keys=True, default=str)


def entries(
    session: Session, entity: str | None, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """A page of the history, newest first, and the total."""
    where = [AuditEntry.entity == entity] if entity else []
    total = session.execute(sa.select(sa.func.count(AuditEntry.id)).where(*where)).scalar_one()
    page = session.scalars(
        sa.select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(page), int(total)


def state_of(entry_text: str) -> dict[str, Any] | None:
    return json.loads(entry_text) if entry_text else None
