"""The FastAPI application: routers under `/api/v1`, errors as JSON, `/metrics` at the root."""

from __future__ import annotations

from fastapi import FastAPI

from maild import __version__
from maild.api import (
    agents,
    audit,
    catalog,
    departments,
    groups,
    health,
    ticket_actions,
    ticket_mail,
    tickets,
)
from maild.api.context import ApiContext
from maild.api.errors import install as install_errors
from maild.liveness import ServiceBoard
from maild.outbound import OutboundContext
from maild.settings import Settings
from maild.store.db import Store
from maild.tickets.ports import Distributor

PREFIX = "/api/v1"
_ROUTERS = (
    health.router,
    tickets.router,
    ticket_actions.router,
    ticket_mail.router,
    agents.router,
    groups.router,
    departments.router,
    catalog.router,
    audit.router,
)


def create_app(
    settings: Settings, store: Store, distributor: Distributor, board: ServiceBoard | None = None
) -> FastAPI:
    """The API over `store`; `board` tells which services of `maild serve` run."""
    board = board or ServiceBoard()
    app = FastAPI(
        title="maild",
        version=__version__,
        description="Management API of maild: tickets, agents and the organisation.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.ctx = ApiContext(
        settings=settings,
        store=store,
        distributor=distributor,
        board=board,
        outbound=OutboundContext.of(settings, distributor),
    )
    install_errors(app)
    for router in _ROUTERS:
        app.include_router(router, prefix=PREFIX)
    health.install_metrics(app, store, board, PREFIX)
    return app
