"""schemathesis against the OpenAPI document: every operation, bounded examples, as an admin,
on both backends. No answer may be a 500 or break the documented schema."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from maild.api.app import create_app
from maild.outbound import OutboundContext, ReplyRequest, send_reply
from maild.provision import apply_config, create_api_token
from maild.routing import RoundRobin
from maild.runtime import build_pipeline
from maild.store.db import Store, upgrade_schema
from maild.store.models import Agent
from maild.tickets.lookup import get_ticket
from tests.api.conftest import desk_settings, mail
from tests.conftest import _fresh_postgres_database

# The document does not depend on the database: it is loaded once, from an unopened store.
# Requests carry the admin's token (not generated); unknown extra query parameters are ignored
# by design, as most HTTP APIs do, so they are not generated either.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"allow-extra-parameters": False, "with-security-parameters": False},
        "phases": {"coverage": {"enabled": False}},
    }
)
# The document does not depend on the database: it is generated once, in-process (fetching it
# through the ASGI client has a 10 s read timeout a busy machine can exceed).
DOCUMENT = create_app(desk_settings(), Store.open("sqlite://"), RoundRobin()).openapi()
EXAMPLES = 8  # per operation and backend: the whole run stays within a minute or two


@dataclass
class Target:
    app: FastAPI
    headers: dict[str, str]


def _target(url: str) -> Target:
    store = Store.open(url)
    upgrade_schema(store)
    config = desk_settings(url)
    with store.transaction() as session:
        apply_config(session, config, datetime.now(UTC))
        token = create_api_token(session, "root", datetime.now(UTC))
    pipeline = build_pipeline(config, store)
    # SUP-000001..3 (messages 1..3; attachment 1 on the first), so operations on tickets find some
    for n in range(3):
        raw = mail(f"Fuzz {n}", attachment=("a.png", "image/png", b"\x89PNG") if n == 0 else None)
        pipeline.process([pipeline.receive(raw, "smtp", _envelope()).inbound_id])
    with store.transaction() as session:  # message 4: an outgoing one, to forward or resend
        ticket, root = get_ticket(session, "SUP-000001"), session.get(Agent, 5)
        assert root is not None and root.name == "root"
        outbound = OutboundContext.of(config, RoundRobin())
        now = datetime.now(UTC)
        send_reply(session, ticket, ReplyRequest(body="Hi"), agent=root, ctx=outbound, now=now)
    return Target(create_app(config, store, RoundRobin()), {"Authorization": f"Bearer {token}"})


def _envelope() -> Any:
    from maild.ingest.spool import Envelope

    return Envelope("carol@example.com", ("support@acme.test",))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    if request.param == "sqlite":
        # In memory-backed storage when there is some: durability is not what is tested here,
        # and a thousand fsyncs would dominate the run.
        shm = Path("/dev/shm")
        folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("f")
        yield _target(f"sqlite:///{folder / 'maild.db'}")
        shutil.rmtree(folder, ignore_errors=True)
        return
    databases = _fresh_postgres_database()
    url = next(databases)
    yield _target(url)
    databases.close()


SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
# (ticket, one of its messages): message 4 is SUP-000001's outgoing reply; attachment 1 is
# SUP-000001's too.
EXISTING = (("SUP-000001", 4), ("SUP-000001", 1), ("SUP-000002", 2), ("SUP-000003", 3))


@SCHEMA.hook
def flatmap_path_parameters(ctx: Any, parameters: dict[str, Any] | None) -> Any:
    """Drawn ticket numbers and message ids mostly name nothing (a 404): most examples name
    the target's tickets and messages instead, so every operation on a ticket runs through."""
    if not parameters or "number" not in parameters:
        return st.just(parameters)
    choices = [parameters]
    for number, message in EXISTING:
        chosen = {**parameters, "number": number}
        if "message_id" in parameters:
            chosen["message_id"] = message
        if "attachment_id" in parameters:
            chosen["attachment_id"] = 1
        choices.append(chosen)
    return st.sampled_from(choices)


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_no_server_error_and_every_answer_fits_the_schema(case: Any, target: Target) -> None:
    # Excluded: "positive data acceptance". A well-formed name that names nothing (a group
    # called "0") is a 422 naming the field; the document cannot list the names that exist.
    # Checks that send requests of their own (the same call without the token, ...) use the
    # schema's app: point it at this backend's.
    case.operation.schema.app = target.app
    case.call_and_validate(
        app=target.app, headers=target.headers, excluded_checks=[positive_data_acceptance]
    )
