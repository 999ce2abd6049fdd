"""Run by test_kill in a child process: the IMAP pollers of CONFIG, as `maild serve` runs
them, stopping dead at POINT and saying so on stdout, so that the test kills the process (with
SIGKILL) exactly there:

  before-commit  the message is fetched and written in the spool's transaction, not committed
  before-settle  the message is committed to the spool, not yet settled on the server
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

from maild.config import load_settings
from maild.ingest.imap import poller
from maild.ingest.spool import Spooled
from maild.store.db import Store

_real_spool = poller.spool


def _spool_then_stop_dead(*args: Any, **kwargs: Any) -> Spooled:
    _real_spool(*args, **kwargs)
    print("paused before-commit", flush=True)
    threading.Event().wait()  # the transaction stays open until the process is killed
    raise AssertionError("not reached")


async def _stop_dead_after_commit(spooled: Spooled) -> None:
    print("paused before-settle", flush=True)
    await asyncio.Event().wait()


def main(config: str, point: str) -> None:
    settings = load_settings(config)
    store = Store.open(settings.database.url)
    hook = poller.nothing_after_commit
    if point == "before-commit":
        poller.spool = _spool_then_stop_dead  # type: ignore[assignment]
    elif point == "before-settle":
        hook = _stop_dead_after_commit
    else:
        raise SystemExit(f"unknown point {point!r}")
    asyncio.run(poller.poll_imap(settings, store, asyncio.Event(), after_commit=hook))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
