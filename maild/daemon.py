"""The daemon's composition: which services `maild serve` runs, and running them together.

A service is one part of the daemon (the SMTP listener, the IMAP pollers, the pipeline worker,
the delivery worker, the scheduler, the HTTP API): a coroutine that runs until `stop` is set and
then finishes its in-flight work. This module sits above every edge and below the CLI; the edges
never import it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

from maild.ingest.imap import AfterCommit, poll_imap
from maild.ingest.intake import Intake
from maild.ingest.listener import MailServices, run_listeners
from maild.ingest.pipeline import BATCH_MESSAGES, Pipeline
from maild.ingest.smtp import Recipients
from maild.ingest.spool import Spooled
from maild.ingest.worker import Doorbell, run_worker
from maild.liveness import ServiceBoard, State
from maild.outbound.delivery import run_delivery
from maild.runtime import build_distributor, build_job_context, build_pipeline
from maild.scheduler import run_scheduler
from maild.settings import Settings
from maild.store.db import Store
from maild.values import InboundState

# A part of the daemon: runs until `stop` is set, then finishes what it has in hand.
Service = Callable[[Settings, Store, asyncio.Event], Coroutine[Any, Any, None]]
SHUTDOWN_GRACE_SECONDS = 10.0
log = logging.getLogger("maild.daemon")


def services(settings: Settings, board: ServiceBoard) -> list[Service]:
    """The parts `maild serve` runs, as the settings enable them. `board` is where they show
    whether they run (the API's health endpoint reads it).

    Mail sources (the listeners here, the IMAP pollers) hand mail to the pipeline worker by
    committing it to the spool and ringing `doorbell` (see `maild.ingest.worker`)."""
    doorbell = Doorbell()
    running: list[Service] = [partial(pipeline_worker, doorbell=doorbell)]
    if settings.smtp.enabled or settings.lmtp.socket:
        running.append(partial(mail_listeners, doorbell=doorbell))
    if settings.imap:
        running.append(partial(imap_pollers, doorbell=doorbell))
    if settings.outbound.enabled:
        running.append(delivery_service)
    if settings.api.enabled:
        # Imported only when enabled: FastAPI and the API's models are a third of the
        # daemon's memory (measured: 113 -> 83 MB of RSS after import).
        from maild.api.server import api_service

        running.append(api_service(build_distributor(settings), board))
    if settings.scheduler.enabled:
        running.append(partial(scheduler, board=board))
    return running


async def scheduler(
    settings: Settings, store: Store, stop: asyncio.Event, *, board: ServiceBoard
) -> None:
    """The periodic jobs (maild.scheduler); each run's end goes to `board`."""
    await run_scheduler(build_job_context(settings, store), stop, board)


async def delivery_service(settings: Settings, store: Store, stop: asyncio.Event) -> None:
    """Drain the outbox to the relay or to `.eml` files (maild.outbound.delivery)."""
    await run_delivery(store, settings.outbound, build_distributor(settings), stop)


async def pipeline_worker(
    settings: Settings, store: Store, stop: asyncio.Event, *, doorbell: Doorbell
) -> None:
    pipeline = build_pipeline(settings, store)
    await run_worker(pipeline, doorbell, settings.ingest.poll_seconds, stop)


async def mail_listeners(
    settings: Settings, store: Store, stop: asyncio.Event, *, doorbell: Doorbell
) -> None:
    """SMTP and LMTP, sharing one spool intake (and so its group commits)."""
    shared = MailServices(
        intake=Intake(build_pipeline(settings, store), on_spooled=doorbell.ring),
        recipients=Recipients(store, settings.outbound.domain),
    )
    await run_listeners(settings, shared, stop, SHUTDOWN_GRACE_SECONDS)


async def imap_pollers(
    settings: Settings, store: Store, stop: asyncio.Event, *, doorbell: Doorbell | None = None
) -> None:
    """The `[[imap]]` pollers. In `maild serve` each spool commit rings the pipeline worker's
    `doorbell`. Run on their own (no doorbell, as the IMAP tests do), they process each mail
    right after its commit, and what a crash left spooled at start."""
    if doorbell is not None:
        ring = doorbell.ring

        async def wake_worker(spooled: Spooled) -> None:
            ring()

        await poll_imap(settings, store, stop, after_commit=wake_worker)
        return
    pipeline = build_pipeline(settings, store)
    await asyncio.to_thread(_process_left_over, pipeline)
    await poll_imap(settings, store, stop, after_commit=process_after_commit(pipeline))


def process_after_commit(pipeline: Pipeline) -> AfterCommit:
    """A hook that processes a spooled mail at once (a stand-in for the pipeline worker)."""

    async def process(spooled: Spooled) -> None:
        if spooled.state is InboundState.RECEIVED:  # not yet processed (new, or left by a crash)
            for result in await asyncio.to_thread(pipeline.process, [spooled.inbound_id]):
                log.info(
                    "mail %s %s: %s %s",
                    spooled.inbound_id,
                    result.source,
                    result.outcome.value,
                    result.ticket or "-",
                )

    return process


def _process_left_over(pipeline: Pipeline) -> None:
    pending = pipeline.pending()
    for start in range(0, len(pending), BATCH_MESSAGES):
        pipeline.process(pending[start : start + BATCH_MESSAGES])


async def run_services(
    running: Sequence[Service],
    settings: Settings,
    store: Store,
    board: ServiceBoard | None = None,
) -> None:
    """Run `running` until SIGTERM/SIGINT or until one of them ends (which stops the others);
    re-raise the first error a service ended with. Each service's state goes to `board`."""
    board = board or ServiceBoard()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        tasks = [
            asyncio.create_task(_watched(service, board, settings, store, stop))
            for service in running
        ]
        print("maild: serving; stop with SIGTERM or Ctrl-C", file=sys.stderr, flush=True)
        await _until_stopped(stop, tasks)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _watched(
    service: Service, board: ServiceBoard, settings: Settings, store: Store, stop: asyncio.Event
) -> None:
    """Run one service, keeping its line on the board true."""
    name = _name(service)
    board.set(name, State.RUNNING)
    try:
        await service(settings, store, stop)
    except BaseException as exc:
        board.set(name, State.FAILED, str(exc) or type(exc).__name__)
        raise
    board.set(name, State.STOPPED)


def _name(service: Service) -> str:
    """A service's name for the board: its function's, also through `functools.partial`."""
    target = getattr(service, "func", service)
    return str(getattr(target, "__name__", "service"))


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()  # a service that ended on its own stops the daemon
    waiter.cancel()
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
