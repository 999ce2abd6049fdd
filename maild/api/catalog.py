"""Brands, canned replies and custom field definitions: read by every agent (forms, replies),
changed by admins."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from maild.api.auth import Admin, Anyone, Ctx
from maild.api.errors import ERROR_RESPONSES
from maild.api.paging import Limit, Offset, Page, fetch_page
from maild.api.types import Line, LongName, Name, ShortLine, Text
from maild.org.catalog import (
    BrandSpec,
    CannedReplySpec,
    FieldSpec,
    brand_state,
    canned_state,
    create_brand,
    create_canned_reply,
    create_field,
    delete_brand,
    delete_canned_reply,
    delete_field,
    field_state,
    update_brand,
    update_canned_reply,
    update_field,
)
from maild.org.common import KEEP, by_name
from maild.store.models import Brand, CannedReply, CustomField
from maild.values import FieldType

router = APIRouter(tags=["catalog"], responses=ERROR_RESPONSES)
Long = Annotated[Text, Field(max_length=100_000)]
Choices = Annotated[list[Line], Field(max_length=200)]


def _spec(model: BaseModel) -> dict[str, Any]:
    """A patch's given fields; left out = KEEP."""
    return {
        k: (v if k in model.model_fields_set and v is not None else KEEP)
        for k, v in model.model_dump().items()
    }


# --- brands --------------------------------------------------------------------------------


class BrandOut(BaseModel):
    name: str
    from_name: str
    signature: str


class BrandIn(BaseModel):
    name: LongName
    from_name: ShortLine = ""
    signature: Long = ""

    model_config = {"extra": "forbid"}


class BrandPatch(BaseModel):
    name: LongName | None = None
    from_name: ShortLine | None = None
    signature: Long | None = None

    model_config = {"extra": "forbid"}


@router.get("/brands", summary="every brand")
def list_brands(ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0) -> Page[BrandOut]:
    statement = sa.select(Brand).order_by(Brand.name)
    with ctx.read() as session:
        rows, total = fetch_page(session, statement, limit, offset)
    items = [BrandOut(**brand_state(row)) for row in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.post("/brands", status_code=status.HTTP_201_CREATED, summary="add a brand (admin)")
def add_brand(ctx: Ctx, caller: Admin, form: BrandIn) -> BrandOut:
    with ctx.write() as session:
        brand = create_brand(
            session, BrandSpec(**form.model_dump()), actor=caller.name, now=ctx.now()
        )
        return BrandOut(**brand_state(brand))


@router.patch("/brands/{name}", summary="change a brand (admin)")
def change_brand(ctx: Ctx, caller: Admin, name: LongName, form: BrandPatch) -> BrandOut:
    with ctx.write() as session:
        brand = update_brand(
            session, name, BrandSpec(**_spec(form)), actor=caller.name, now=ctx.now()
        )
        return BrandOut(**brand_state(brand))


@router.delete(
    "/brands/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove an unused brand (admin)",
)
def remove_brand(ctx: Ctx, caller: Admin, name: LongName) -> None:
    with ctx.write() as session:
        delete_brand(session, name, actor=caller.name, now=ctx.now())


# --- canned replies ------------------------------------------------------------------------


class CannedReplyOut(BaseModel):
    name: str
    subject: str
    body: str


class CannedReplyIn(BaseModel):
    name: LongName
    subject: Line = ""
    body: Long = ""

    model_config = {"extra": "forbid"}


class CannedReplyPatch(BaseModel):
    name: LongName | None = None
    subject: Line | None = None
    body: Long | None = None

    model_config = {"extra": "forbid"}


@router.get("/canned-replies", summary="every canned reply")
def list_canned(
    ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0
) -> Page[CannedReplyOut]:
    statement = sa.select(CannedReply).order_by(CannedReply.name)
    with ctx.read() as session:
        rows, total = fetch_page(session, statement, limit, offset)
    items = [CannedReplyOut(**canned_state(row)) for row in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/canned-replies/{name}", summary="one canned reply")
def show_canned(ctx: Ctx, caller: Anyone, name: LongName) -> CannedReplyOut:
    with ctx.read() as session:
        return CannedReplyOut(**canned_state(by_name(session, CannedReply, name)))


@router.post(
    "/canned-replies", status_code=status.HTTP_201_CREATED, summary="add a canned reply (admin)"
)
def add_canned(ctx: Ctx, caller: Admin, form: CannedReplyIn) -> CannedReplyOut:
    with ctx.write() as session:
        reply = create_canned_reply(
            session, CannedReplySpec(**form.model_dump()), actor=caller.name, now=ctx.now()
        )
        return CannedReplyOut(**canned_state(reply))


@router.patch("/canned-replies/{name}", summary="change a canned reply (admin)")
def change_canned(
    ctx: Ctx, caller: Admin, name: LongName, form: CannedReplyPatch
) -> CannedReplyOut:
    with ctx.write() as session:
        reply = update_canned_reply(
            session, name, CannedReplySpec(**_spec(form)), actor=caller.name, now=ctx.now()
        )
        return CannedReplyOut(**canned_state(reply))


@router.delete(
    "/canned-replies/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove a canned reply (admin)",
)
def remove_canned(ctx: Ctx, caller: Admin, name: LongName) -> None:
    with ctx.write() as session:
        delete_canned_reply(session, name, actor=caller.name, now=ctx.now())


# --- custom fields -------------------------------------------------------------------------


class FieldOut(BaseModel):
    name: str
    type: FieldType
    choices: list[str]


class FieldIn(BaseModel):
    name: Name
    type: FieldType = FieldType.TEXT
    choices: Choices = Field(default_factory=list, description="for type choice")

    model_config = {"extra": "forbid"}


class FieldPatch(BaseModel):
    name: Name | None = None
    type: FieldType | None = None
    choices: Choices | None = None

    model_config = {"extra": "forbid"}


@router.get("/custom-fields", summary="every custom field definition")
def list_fields(ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0) -> Page[FieldOut]:
    statement = sa.select(CustomField).order_by(CustomField.name)
    with ctx.read() as session:
        rows, total = fetch_page(session, statement, limit, offset)
    items = [FieldOut(**field_state(row)) for row in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.post(
    "/custom-fields", status_code=status.HTTP_201_CREATED, summary="define a custom field (admin)"
)
def add_field(ctx: Ctx, caller: Admin, form: FieldIn) -> FieldOut:
    spec = FieldSpec(name=form.name, type=form.type, choices=tuple(form.choices))
    with ctx.write() as session:
        return FieldOut(
            **field_state(create_field(session, spec, actor=caller.name, now=ctx.now()))
        )


@router.patch("/custom-fields/{name}", summary="rename a field or change its choices (admin)")
def change_field(ctx: Ctx, caller: Admin, name: Name, form: FieldPatch) -> FieldOut:
    values = _spec(form)
    if form.choices is not None:
        values["choices"] = tuple(form.choices)
    with ctx.write() as session:
        field = update_field(session, name, FieldSpec(**values), actor=caller.name, now=ctx.now())
        return FieldOut(**field_state(field))


@router.delete(
    "/custom-fields/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove a field and its values (admin)",
)
def remove_field(ctx: Ctx, caller: Admin, name: Name) -> None:
    with ctx.write() as session:
        delete_field(session, name, actor=caller.name, now=ctx.now())
