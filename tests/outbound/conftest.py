"""A support desk for outbound tests and a real SMTP sink (aiosmtpd) on loopback.

The sink records every envelope it accepts; `FaultyRelay` answers scripted faults first (a
451, a 550, a connection dropped after DATA) and then accepts: fakes only to inject faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from maild.outbound.delivery import DeliveryWorker
from maild.outbound.dkim import build_signer
from maild.outbound.replies import OutboundContext
from maild.outbound.transport import build_transport
from maild.provision import apply_config
from maild.routing import RoundRobin
from maild.runtime import build_outbound_context, build_pipeline
from maild.settings import (
    AgentConfig,
    BrandConfig,
    DepartmentConfig,
    GroupConfig,
    MemberConfig,
    OutboundSettings,
    Settings,
    TicketSettings,
)
from maild.store.db import Store
from maild.store.models import Agent, Outbox, Ticket
from maild.values import OutboxState, RelaySecurity
from tests.support import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    """Accepts every mail. `faults` are answered first, one per DATA: an SMTP reply string,
    or "drop" to close the connection after the data without answering."""

    received: list[Received] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When `hold` is given, the first DATA sets `holding` and waits for `hold` (a relay that
    # hangs mid-delivery), then keeps nothing.
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold is not None and not self.holding.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait)
            return "451 4.3.0 the client went away"
        with self.lock:
            fault = self.faults.pop(0) if self.faults else ""
        if fault == "drop":
            server.transport.close()
            return "421 dropped"  # never reaches the client: the connection is gone
        if fault:
            return fault
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), envelope.content, time.monotonic()
                )
            )
        return "250 OK"


class Sink:
    def __init__(self, handler: SinkHandler | None = None, **options: Any) -> None:
        self.handler = handler or SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def relay(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture
def sink() -> Iterator[Sink]:
    running = Sink()
    running.controller.start()
    yield running
    running.controller.stop()


def desk_settings(db_url: str, relay: str = "", **outbound: Any) -> Settings:
    """Department Support (support@example.com, brand Example, shipped autoresponder), group
    Tier 1 with alice and bob."""
    return Settings(
        database=dataclasses.replace(Settings().database, url=db_url),
        outbound=OutboundSettings(
            **{
                "relay": relay,
                "relay_security": RelaySecurity.NONE,
                "domain": "example.com",
                "from_address": "support@example.com",
                "retry_base_ms": 1,
                "retry_cap_ms": 5,
                **outbound,
            }
        ),
        tickets=TicketSettings(default_department="Support"),
        brands=(BrandConfig("Example", "Example Support", "-- \nThe {{ brand.name }} team"),),
        departments=(
            DepartmentConfig(
                "Support", ("support@example.com",), brand="Example", autoresponder=True
            ),
        ),
        groups=(GroupConfig("Tier 1", "Support", (MemberConfig("alice"), MemberConfig("bob"))),),
        agents=(
            AgentConfig("alice", email="alice@example.com", display_name="Alice Example"),
            AgentConfig("bob", email="bob@example.com"),
        ),
    )


@dataclass
class Desk:
    store: Store
    settings: Settings

    @property
    def ctx(self) -> OutboundContext:
        return build_outbound_context(self.settings)

    def ingest(self, raw: bytes, source: str = "test") -> Any:
        from maild.ingest.sources import SourceMessage

        (result,) = build_pipeline(self.settings, self.store).ingest([SourceMessage(source, raw)])
        return result

    def worker(self) -> DeliveryWorker:
        outbound = self.settings.outbound
        transport = build_transport(outbound)
        return DeliveryWorker(self.store, outbound, RoundRobin(), transport, build_signer(outbound))

    def deliver(self, rounds: int = 50) -> None:
        """Run the delivery worker until nothing is queued (retries included)."""

        async def drain() -> None:
            worker = self.worker()
            try:
                for _ in range(rounds):
                    await worker.run_once()
                    if not self.queued():
                        return
                    await asyncio.sleep(0.01)
            finally:
                await worker.transport.close()

        asyncio.run(drain())

    def queued(self) -> int:
        with self.store.sessions() as session:
            query = sa.select(sa.func.count()).where(Outbox.state == OutboxState.QUEUED)
            return int(session.scalar(query) or 0)

    def outbox(self) -> list[Outbox]:
        with self.store.sessions() as session:
            return list(session.scalars(sa.select(Outbox).order_by(Outbox.id)))

    def agent(self, session: Any, name: str = "alice") -> Agent:
        return session.scalars(sa.select(Agent).where(Agent.name == name)).one()

    def ticket(self, session: Any, number: str = "SUP-000001") -> Ticket:
        return session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()


def make_desk(store: Store, db_url: str, relay: str, **outbound: Any) -> Desk:
    settings = desk_settings(db_url, relay=relay, **outbound)
    with store.transaction() as session:
        apply_config(session, settings, datetime.now(UTC))
    return Desk(store, settings)


@pytest.fixture
def desk(store: Store, db_url: str, sink: Sink) -> Desk:
    return make_desk(store, db_url, sink.relay)


@pytest.fixture
def sqlite_desk(sqlite_template: Any, tmp_path: Any, sink: Sink) -> Iterator[Desk]:
    """The desk on SQLite only, for a mail PostgreSQL cannot store (see its test)."""
    import shutil

    shutil.copy(sqlite_template, tmp_path / "desk.db")
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    store = Store.open(url)
    yield make_desk(store, url, sink.relay)
    store.close()


@pytest.fixture
def postgres_desk(postgres_url: str, sink: Sink) -> Iterator[Desk]:
    """The desk on PostgreSQL only: several processes share one database there (DESIGN §4)."""
    from tests.conftest import truncate_all

    store = Store.open(postgres_url)
    truncate_all(store)
    yield make_desk(store, postgres_url, sink.relay)
    truncate_all(store)
    store.close()


NEW_REQUEST = b"""From: Carol Customer <carol@customer.example>
To: support@example.com, Dave <dave@customer.example>
Cc: Erin <erin@customer.example>
Subject: Printer on floor 3 is on fire
Date: Mon, 02 Mar 2026 08:55:00 +0000
Message-ID: <req-1@customer.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello support,

