"""Working a ticket: comments and resolutions, transfer, follow-up, take, merge, related
tickets, custom fields, time logs and the bulk forms (seed "Performing Actions on Multiple
Tickets"). Each action is one core call in one transaction."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from maild.api.auth import Anyone, Ctx
from maild.api.context import ApiContext, Caller
from maild.api.errors import ERROR_RESPONSES, ApiError, forbidden
from maild.api.names import id_by_name, row_by_name, visible_ticket
from maild.api.ticket_detail import summary
from maild.api.ticket_models import (
    BulkDelete,
    BulkIn,
    BulkOut,
    BulkPin,
    BulkPriority,
    BulkResult,
    BulkStatus,
    BulkTransfer,
    CommentIn,
    CommentOut,
    FieldsIn,
    FollowUpIn,
    MergeIn,
    RelatedIn,
    TicketSummary,
    TimeLogIn,
    TimeLogOut,
    TransferIn,
)
from maild.api.types import Number
from maild.errors import MaildError
from maild.routing import take
from maild.store.models import Agent, Brand, Group, Ticket
from maild.tickets.access import may_delete
from maild.tickets.fields import field_values, set_field
from maild.tickets.followup import FollowUp, remove_followup, schedule_followup
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.items import add_comment, log_time
from maild.tickets.lifecycle import set_pinned, set_priority, set_status
from maild.tickets.merge import merge
from maild.tickets.participants import relate
from maild.tickets.transfer import Transfer, transfer

router = APIRouter(prefix="/tickets", tags=["ticket actions"], responses=ERROR_RESPONSES)


@router.post(
    "/{number}/comments",
    status_code=status.HTTP_201_CREATED,
    summary="add a comment or a resolution (agents only ever see these)",
)
def comment(ctx: Ctx, caller: Anyone, number: Number, note: CommentIn) -> CommentOut:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        row = add_comment(
            session, ticket, note.body, kind=note.kind, actor=caller.actor, now=ctx.now()
        )
        session.flush()
        return CommentOut(
            id=row.id, kind=row.kind, body=row.body, agent=caller.name, created_at=row.created_at
        )


@router.post("/{number}/transfer", summary="transfer to a group and agent (null = auto)")
def transfer_one(ctx: Ctx, caller: Anyone, number: Number, form: TransferIn) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        apply_transfer(session, ctx, caller, ticket, form)
        return summary(session, ticket, ctx.now())


def apply_transfer(
    session: Session, ctx: ApiContext, caller: Caller, ticket: Ticket, form: TransferIn
) -> None:
    request = transfer_request(session, form)
    transfer(
        session, ticket, request, distributor=ctx.distributor, actor=caller.actor, now=ctx.now()
    )


def transfer_request(session: Session, form: TransferIn, field: str = "") -> Transfer:
    """The core's transfer for `form`; unknown names are 422s naming `field.group`, ..."""
    at = f"{field}." if field else ""
    return Transfer(
        group_id=row_by_name(session, Group, form.group, f"{at}group").id,
        agent_id=id_by_name(session, Agent, form.agent, f"{at}agent"),
        priority=form.priority,
        status=form.status,
        pin=form.pin,
        comment=form.comment,
        brand_id=id_by_name(session, Brand, form.brand, f"{at}brand"),
    )


@router.put("/{number}/follow-up", summary="schedule (or re-schedule) a follow-up")
def schedule(ctx: Ctx, caller: Anyone, number: Number, form: FollowUpIn) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        schedule_followup(
            session,
            ticket,
            followup_request(session, caller, form, ticket.group_id),
            distributor=ctx.distributor,
            actor=caller.actor,
            now=ctx.now(),
        )
        return summary(session, ticket, ctx.now())


def followup_request(
    session: Session, caller: Caller, form: FollowUpIn, group_id: int, field: str = ""
) -> FollowUp:
    """The core's follow-up for `form`: in `group_id` (the ticket's) unless a group is named;
    `agent` left out is the caller (seed: "By default, the agent who schedules the follow-up
    will be assigned"). Unknown names are 422s naming `field.group`, ..."""
    at = f"{field}." if field else ""
    group_id = id_by_name(session, Group, form.group, f"{at}group") or group_id
    agent_id = (
        id_by_name(session, Agent, form.agent, f"{at}agent")
        if "agent" in form.model_fields_set
        else caller.agent_id
    )
    return FollowUp(
        at=form.at,
        group_id=group_id,
        agent_id=agent_id,
        priority=form.priority,
        pin=form.pin,
        note=form.note,
    )


