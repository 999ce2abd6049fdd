"""The queue alert the scheduler sends to agents: shipped template, no ticket of its own,
delivered through the outbox like every other mail."""

from __future__ import annotations

from datetime import UTC, datetime

from maild.outbound import QueueAlert, QueuedTicket, compose_queue_alert, enqueue_notification
from tests.outbound.conftest import Desk, Sink


def test_a_queue_alert_reaches_the_agents(desk: Desk, sink: Sink) -> None:
    alert = QueueAlert(
        group="Tier 1",
        department="Support",
        after_minutes=30,
        tickets=(
            QueuedTicket("SUP-000007", "Printer\r\nBcc: x@evil.example", "high", 95),
            QueuedTicket("SUP-000009", "VPN", "normal", 40),
        ),
    )
    mail = compose_queue_alert(
        alert, ("alice@example.com", "bob@example.com"), "support@example.com", desk.ctx.templates
    )
    with desk.store.transaction() as session:
        enqueue_notification(
            session, mail, desk.settings.outbound, datetime.now(UTC), purpose="queue_alert"
        )
    desk.deliver()
    (got,) = sink.received
    assert got.rcpt_tos == ["alice@example.com", "bob@example.com"]
    assert got.message["Subject"] == "[maild] 2 ticket(s) waiting in the Tier 1 queue"
    assert got.message["Auto-Submitted"] == "auto-replied" and got.message["Bcc"] is None
    text = got.message.get_body(("plain",))
    assert text is not None and "SUP-000007" in text.get_content()
    assert "oldest has waited 95 minutes" in text.get_content()
    assert desk.outbox()[0].ticket_id is None
