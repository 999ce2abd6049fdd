"""What every endpoint works with: the store, the settings, distribution, the service board,
and the caller. Endpoints are plain `def`s: FastAPI runs them in its thread pool, so the
synchronous database work never blocks the event loop the mail listeners share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.orm import Session

from maild.liveness import ServiceBoard
from maild.outbound import OutboundContext
from maild.settings import Settings
from maild.store.db import Store
from maild.tickets.access import Viewer
from maild.tickets.actors import Actor
from maild.tickets.ports import Distributor
from maild.values import Role


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    store: Store
    distributor: Distributor
    board: ServiceBoard
    outbound: OutboundContext  # replies, drafts, forwards, resends, new tickets

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work, committed when the block ends."""
        with self.store.transaction() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.store.sessions() as session:
            yield session

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Caller:
    """The agent behind the bearer token."""

    agent_id: int
    name: str
    role: Role

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.agent_id, self.role)

    @property
    def actor(self) -> Actor:
        return Actor(name=self.name, agent_id=self.agent_id)


async def context(request: Request) -> ApiContext:
    # async: a plain `def` dependency is run in the thread pool, a hop per request for a lookup.
    ctx: ApiContext = request.app.state.ctx
    return ctx
