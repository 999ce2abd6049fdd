"""Mail an agent sends: reply (send and mark), the ticket's one draft, forward, resend, and new
incoming or outgoing tickets. Each is one call of the outbound core (`maild.outbound`, as the
CLI's `maild ticket reply|forward|resend|new`) in one transaction: the ticket change and its
outbox row commit together, and a refused request leaves nothing queued."""

from __future__ import annotations

from fastapi import APIRouter, Body, Response, status
from sqlalchemy.orm import Session

from maild.api.auth import Anyone, Ctx
from maild.api.context import ApiContext, Caller
from maild.api.errors import ERROR_RESPONSES, bad_field
from maild.api.mail_models import (
    DraftIn,
    DraftOut,
    ForwardIn,
    MarkIn,
    NewTicketIn,
    ReplyIn,
    ResendIn,
    SentOut,
    UploadIn,
)
from maild.api.names import id_by_name, row_by_name, visible_ticket
from maild.api.ticket_actions import followup_request, transfer_request
from maild.api.ticket_detail import summary
from maild.api.ticket_models import TicketSummary
from maild.api.tickets import RowId
from maild.api.types import Number
from maild.errors import NotFound
from maild.outbound import (
    DraftValues,
    ForwardRequest,
    Mark,
    NewTicketRequest,
    ReplyRequest,
    Sent,
    Upload,
    create_ticket,
    discard_draft,
    forward_message,
    get_draft,
    resend_message,
    save_draft,
    send_reply,
)
from maild.store.models import Agent, CannedReply, Group, Message, Ticket

router = APIRouter(prefix="/tickets", tags=["ticket mail"], responses=ERROR_RESPONSES)


@router.post("/{number}/reply", summary="reply to the customer and mark the ticket")
def reply(ctx: Ctx, caller: Anyone, number: Number, form: ReplyIn) -> SentOut:
    """Seed "Send and Mark": the mail is queued and the ticket marked (default `waiting`), or
    given a follow-up, or transferred, in one transaction; sending clears the draft."""
    if not form.body.strip() and form.canned is None:
        raise bad_field("body", "the reply is empty; write a body or name a canned reply")
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        if form.canned is not None:
            row_by_name(session, CannedReply, form.canned, "canned")
        answering = _message(session, ticket, form.message) if form.message else None
        request = ReplyRequest(
            body=form.body,
            to=form.to,
            cc=form.cc,
            bcc=form.bcc,
            subject=form.subject,
            reply_all=form.reply_all,
            canned=form.canned or "",
            attachments=_uploads(ctx, form.attachments),
        )
        sent = send_reply(
            session,
            ticket,
            request,
            agent=_agent(session, caller),
            ctx=ctx.outbound,
            now=ctx.now(),
            mark=_mark(session, caller, form, ticket.group_id),
            answering=answering,
        )
        return _sent(session, ctx, ticket, sent)


@router.get("/{number}/draft", summary="the ticket's draft reply")
def read_draft(ctx: Ctx, caller: Anyone, number: Number) -> DraftOut:
    with ctx.read() as session:
        ticket = visible_ticket(session, caller, number)
        draft = get_draft(session, ticket)
    if draft is None:
        raise NotFound(f"ticket {number} has no draft; save one with PUT")
    return DraftOut(**draft.__dict__)


@router.put("/{number}/draft", summary="save the draft (one per ticket: replaces the last)")
def write_draft(ctx: Ctx, caller: Anyone, number: Number, form: DraftIn) -> DraftOut:
    values = DraftValues(form.body, form.to, form.cc, form.bcc, form.subject)
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        save_draft(session, ticket, values, agent=_agent(session, caller), now=ctx.now())
    return DraftOut(**values.__dict__)


@router.delete(
    "/{number}/draft",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="discard the draft",
)
def drop_draft(ctx: Ctx, caller: Anyone, number: Number) -> Response:
    with ctx.write() as session:
        discard_draft(session, visible_ticket(session, caller, number))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{number}/messages/{message_id}/forward",
    summary="forward a message of the ticket, with its attachments",
)
def forward(
    ctx: Ctx, caller: Anyone, number: Number, message_id: RowId, form: ForwardIn
) -> SentOut:
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        request = ForwardRequest(
            to=form.to,
            cc=form.cc,
            bcc=form.bcc,
            note=form.note,
            attachments=_uploads(ctx, form.attachments),
        )
        sent = forward_message(
            session,
            ticket,
            _message(session, ticket, message_id),
            request,
            agent=_agent(session, caller),
            ctx=ctx.outbound,
            now=ctx.now(),
        )
        return _sent(session, ctx, ticket, sent)


