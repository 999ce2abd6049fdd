"""Mail to agents that belongs to no ticket: the queue alert the scheduler sends when tickets
wait in a group's queue too long (DESIGN §6 group "queue alert after"). Composed from the
shipped `queue_alert.*` templates (or the department's own) and queued with
`enqueue_notification`."""

from __future__ import annotations

from dataclasses import dataclass

from maild.outbound.compose import tagged_subject
from maild.outbound.headers import clean_mail_text
from maild.outbound.message import OutgoingMail
from maild.outbound.templates import TemplateName, Templates


@dataclass(frozen=True)
class QueuedTicket:
    number: str
    subject: str
    priority: str
    waiting_minutes: int


@dataclass(frozen=True)
class QueueAlert:
    group: str
    department: str
    after_minutes: int  # the group's queue_alert_after_minutes
    tickets: tuple[QueuedTicket, ...]  # oldest first


def compose_queue_alert(
    alert: QueueAlert, recipients: tuple[str, ...], from_address: str, templates: Templates
) -> OutgoingMail:
    """The alert to `recipients` (the group's agents, managers), sent by `from_address`."""
    tickets = [
        {
            "number": t.number,
            "subject": clean_mail_text(t.subject),
            "priority": t.priority,
            "waiting_minutes": t.waiting_minutes,
        }
        for t in alert.tickets
    ]
    values = {
        "group": {"name": alert.group},
        "department": {"name": alert.department},
        "queue": {
            "count": len(tickets),
            "after_minutes": alert.after_minutes,
            "oldest_minutes": max((t.waiting_minutes for t in alert.tickets), default=0),
            "tickets": tickets,
        },
    }

    def render(name: TemplateName) -> str:
        return templates.render(name, values, alert.department)

    subject = " ".join(render(TemplateName.QUEUE_ALERT_SUBJECT).split())
    return OutgoingMail(
        from_address=from_address,
        from_name="maild",
        to=recipients,
        subject=tagged_subject("[maild]", subject),
        text=render(TemplateName.QUEUE_ALERT_TEXT),
        html=render(TemplateName.QUEUE_ALERT_HTML),
        automatic=True,  # RFC 3834: a program wrote it; nobody should auto-answer it
    )
