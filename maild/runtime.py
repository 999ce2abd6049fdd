"""App assembly: turning settings into the objects the edges use (store, distributor, the
mail pipeline). The CLI, `maild serve` and the benchmarks build their parts here, once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from maild.errors import StorageError
from maild.ingest.apply import ApplyContext
from maild.ingest.pipeline import Pipeline
from maild.outbound.replies import OutboundContext
from maild.outbound.templates import department_overrides
from maild.provision import apply_config
from maild.routing import RoundRobin
from maild.scheduler import JobContext
from maild.settings import Settings
from maild.store.db import Store, upgrade_schema
from maild.tickets.ports import Distributor


def open_store(settings: Settings, initialise: bool = False) -> Store:
    """The configured database; with `initialise`, its schema upgraded and the config's
    departments, groups and agents applied (what `maild init` does)."""
    store = Store.open(settings.database.url)
    if initialise:
        upgrade_schema(store)
        with store.transaction() as session:
            apply_config(session, settings, datetime.now(UTC))
    return store


def safe_url(settings: Settings) -> str:
    """The database URL without its password, for messages."""
    return make_url(settings.database.url).render_as_string(hide_password=True)


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The database for a command, with driver errors turned into a one-line `StorageError`."""
    try:
        store = Store.open(settings.database.url)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise StorageError(f"cannot open database {safe_url(settings)}: {exc}") from exc
    try:
        yield store
    except sa.exc.DBAPIError as exc:
        raise StorageError(
            f"database {safe_url(settings)}: {exc.orig}"
            " (is it running, and has `maild init` created the schema?)"
        ) from exc
    finally:
        store.close()


def build_distributor(settings: Settings) -> Distributor:
    return RoundRobin()


def build_apply_context(settings: Settings) -> ApplyContext:
    return ApplyContext(
        tickets=settings.tickets,
        outbound=settings.outbound,
        autoresponder=settings.autoresponder,
        limits=settings.ingest,
        distributor=build_distributor(settings),
        default_department=settings.tickets.default_department,
        auth=settings.auth,
    )


def build_pipeline(settings: Settings, store: Store) -> Pipeline:
    return Pipeline(store, build_apply_context(settings))


def build_outbound_context(settings: Settings) -> OutboundContext:
    """What replies, forwards, resends and agent-created tickets need (maild.outbound)."""
    return OutboundContext.of(settings, build_distributor(settings))


def build_job_context(settings: Settings, store: Store) -> JobContext:
    """What the scheduler's jobs need (`maild serve` and `maild jobs run`)."""
    return JobContext(
        store=store,
        settings=settings,
        distributor=build_distributor(settings),
        templates=department_overrides(settings.departments),
    )
