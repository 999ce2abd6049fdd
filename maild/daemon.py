"""The daemon's composition: which services `maild serve` runs, and running them together.

A service is one part of the daemon (the SMTP listener, the IMAP pollers, the pipeline worker,
the delivery worker, the scheduler, the HTTP API): a coroutine that runs until `stop` is set and
then finishes its in-flight work. This module sits above every edge and below the CLI; the edges
never import it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from maild.settings import Settings
from maild.store.db import Store

# A part of the daemon: runs until `stop` is set, then finishes what it has in hand.
Service = Callable[[Settings, Store, asyncio.Event], Coroutine[Any, Any, None]]
SHUTDOWN_GRACE_SECONDS = 10.0


def services(settings: Settings) -> list[Service]:
    """The parts `maild serve` runs, as the settings enable them."""
    return []


async def run_services(running: Sequence[Service], settings: Settings, store: Store) -> None:
    """Run `running` until SIGTERM/SIGINT or until one of them ends (which stops the others);
    re-raise the first error a service ended with."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        tasks = [asyncio.create_task(service(settings, store, stop)) for service in running]
        print("maild: serving; stop with SIGTERM or Ctrl-C", file=sys.stderr, flush=True)
        await _until_stopped(stop, tasks)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


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
