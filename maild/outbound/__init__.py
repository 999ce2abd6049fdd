"""Outgoing mail: composing, the transactional outbox, delivery, the autoresponder.

The Python API the CLI and the HTTP API use. Every service takes the caller's `Session` (one
transaction: the ticket change and its outbox row commit together or not at all), the acting
`Agent`, an `OutboundContext` (`maild.runtime.build_outbound_context(settings)`) and `now`:

- `send_reply(session, ticket, ReplyRequest, agent=, ctx=, now=, mark=Mark(...), answering=)`
  reply (or reply all) and mark the ticket active/waiting/closed/closed_locked, schedule a
  follow-up or transfer it; returns `Sent(outbox_id, message_id)`.
- `save_draft` / `get_draft` / `discard_draft`: the ticket's one draft.
- `create_ticket(session, NewTicketRequest, ...)`: an agent's outgoing or incoming ticket.
- `forward_message(session, ticket, message, ForwardRequest, ...)`, `resend_message(...)`,
  `find_message(session, ticket, message_id)` to pick the message.
- `enqueue_notification(session, OutgoingMail, settings, now, purpose)` and
  `compose_queue_alert(...)` for mail to agents (the scheduler's queue alert).

Errors are `maild.errors` exceptions: `InvalidRequest` (a bad address, a line break in a
header value, an attachment over the limit: nothing is queued), `NotFound`, `Conflict`.
Delivery runs in `maild serve` (`maild.outbound.delivery.run_delivery`).
"""

from maild.outbound.agent_mail import (
    NewTicketRequest,
    create_ticket,
    find_message,
    forward_message,
    resend_message,
)
from maild.outbound.compose import ForwardRequest, ReplyRequest, Upload
from maild.outbound.message import OutgoingAttachment, OutgoingMail
from maild.outbound.notifications import QueueAlert, QueuedTicket, compose_queue_alert
from maild.outbound.outbox import enqueue_notification
from maild.outbound.replies import (
    DraftValues,
    Mark,
    OutboundContext,
    Sent,
    discard_draft,
    get_draft,
    save_draft,
    send_reply,
)

__all__ = [
    "DraftValues",
    "ForwardRequest",
    "Mark",
    "NewTicketRequest",
    "OutboundContext",
    "OutgoingAttachment",
    "OutgoingMail",
    "QueueAlert",
    "QueuedTicket",
    "ReplyRequest",
    "Sent",
    "Upload",
    "compose_queue_alert",
    "create_ticket",
    "discard_draft",
    "enqueue_notification",
    "find_message",
    "forward_message",
    "get_draft",
    "resend_message",
    "save_draft",
    "send_reply",
]
