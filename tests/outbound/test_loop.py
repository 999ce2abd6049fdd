"""A mail loop with a badly made vacation bot (issue 9; DESIGN §2: maild never loops).

The bot is a real SMTP server on loopback: maild's relay. Every mail maild sends it is answered
by a mail back to maild's own SMTP listener, from the customer's address, with none of the
headers that would mark it as automatic (no `Auto-Submitted`, no `Precedence`, no `In-Reply-To`,
a new subject each time): to maild it looks like a new request each time, so each one opens a
ticket and would be answered. Only the per-sender autoresponse limit can stop the exchange.
"""

from __future__ import annotations

import itertools
import smtplib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from maild.store.db import Store
from maild.store.models import Inbound, Outbox, Ticket
from maild.values import InboundState, OutboxState
from tests.daemon import MaildProcess
from tests.outbound.conftest import write_serve_config
from tests.support import free_port

CUSTOMER = "carol@customer.example"
ALLOWANCE = 3  # [autoresponder] max_per_sender of the desk: the product default
QUIET_SECONDS = 3.0  # after the last answer: long enough for another round trip on loopback
DEADLINE_SECONDS = 60.0

pytestmark = pytest.mark.slow  # `maild serve` in a subprocess


class VacationBot:
    """Answers every mail it receives with a fresh, unmarked mail to maild's listener."""

    def __init__(self, maild_port: int) -> None:
        self.maild_port = maild_port
        self.received: list[bytes] = []
        self.answered = 0
        self.errors: list[BaseException] = []
        self._numbers = itertools.count(1)
        self._threads: list[threading.Thread] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        answer = threading.Thread(target=self._answer, args=(next(self._numbers),))
        self._threads.append(answer)
        answer.start()
        return "250 OK"

    def _answer(self, n: int) -> None:
        mail = (
            f"From: Carol <{CUSTOMER}>\r\nTo: support@example.com\r\n"
            f"Subject: I am away until Monday ({n})\r\n"
            f"Message-ID: <away-{n}@customer.example>\r\n\r\n"
            "Thank you for your mail. I am away and will read it when I am back.\r\n"
        )
        try:
            with smtplib.SMTP("127.0.0.1", self.maild_port, timeout=30) as client:
                client.sendmail(CUSTOMER, ["support@example.com"], mail.encode())
            self.answered += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def busy(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)


def _settled(store: Store) -> bool:
    """Nothing left to do: every received mail handled, nothing waiting to be sent."""
    with store.sessions() as session:
        pending = session.scalar(
            sa.select(sa.func.count()).where(Inbound.state == InboundState.RECEIVED)
        )
        queued = session.scalar(
            sa.select(sa.func.count()).where(Outbox.state == OutboxState.QUEUED)
        )
    return pending == 0 and queued == 0


def test_a_vacation_bot_gets_at_most_the_allowance_then_the_exchange_stops(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    smtp_port = free_port()
    bot = VacationBot(smtp_port)
    relay = Controller(bot, hostname="127.0.0.1", port=free_port())
    relay.start()
    config = write_serve_config(tmp_path, url, f"127.0.0.1:{relay.port}")
    try:
        env = {"MAILD_SMTP_ENABLED": "true"}
        with MaildProcess.start(config, tmp_path, smtp_port=smtp_port, env=env) as daemon:
            with daemon.smtp() as customer:  # the first, real request starts it all
                customer.sendmail(
                    CUSTOMER,
                    ["support@example.com"],
                    b"From: Carol <carol@customer.example>\r\nTo: support@example.com\r\n"
                    b"Subject: Printer on fire\r\nMessage-ID: <req-1@customer.example>\r\n\r\n"
                    b"Help.\r\n",
                )
            store = Store.open(url)
            try:
                deadline = time.monotonic() + DEADLINE_SECONDS
                quiet_since = time.monotonic()
                seen = -1
                while time.monotonic() < deadline:
                    if len(bot.received) != seen or bot.busy() or not _settled(store):
                        seen, quiet_since = len(bot.received), time.monotonic()
                    elif time.monotonic() - quiet_since > QUIET_SECONDS:
                        break
                    time.sleep(0.1)
                else:
                    pytest.fail(f"still exchanging after {DEADLINE_SECONDS} s: {len(bot.received)}")
                with store.sessions() as session:
                    tickets = session.scalar(sa.select(sa.func.count()).select_from(Ticket))
                    refused = session.scalars(
                        sa.select(Outbox.state).where(Outbox.state != OutboxState.SENT)
                    ).all()
            finally:
                store.close()
    finally:
        relay.stop()

    assert not bot.errors, bot.errors
    # The request and each of the bot's answers are tickets; only the first ALLOWANCE of them
    # were answered, and the answer that did not go out left nothing queued or failed.
    assert len(bot.received) == ALLOWANCE
    assert bot.answered == ALLOWANCE
    assert tickets == ALLOWANCE + 1
    assert refused == []
