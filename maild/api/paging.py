"""Pages: every list endpoint takes `limit` and `offset` and says the `total`."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PAGE = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="skip this many (paging)")]


class Page(BaseModel, Generic[T]):
    total: int
    limit: int
    offset: int
    items: list[T]


def fetch_page(
    session: Session, statement: sa.Select[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of `statement`'s rows (ORM entities) and how many rows there are in all."""
    total = session.execute(sa.select(sa.func.count()).select_from(statement.subquery())).scalar()
    rows = session.scalars(statement.limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)