the printer on floor 3 shows error E42.

Carol
"""


SERVE_CONFIG = """
[database]
url = "{url}"

[smtp]
enabled = false

[api]
enabled = false

[outbound]
relay = "{relay}"
relay_security = "none"
domain = "example.com"
from_address = "support@example.com"
retry_base_ms = 10
retry_cap_ms = 50
{extra}

[tickets]
default_department = "Support"

[[brands]]
name = "Example"
from_name = "Example Support"
signature = "-- \\nThe {{{{ brand.name }}}} team"

[[departments]]
name = "Support"
addresses = ["support@example.com"]
brand = "Example"
autoresponder = true

[[groups]]
name = "Tier 1"
department = "Support"
members = [{{ agent = "alice" }}, {{ agent = "bob" }}]

[[agents]]
name = "alice"
email = "alice@example.com"
display_name = "Alice Example"

[[agents]]
name = "bob"
email = "bob@example.com"
"""


def write_serve_config(
    tmp_path: Any, url: str, relay: str, name: str = "maild", **extra: Any
) -> Any:
    """The desk of `desk_settings` as a config file (SMTP and API off)."""
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in extra.items())
    config = tmp_path / f"{name}.toml"
    config.write_text(SERVE_CONFIG.format(url=url, relay=relay, extra=lines))
    return config


def serve(tmp_path: Any, url: str, relay: str, name: str = "maild", **extra: Any) -> Any:
    """`maild serve` in a child process with its delivery worker alone (SMTP and API off), on
    the desk of `desk_settings` (so that starting it changes nothing in the database)."""
    import os
    import subprocess
    import sys

    config = write_serve_config(tmp_path, url, relay, name, **extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILD_")}
    return subprocess.Popen(
        [sys.executable, "-m", "maild.cli", "--config", str(config), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.err", "wb"),  # noqa: SIM115 - closed with the process
    )
