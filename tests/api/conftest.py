"""The API on a real database (both backends), driven through an HTTP client.

The organisation: brand Acme; department Support (support@acme.test) with groups Tier 1
(alice; mia, pull from queue) and Tier 2 (carl); department Sales (sales@acme.test) with group
Desk (bob). alice, bob and carl are agents, mia a manager, root an admin. Nobody is logged in,
so new tickets wait in their group's queue until a test logs someone in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from maild.api.app import create_app
from maild.ingest.spool import Envelope
from maild.provision import apply_config, create_api_token
from maild.routing import RoundRobin
from maild.runtime import build_pipeline
from maild.settings import (
    AgentConfig,
    BrandConfig,
    DepartmentConfig,
    GroupConfig,
    MemberConfig,
    Settings,
    TicketSettings,
)
from maild.store.db import Store
from maild.values import Mode, Role

PREFIX = "/api/v1"
PEOPLE = ("alice", "bob", "carl", "mia", "root")


def desk_settings(url: str = "sqlite://") -> Settings:
    from maild.settings import DatabaseSettings

    return Settings(
        database=DatabaseSettings(url=url),
        tickets=TicketSettings(default_department="Support"),
        brands=(BrandConfig("Acme", from_name="Acme Support"),),
        departments=(
            DepartmentConfig("Support", ("support@acme.test",)),
            DepartmentConfig("Sales", ("sales@acme.test",)),
        ),
        groups=(
            GroupConfig(
                "Tier 1",
                "Support",
                members=(MemberConfig("alice"), MemberConfig("mia", Mode.NOT_INCLUDED)),
            ),
            GroupConfig("Tier 2", "Support", members=(MemberConfig("carl"),)),
            GroupConfig("Desk", "Sales", members=(MemberConfig("bob"),)),
        ),
        agents=(
            AgentConfig("alice", email="alice@acme.test"),
            AgentConfig("bob", email="bob@acme.test"),
            AgentConfig("carl", email="carl@acme.test"),
            AgentConfig("mia", email="mia@acme.test", role=Role.MANAGER),
            AgentConfig("root", email="root@acme.test", role=Role.ADMIN),
        ),
    )


def mail(
    subject: str = "Printer on fire",
    *,
    to: str = "support@acme.test",
    sender: str = "carol@example.com",
    html: str = "",
    attachment: tuple[str, str, bytes] | None = None,
    message_id: str = "",
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = message_id or f"<{abs(hash((subject, to, sender, html)))}@example.com>"
    msg.set_content(f"{subject}: please help.")
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        name, content_type, data = attachment
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@dataclass
class Api:
    client: TestClient
    store: Store
    settings: Settings
    tokens: dict[str, str]

    def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.request(method, PREFIX + path, headers=headers, **kw)

    def get(self, who: str, path: str, **kw: Any) -> httpx.Response:
        return self.call(who, "GET", path, **kw)

    def post(self, who: str, path: str, **kw: Any) -> httpx.Response:
        return self.call(who, "POST", path, **kw)

    def ok(self, who: str, method: str, path: str, **kw: Any) -> Any:
        """The JSON of a request that must succeed."""
        response = self.call(who, method, path, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def receive(self, raw: bytes, rcpt: str = "support@acme.test") -> str:
        """Deliver `raw` through the mail pipeline; returns the ticket number."""
        pipeline = build_pipeline(self.settings, self.store)
        spooled = pipeline.receive(raw, "smtp", Envelope("carol@example.com", (rcpt,)))
        (result,) = pipeline.process([spooled.inbound_id])
        assert result.ticket, result
        return result.ticket


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    settings = desk_settings(str(store.engine.url))
    with store.transaction() as session:
        apply_config(session, settings, datetime.now(UTC))
        tokens = {name: create_api_token(session, name, datetime.now(UTC)) for name in PEOPLE}
    client = TestClient(create_app(settings, store, RoundRobin()))
    yield Api(client, store, settings, tokens)
    client.close()