@router.delete("/{number}/follow-up", summary="remove the follow-up (status as before it)")
def unschedule(ctx: Ctx, caller: Anyone, number: Number) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        remove_followup(
            session, ticket, distributor=ctx.distributor, actor=caller.actor, now=ctx.now()
        )
        return summary(session, ticket, ctx.now())


@router.post("/{number}/take", summary="take the ticket (from the queue) for yourself")
def take_ticket(ctx: Ctx, caller: Anyone, number: Number) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        take(session, ticket, caller.agent_id, ctx.now())
        return summary(session, ticket, ctx.now())


@router.post("/merge", summary="merge 2-10 tickets into the primary (permanent)")
def merge_tickets(ctx: Ctx, caller: Anyone, form: MergeIn) -> TicketSummary:
    with ctx.write() as session:
        primary = visible_ticket(session, caller, form.primary)
        others = [visible_ticket(session, caller, number) for number in form.others]
        merge(
            session, primary, others, distributor=ctx.distributor, actor=caller.actor, now=ctx.now()
        )
        return summary(session, primary, ctx.now())


@router.post("/{number}/related", summary="link another ticket as related")
def add_related(ctx: Ctx, caller: Anyone, number: Number, form: RelatedIn) -> TicketSummary:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        other = visible_ticket(session, caller, form.number)
        relate(session, ticket, other, actor=caller.actor, now=ctx.now())
        return summary(session, ticket, ctx.now())


@router.put("/{number}/fields", summary="set custom field values (empty clears)")
def set_fields(ctx: Ctx, caller: Anyone, number: Number, form: FieldsIn) -> dict[str, str]:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        for name, value in sorted(form.values.items()):
            set_field(session, ticket, name, value, actor=caller.actor, now=ctx.now())
        session.flush()
        return field_values(session, ticket)


@router.post(
    "/{number}/time-logs",
    status_code=status.HTTP_201_CREATED,
    summary="record time spent on the ticket",
)
def add_time_log(ctx: Ctx, caller: Anyone, number: Number, form: TimeLogIn) -> TimeLogOut:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        row = log_time(
            session, ticket, form.minutes, note_text=form.note, actor=caller.actor, now=ctx.now()
        )
        session.flush()
        return TimeLogOut(
            id=row.id,
            minutes=row.minutes,
            note=row.note,
            agent=caller.name,
            created_at=row.created_at,
        )


@router.post("/bulk", summary="one action on many tickets; each succeeds or fails alone")
def bulk(ctx: Ctx, caller: Anyone, form: BulkIn) -> BulkOut:
    if isinstance(form.change, BulkDelete) and not may_delete(caller.role):
        raise forbidden("agents may not delete tickets; ask a manager")
    results = [_bulk_one(ctx, caller, number, form) for number in dict.fromkeys(form.numbers)]
    return BulkOut(changed=sum(r.ok for r in results), results=results)


def _bulk_one(ctx: ApiContext, caller: Caller, number: str, form: BulkIn) -> BulkResult:
    try:
        with ctx.write() as session:
            ticket = visible_ticket(session, caller, number)
            _apply_bulk(session, ctx, caller, ticket, form)
    except MaildError as exc:
        return BulkResult(number=number, ok=False, error=str(exc))
    except ApiError as exc:
        return BulkResult(number=number, ok=False, error=exc.message)
    return BulkResult(number=number, ok=True)


def _apply_bulk(
    session: Session, ctx: ApiContext, caller: Caller, ticket: Ticket, form: BulkIn
) -> None:
    change, now, actor = form.change, ctx.now(), caller.actor
    if isinstance(change, BulkStatus):
        set_status(
            session, ticket, change.status, distributor=ctx.distributor, actor=actor, now=now
        )
    elif isinstance(change, BulkPriority):
        set_priority(session, ticket, change.priority, actor=actor, now=now)
    elif isinstance(change, BulkPin):
        set_pinned(session, ticket, change.pinned, actor=actor, now=now)
    elif isinstance(change, BulkTransfer):
        apply_transfer(session, ctx, caller, ticket, change.transfer)
    else:
        delete_ticket(session, ticket, distributor=ctx.distributor, actor=actor, now=now)
