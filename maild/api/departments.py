"""Departments: addresses, brand, default group, autoresponder (with a preview) and auto-close."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from maild.api.auth import Admin, Anyone, Ctx
from maild.api.context import ApiContext
from maild.api.errors import ERROR_RESPONSES
from maild.api.paging import Limit, Offset, Page, fetch_page
from maild.api.types import Address, Line, LongName, Minutes, Name, Text
from maild.errors import InvalidRequest, MaildError
from maild.org.common import by_name
from maild.org.departments import (
    DepartmentSpec,
    check_template,
    create_department,
    delete_department,
    department_state,
    update_department,
)
from maild.outbound.autoresponder import (
    AutoresponseContext,
    TicketSample,
    preview_autoresponse,
)
from maild.outbound.compose import AutoresponderTemplates
from maild.outbound.templates import department_overrides
from maild.store.models import Department

router = APIRouter(prefix="/departments", tags=["departments"], responses=ERROR_RESPONSES)
Addresses = Annotated[list[Address], Field(max_length=100)]
Template = Annotated[Text, Field(max_length=100_000)]


class DepartmentOut(BaseModel):
    name: str
    brand: str
    default_group: str | None
    addresses: list[str]
    autoresponder_subject: str
    autoresponder_body: str = Field(description="Jinja2 text; empty = no autoresponder")
    autoresponder_html: str
    auto_close_after_minutes: int | None = Field(description="null = never")
    reply_to_is_requester: bool = Field(
        description="a Reply-To naming one mailbox is a new ticket's requester (web forms)"
    )


class DepartmentIn(BaseModel):
    name: Name
    brand: LongName | None = Field(None, description="null = the first brand")
    default_group: Name | None = None
    addresses: Addresses = Field(default_factory=list)
    autoresponder_subject: Template = ""
    autoresponder_body: Template = ""
    autoresponder_html: Template = ""
    auto_close_after_minutes: Minutes | None = None
    reply_to_is_requester: bool = True

    model_config = {"extra": "forbid"}


class DepartmentPatch(BaseModel):
    """Fields left out stay; `default_group` and `auto_close_after_minutes` may be null."""

    name: Name | None = None
    brand: LongName | None = None
    default_group: Name | None = None
    addresses: Addresses | None = None
    autoresponder_subject: Template | None = None
    autoresponder_body: Template | None = None
    autoresponder_html: Template | None = None
    auto_close_after_minutes: Minutes | None = None
    reply_to_is_requester: bool | None = None

    model_config = {"extra": "forbid"}


class PreviewIn(BaseModel):
    """Templates to try; left out = the department's own. The sample ticket is made up."""

    subject: Template | None = None
    body: Template | None = None
    html: Template | None = None
    ticket_subject: Line = "My printer is on fire"
    requester: Address = "customer@example.com"

    model_config = {"extra": "forbid"}


class PreviewOut(BaseModel):
    subject: str
    text: str
    html: str


def department_out(session: Session, department: Department) -> DepartmentOut:
    return DepartmentOut(**department_state(session, department))


@router.get("", summary="every department")
def list_departments(
    ctx: Ctx, caller: Anyone, limit: Limit = 100, offset: Offset = 0
) -> Page[DepartmentOut]:
    statement = sa.select(Department).order_by(Department.name)
    with ctx.read() as session:
        rows, total = fetch_page(session, statement, limit, offset)
        items = [department_out(session, d) for d in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/{name}", summary="one department")
def show_department(ctx: Ctx, caller: Anyone, name: Name) -> DepartmentOut:
    with ctx.read() as session:
        return department_out(session, by_name(session, Department, name))


@router.post("", status_code=status.HTTP_201_CREATED, summary="add a department (admin)")
def add_department(ctx: Ctx, caller: Admin, form: DepartmentIn) -> DepartmentOut:
    values = form.model_dump()
    values["addresses"] = tuple(form.addresses)
    if form.brand is None:
        values.pop("brand")
    with ctx.write() as session:
        department = create_department(
            session, DepartmentSpec(**values), actor=caller.name, now=ctx.now()
        )
        return department_out(session, department)


@router.patch("/{name}", summary="change a department (admin); takes effect at once")
def change_department(ctx: Ctx, caller: Admin, name: Name, form: DepartmentPatch) -> DepartmentOut:
    values = {k: v for k, v in form.model_dump().items() if v is not None}
    for nullable in ("default_group", "auto_close_after_minutes"):
        if nullable in form.model_fields_set:
            values[nullable] = getattr(form, nullable)
    if form.addresses is not None:
        values["addresses"] = tuple(form.addresses)
    with ctx.write() as session:
        department = update_department(
            session, name, DepartmentSpec(**values), actor=caller.name, now=ctx.now()
        )
        return department_out(session, department)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="remove a department without groups or tickets (admin)",
)
def remove_department(ctx: Ctx, caller: Admin, name: Name) -> None:
    with ctx.write() as session:
        delete_department(session, name, actor=caller.name, now=ctx.now())


@router.post("/{name}/autoresponder/preview", summary="render the autoresponder for a sample")
def preview(ctx: Ctx, caller: Anyone, name: Name, form: PreviewIn) -> PreviewOut:
    """Draft templates are checked and rendered as a new ticket's autoresponse would be."""
    for label, source in (("subject", form.subject), ("body", form.body), ("html", form.html)):
        if source is not None:
            check_template(label, source)
    sample = TicketSample(subject=form.ticket_subject, requester=form.requester)
    with ctx.read() as session:
        department = by_name(session, Department, name)
        own = AutoresponderTemplates(
            department.autoresponder_subject if form.subject is None else form.subject,
            department.autoresponder_body if form.body is None else form.body,
            department.autoresponder_html if form.html is None else form.html,
        )
        try:
            mail = preview_autoresponse(session, department, sample, _responder(ctx), own)
        except MaildError:
            raise
        except Exception as exc:  # a template may fail in any way (1/0, a bad filter argument)
            raise InvalidRequest(f"the template fails when rendered: {exc}") from None
    return PreviewOut(subject=mail.subject, text=mail.text, html=mail.html)


def _responder(ctx: ApiContext) -> AutoresponseContext:
    settings = ctx.settings
    return AutoresponseContext(
        settings.outbound,
        settings.tickets,
        settings.autoresponder,
        department_overrides(settings.departments),
    )
