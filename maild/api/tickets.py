"""Ticket views, search, detail, everyday changes, delete and downloads (DESIGN §5)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from maild.api.auth import Anyone, Ctx, Deleter
from maild.api.context import ApiContext, Caller
from maild.api.errors import ERROR_RESPONSES, forbidden
from maild.api.names import id_by_name, visible_ticket
from maild.api.ticket_detail import summary, ticket_detail
from maild.api.ticket_models import (
    COUNT_UP_TO,
    TicketDetail,
    TicketPage,
    TicketPatch,
    TicketSummary,
)
from maild.api.types import MEDIA_TYPE, Address, Line, Name, Number, UtcTime
from maild.errors import NotFound
from maild.store.models import Agent, Attachment, Brand, Department, Group, Message, Raw, Ticket
from maild.store.rawbytes import unpack
from maild.tickets.housekeeping import delete_ticket, undelete_ticket
from maild.tickets.lifecycle import (
    change_email,
    change_subject,
    set_pinned,
    set_priority,
    set_status,
)
from maild.tickets.search import SearchCriteria, count_matches, search_tickets
from maild.tickets.views import MAX_LIMIT, SortKey, TicketQuery, View, count_tickets, list_tickets
from maild.values import Priority, Role, Status

router = APIRouter(prefix="/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="skip this many (paging)")]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ExactTotal = Annotated[
    bool, Query(description=f"count every match, not only up to {COUNT_UP_TO:,} (slower)")
]


@router.get("", summary="a view of tickets, filtered, searched, sorted and paged")
def list_view(
    ctx: Ctx,
    caller: Anyone,
    view: View = View.ALL,
    status: Status | None = None,
    group: Name | None = None,
    agent: Name | None = None,
    brand: Name | None = None,
    department: Name | None = None,
    q: Annotated[Line, Query(description="basic search: subject, messages, comments")] = "",
    sort: SortKey = SortKey.IDLE,
    order: Literal["asc", "desc"] = "asc",
    limit: Limit = 100,
    offset: Offset = 0,
    exact_total: ExactTotal = False,
) -> TicketPage:
    """Views are the seed's: `mine_*`, `follow_ups`, `recent` and `recently_transferred` are
    the caller's own; every view shows only what the caller may see. Sorting ends on idle time
    (seed: "Final sort order uses the ticket's idle time")."""
    with ctx.read() as session:
        query = TicketQuery(
            view=view,
            viewer_id=caller.agent_id,
            status=status,
            group_id=id_by_name(session, Group, group, "group"),
            agent_id=id_by_name(session, Agent, agent, "agent"),
            brand_id=id_by_name(session, Brand, brand, "brand"),
            department_id=id_by_name(session, Department, department, "department"),
            text=q,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            offset=offset,
            visible_to=caller.viewer,
        )
        now = ctx.now()
        rows = list_tickets(session, query, now)
        up_to = None if exact_total else COUNT_UP_TO
        counted = count_tickets(session, query, up_to)
    items = [TicketSummary.of(row, now) for row in rows]
    return TicketPage.of(counted, up_to, limit, offset, items)


@router.get("/search", summary="advanced search (seed: every given criterion must match)")
def search(
    ctx: Ctx,
    caller: Anyone,
    text: Annotated[Line, Query(description="in subjects, message bodies and comments")] = "",
    number: Annotated[Line, Query(description="a ticket number, or one merged away")] = "",
    email: Annotated[Address, Query(description="part of a requester or participant")] = "",
    created_from: Annotated[UtcTime | None, Query(description="ISO 8601 with a zone")] = None,
    created_to: Annotated[UtcTime | None, Query(description="exclusive")] = None,
    group: Name | None = None,
    agent: Name | None = None,
    status: Status | None = None,
    priority: Priority | None = None,
    deleted: Annotated[bool, Query(description="search deleted tickets only")] = False,
    order: Literal["newest", "oldest"] = "newest",
    field: Annotated[Name | None, Query(description="a custom field ...")] = None,
    field_value: Annotated[Line, Query(description="... and its value (empty: none)")] = "",
    limit: Limit = 100,
    offset: Offset = 0,
    exact_total: ExactTotal = False,
) -> TicketPage:
    with ctx.read() as session:
        criteria = SearchCriteria(
            text=text,
            number=number,
            email=email,
            created_from=created_from,
            created_to=created_to,
            group_id=id_by_name(session, Group, group, "group"),
            agent_id=id_by_name(session, Agent, agent, "agent"),
            status=status,
            priority=priority,
            deleted_only=deleted,
            newest_first=order == "newest",
            max_results=limit,
            offset=offset,
            field_name=field or "",
            field_value=field_value,
            visible_to=caller.viewer,
        )
        now = ctx.now()
        rows = search_tickets(session, criteria, now)
        up_to = None if exact_total else COUNT_UP_TO
        counted = count_matches(session, criteria, up_to)
    items = [TicketSummary.of(row, now) for row in rows]
    return TicketPage.of(counted, up_to, limit, offset, items)


@router.get("/{number}", summary="one ticket with messages, comments, attachments, history")
def show(
    ctx: Ctx,
    caller: Anyone,
    number: Number,
    raw_html: Annotated[bool, Query(description="unsanitised mail HTML (admins only)")] = False,
) -> TicketDetail:
    if raw_html and caller.role is not Role.ADMIN:
        raise forbidden("only admins may read unsanitised mail HTML; leave out raw_html")
    with ctx.read() as session:
        ticket = visible_ticket(session, caller, number)
        return ticket_detail(session, ticket, ctx.now(), raw_html=raw_html)


@router.patch("/{number}", summary="change status, priority, pin, subject or email")
def patch(ctx: Ctx, caller: Anyone, number: Number, change: TicketPatch) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        apply_patch(session, ctx, caller, ticket, change)
        return summary(session, ticket, ctx.now())


def apply_patch(
    session: Session, ctx: ApiContext, caller: Caller, ticket: Ticket, change: TicketPatch
) -> None:
    now, actor = ctx.now(), caller.actor
    if change.status is not None:
        set_status(
            session, ticket, change.status, distributor=ctx.distributor, actor=actor, now=now
        )
    if change.priority is not None:
        set_priority(session, ticket, change.priority, actor=actor, now=now)
    if change.pinned is not None:
        set_pinned(session, ticket, change.pinned, actor=actor, now=now)
    if change.subject is not None:
        change_subject(session, ticket, change.subject, actor=actor, now=now)
    if change.email is not None:
        change_email(session, ticket, change.email, actor=actor, now=now)


@router.delete("/{number}", summary="delete (managers and admins; purged after 90 days)")
def delete(ctx: Ctx, caller: Deleter, number: Number) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        delete_ticket(
            session, ticket, distributor=ctx.distributor, actor=caller.actor, now=ctx.now()
        )
        return summary(session, ticket, ctx.now())


@router.post("/{number}/undelete", summary="bring a deleted ticket back (closed and locked)")
def undelete(ctx: Ctx, caller: Deleter, number: Number) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        undelete_ticket(session, ticket, actor=caller.actor, now=ctx.now())
        return summary(session, ticket, ctx.now())


_BYTES = {"schema": {"type": "string", "format": "binary"}}
# An attachment keeps the type its mail gave it (application/octet-stream when unusable).
_ATTACHMENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"*/*": _BYTES}, "description": "the bytes"}
}
_RAW: dict[int | str, dict[str, Any]] = {
    200: {"content": {"message/rfc822": _BYTES}, "description": "the message as received or sent"}
}


@router.get(
    "/{number}/attachments/{attachment_id}",
    response_class=Response,
    responses=_ATTACHMENT,
    summary="download an attachment",
)
def attachment(ctx: Ctx, caller: Anyone, number: Number, attachment_id: RowId) -> Response:
    with ctx.read() as session:
        ticket = visible_ticket(session, caller, number)
        row = session.execute(
            sa.select(Attachment.filename, Attachment.content_type, Attachment.data)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == attachment_id, Message.ticket_id == ticket.id)
        ).first()
    if row is None:
        raise NotFound(f"ticket {number} has no attachment {attachment_id}")
    media = row.content_type.strip().lower()
    media = media if MEDIA_TYPE.fullmatch(media) else "application/octet-stream"
    return download(row.data, media, row.filename or f"attachment-{attachment_id}")


@router.get(
    "/{number}/messages/{message_id}/raw",
    response_class=Response,
    responses=_RAW,
    summary="the raw message as received or sent",
)
def raw_message(ctx: Ctx, caller: Anyone, number: Number, message_id: RowId) -> Response:
    with ctx.read() as session:
        ticket = visible_ticket(session, caller, number)
        row = session.execute(
            sa.select(Raw.data, Raw.compressed)
            .join(Message, Message.raw_id == Raw.id)
            .where(Message.id == message_id, Message.ticket_id == ticket.id)
        ).first()
    if row is None:
        raise NotFound(f"ticket {number} has no raw message {message_id}")
    data = unpack(row.data, row.compressed)
    return download(data, "message/rfc822", f"{number}-{message_id}.eml")


def download(data: bytes, media_type: str, filename: str) -> Response:
    """Always a download, never rendered inline: the bytes came from a stranger's mail."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:200] or "download"
    encoded = quote(filename[:200], errors="replace")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    headers = {"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"}
    return Response(content=data, media_type=media_type, headers=headers)
