"""The queue alert (DESIGN §6 group "queue alert after"): one mail to the group's managers when
tickets have waited in its queue longer than `queue_alert_after_minutes`, once per ticket
(remembered in `queue_alert`), through the outbox."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.outbound import QueueAlert, QueuedTicket, compose_queue_alert, enqueue_notification
from maild.outbound.templates import Templates
from maild.settings import OutboundSettings
from maild.store.models import Agent, Group, Membership, QueueAlertSent, Ticket
from maild.tickets.states import IN_QUEUE
from maild.values import Role

log = logging.getLogger("maild.scheduler")


def send_queue_alerts(
    session: Session, outbound: OutboundSettings, templates: Templates, *, now: datetime, limit: int
) -> int:
    """Queue one alert per group for its tickets queued too long and not reported yet (at most
    `limit` per group). Returns how many tickets were reported."""
    groups = session.scalars(
        sa.select(Group).where(Group.queue_alert_after_minutes.is_not(None)).order_by(Group.id)
    ).all()
    reported = 0
    for group in groups:
        reported += _alert_group(session, group, outbound, templates, now, limit)
    return reported


def _alert_group(
    session: Session,
    group: Group,
    outbound: OutboundSettings,
    templates: Templates,
    now: datetime,
    limit: int,
) -> int:
    minutes = group.queue_alert_after_minutes or 0
    tickets = _overdue(session, group.id, now - timedelta(minutes=minutes), limit)
    if not tickets:
        return 0
    recipients = _managers(session, group.id)
    if not recipients:
        log.warning("queue alert for group %s: no manager with an address to tell", group.name)
        return 0
    session.add_all(QueueAlertSent(ticket_id=t.id, sent_at=now) for t in tickets)
    alert = QueueAlert(
        group=group.name,
        department=group.department.name,
        after_minutes=minutes,
        tickets=tuple(_queued(t, now) for t in tickets),
    )
    mail = compose_queue_alert(alert, recipients, outbound.from_address, templates)
    enqueue_notification(session, mail, outbound, now, purpose="queue_alert")
    return len(tickets)


def _overdue(session: Session, group_id: int, queued_before: datetime, limit: int) -> list[Ticket]:
    reported = sa.select(QueueAlertSent.ticket_id).where(QueueAlertSent.ticket_id == Ticket.id)
    locked = session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.group_id == group_id,
            *IN_QUEUE,
            Ticket.queued_at <= queued_before,
            ~sa.exists(reported),
        )
        .order_by(Ticket.queued_at, Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not locked:
        return []
    # Read again after locking: another process may have reported one of them and committed
    # between our snapshot and our lock (the ticket row itself did not change).
    ids = [t.id for t in locked]
    done = set(
        session.scalars(
            sa.select(QueueAlertSent.ticket_id).where(QueueAlertSent.ticket_id.in_(ids))
        )
    )
    return [t for t in locked if t.id not in done]


def _managers(session: Session, group_id: int) -> tuple[str, ...]:
    """The group's members who manage (managers and admins), by address."""
    rows = session.scalars(
        sa.select(Agent.email)
        .join(Membership, Membership.agent_id == Agent.id)
        .where(
            Membership.group_id == group_id,
            Agent.role.in_([Role.MANAGER, Role.ADMIN]),
            Agent.email != "",
        )
        .order_by(Agent.name)
    )
    return tuple(dict.fromkeys(rows))


def _queued(ticket: Ticket, now: datetime) -> QueuedTicket:
    waited = now - (ticket.queued_at or now)
    return QueuedTicket(
        number=ticket.number,
        subject=ticket.subject,
        priority=ticket.priority.value,
        waiting_minutes=int(waited.total_seconds() // 60),
    )
