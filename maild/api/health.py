"""`GET /api/v1/health` (database, the daemon's services, the outbox) and Prometheus `/metrics`.

Counts that live in the database (mail received by outcome, outbox states, queue lengths) are
read from it at each scrape, so every maild process sharing a database reports the same
figures; what belongs to this process (its services, its job runs, request latency) comes from
the process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maild.api.auth import Ctx
from maild.liveness import ServiceBoard, State
from maild.store.db import Store
from maild.store.models import Group, Inbound, Outbox, Ticket
from maild.tickets.states import IN_QUEUE
from maild.values import InboundState, OutboxState

router = APIRouter(tags=["health"])


class DatabaseOut(BaseModel):
    ok: bool
    error: str | None = None


class ServiceOut(BaseModel):
    name: str
    state: State
    detail: str


class OutboxOut(BaseModel):
    queued: int = Field(description="mail waiting to be delivered (the backlog)")
    failed: int = Field(description="mail that could not be delivered")
    oldest_queued_at: datetime | None


class JobOut(BaseModel):
    name: str
    runs: int = Field(description="runs in this process since it started")
    failures: int
    last_ok: bool
    last_detail: str = Field(description="what the last run did, or why it failed")
    last_finished_at: datetime | None


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded (a service failed), or unavailable (no db)")
    database: DatabaseOut
    services: list[ServiceOut]
    jobs: list[JobOut] = Field(description="the scheduler's periodic jobs in this process")
    outbox: OutboxOut | None


@router.get(
    "/health",
    summary="is maild up: database, services, outbox backlog",
    responses={503: {"model": HealthOut, "description": "not healthy"}},
)
def health(ctx: Ctx, response: Response) -> HealthOut:
    services = [
        ServiceOut(name=s.name, state=s.state, detail=s.detail) for s in ctx.board.services()
    ]
    # A failed job run is shown but does not make maild unhealthy: it runs again next time.
    jobs = [JobOut(**dataclasses.asdict(job)) for job in ctx.board.jobs()]
    try:
        outbox = _outbox(ctx.store)
    except sa.exc.SQLAlchemyError as exc:
        response.status_code = 503
        error = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
        return HealthOut(
            status="unavailable",
            database=DatabaseOut(ok=False, error=error),
            services=services,
            jobs=jobs,
            outbox=None,
        )
    failed = any(s.state is State.FAILED for s in services)
    if failed:
        response.status_code = 503
    return HealthOut(
        status="degraded" if failed else "ok",
        database=DatabaseOut(ok=True),
        services=services,
        jobs=jobs,
        outbox=outbox,
    )


def _outbox(store: Store) -> OutboxOut:
    with store.sessions() as session:
        counts = dict(
            session.execute(
                sa.select(Outbox.state, sa.func.count(Outbox.id)).group_by(Outbox.state)
            ).all()
        )
        oldest = session.scalar(
            sa.select(sa.func.min(Outbox.created_at)).where(Outbox.state == OutboxState.QUEUED)
        )
    return OutboxOut(
        queued=counts.get(OutboxState.QUEUED, 0),
        failed=counts.get(OutboxState.FAILED, 0),
        oldest_queued_at=oldest,
    )


class DatabaseCollector(Collector):
    """Figures read from the database at each scrape (shared by every process)."""

    def __init__(self, store: Store, board: ServiceBoard) -> None:
        self.store, self.board = store, board

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "maild_mails_received", "Mail accepted into the spool, by outcome", labels=["outcome"]
        )
        outbox = GaugeMetricFamily("maild_outbox", "Outgoing mail by state", labels=["state"])
        retrying = GaugeMetricFamily(
            "maild_outbox_retrying", "Queued outgoing mail that failed at least one attempt"
        )
        queues = GaugeMetricFamily(
            "maild_queue_length", "Tickets in a group's queue", labels=["group"]
        )
        with self.store.sessions() as session:
            for outcome, count in _received(session):
                received.add_metric([outcome], count)
            for state, count in _outbox_states(session):
                outbox.add_metric([state], count)
            retrying.add_metric([], _retrying(session))
            for group, count in _queues(session):
                queues.add_metric([group], count)
        yield from (received, outbox, retrying, queues, self._jobs())

    def _jobs(self) -> Metric:
        runs = CounterMetricFamily(
            "maild_job_runs", "Scheduled job runs in this process", labels=["job", "outcome"]
        )
        for (job, outcome), count in sorted(self.board.job_runs().items()):
            runs.add_metric([job, outcome], count)
        return runs


def _received(session: sa.orm.Session) -> list[tuple[str, int]]:
    # Done rows carry their outcome; held ones are "held"; the rest are still being processed.
    label = sa.case(
        (Inbound.state == InboundState.DONE, Inbound.outcome),
        (Inbound.state == InboundState.HELD, "held"),
        else_="pending",
    )
    rows = session.execute(sa.select(label, sa.func.count(Inbound.id)).group_by(label))
    return [(str(outcome or "unknown"), int(count)) for outcome, count in rows]


def _outbox_states(session: sa.orm.Session) -> list[tuple[str, int]]:
    rows = session.execute(sa.select(Outbox.state, sa.func.count(Outbox.id)).group_by(Outbox.state))
    found = {OutboxState(state).value: int(count) for state, count in rows}
    return [(state.value, found.get(state.value, 0)) for state in OutboxState]


def _retrying(session: sa.orm.Session) -> int:
    statement = sa.select(sa.func.count(Outbox.id)).where(
        Outbox.state == OutboxState.QUEUED, Outbox.attempts > 0
    )
    return int(session.execute(statement).scalar_one())


def _queues(session: sa.orm.Session) -> list[tuple[str, int]]:
    waiting = sa.func.count(Ticket.id)
    statement = (
        sa.select(Group.name, waiting)
        .outerjoin(
            Ticket,
            sa.and_(
                Ticket.group_id == Group.id,
                *IN_QUEUE,
            ),
        )
        .group_by(Group.name)
        .order_by(Group.name)
    )
    return [(name, int(count)) for name, count in session.execute(statement)]


class _Latency:
    """Request latency by route template, as plain ASGI: Starlette's `@app.middleware("http")`
    runs each request through a task group and memory streams, a cost on every request."""

    def __init__(self, app: ASGIApp, histogram: Histogram, prefix: str) -> None:
        self.app = app
        self.histogram = histogram
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            if scope.get("fastapi", {}).get("included_router") is not None:
                route = self.prefix + route  # routers under the API prefix know only their part
            self.histogram.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def install_metrics(app: FastAPI, store: Store, board: ServiceBoard, prefix: str) -> None:
    """`/metrics` on `app`, with request latency measured by a middleware (labelled by route
    template, so ticket numbers do not each make a time series)."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(store, board))
    latency = Histogram(
        "maild_api_request_duration_seconds",
        "API request latency",
        ["method", "route", "status"],
        registry=registry,
    )

    app.add_middleware(_Latency, histogram=latency, prefix=prefix)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