@router.post(
    "/{number}/messages/{message_id}/resend",
    summary="send an outgoing message again (Resent-* headers)",
)
def resend(
    ctx: Ctx,
    caller: Anyone,
    number: Number,
    message_id: RowId,
    form: ResendIn | None = Body(None),
) -> SentOut:
    """To its first recipients, or to `to`; an incoming message cannot be re-sent (409)."""
    with ctx.write() as session:
        ticket = visible_ticket(session, caller, number)
        sent = resend_message(
            session,
            ticket,
            _message(session, ticket, message_id),
            agent=_agent(session, caller),
            ctx=ctx.outbound,
            now=ctx.now(),
            recipients=form.to if form is not None else "",
        )
        return _sent(session, ctx, ticket, sent)


@router.post("", status_code=status.HTTP_201_CREATED, summary="open an outgoing or incoming ticket")
def new_ticket(ctx: Ctx, caller: Anyone, form: NewTicketIn) -> TicketSummary:
    """Any agent may open a ticket in any group, as any agent may transfer one there."""
    if not form.subject.strip():
        raise bad_field("subject", "a new ticket needs a subject")
    if not form.body.strip():
        raise bad_field("body", "a new ticket needs a message")
    if form.incoming and form.model_fields_set & {"status", "follow_up", "transfer"}:
        raise bad_field("incoming", "an incoming ticket is not marked; leave out the mark")
    with ctx.write() as session:
        group = row_by_name(session, Group, form.group, "group")
        request = NewTicketRequest(
            group_id=group.id,
            customer=form.customer,
            subject=form.subject,
            body=form.body,
            incoming=form.incoming,
            agent_id=id_by_name(session, Agent, form.agent, "agent"),
            cc=form.cc,
            bcc=form.bcc,
            priority=form.priority,
            attachments=_uploads(ctx, form.attachments),
        )
        mark = None if form.incoming else _mark(session, caller, form, group.id)
        agent = _agent(session, caller)
        ticket = create_ticket(
            session, request, agent=agent, ctx=ctx.outbound, now=ctx.now(), mark=mark
        )
        return summary(session, ticket, ctx.now())


# --- helpers ------------------------------------------------------------------------------


def _agent(session: Session, caller: Caller) -> Agent:
    agent = session.get(Agent, caller.agent_id)
    if agent is None:  # deleted since the token was checked
        raise NotFound(f"agent {caller.name!r} no longer exists")
    return agent


def _message(session: Session, ticket: Ticket, message_id: int) -> Message:
    """A message of the ticket by its id (as `GET /tickets/{number}` lists them)."""
    found = session.get(Message, message_id)
    if found is None or found.ticket_id != ticket.id:
        raise NotFound(f"ticket {ticket.number} has no message {message_id}")
    return found


def _uploads(ctx: ApiContext, uploads: list[UploadIn]) -> tuple[Upload, ...]:
    """The files as the core takes them; one over the limit is refused naming its field (the
    core checks the limit again where it composes the mail)."""
    limit = ctx.outbound.outbound.max_attachment_bytes
    for index, upload in enumerate(uploads):
        if len(upload.data) > limit:
            raise bad_field(
                f"attachments.{index}.data",
                f"attachment {upload.filename!r} is {len(upload.data)} bytes; the limit is "
                f"{limit} bytes ([outbound] max_attachment_bytes)",
            )
    return tuple(Upload(u.filename, u.content_type, u.data) for u in uploads)


def _mark(session: Session, caller: Caller, form: MarkIn, group_id: int) -> Mark:
    """Send and mark: a status, or a follow-up (in `group_id` unless named), or a transfer."""
    if form.follow_up is not None and form.transfer is not None:
        raise bad_field("transfer", "send and mark takes a follow-up or a transfer, not both")
    if form.follow_up is not None:
        if "status" in form.model_fields_set:
            raise bad_field("status", "a follow-up makes the ticket waiting; leave out status")
        return Mark(
            followup=followup_request(session, caller, form.follow_up, group_id, "follow_up")
        )
    if form.transfer is not None:
        if "status" in form.model_fields_set:
            raise bad_field("status", "a transfer takes its own status: put it in transfer")
        return Mark(transfer=transfer_request(session, form.transfer, "transfer"))
    return Mark(status=form.status)


def _sent(session: Session, ctx: ApiContext, ticket: Ticket, sent: Sent) -> SentOut:
    return SentOut(
        message_id=sent.message_id,
        outbox=sent.outbox_id,
        ticket=summary(session, ticket, ctx.now()),
    )
