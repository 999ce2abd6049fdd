"""maild's SMTP and LMTP listeners (and optionally the pipeline worker) in a thread of the test
process, on a free port and a socket in a temporary directory, over a real store.

In-process rather than `maild serve` so that a test can inject a fault into the store (a commit
that fails); `tests/daemon.py` runs the real daemon for the tests that kill it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from maild.daemon import mail_listeners, pipeline_worker
from maild.ingest.worker import Doorbell
from maild.settings import Settings
from maild.store.db import Store
from maild.store.models import Inbound, Raw
from maild.values import InboundState
from tests.daemon import _accepts, free_port
from tests.support import desk_settings


class MailServer:
    def __init__(self, settings: Settings, store: Store, worker: bool) -> None:
        self.settings = settings
        self.store = store
        self.worker = worker
        self.port = int(settings.smtp.listen.rpartition(":")[2])
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        doorbell = Doorbell()
        tasks = [mail_listeners(self.settings, self.store, self._stop, doorbell=doorbell)]
        if self.worker:
            tasks.append(pipeline_worker(self.settings, self.store, self._stop, doorbell=doorbell))
        self._ready.set()
        await asyncio.gather(*tasks)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        while self._error is None and not (_accepts(self.port) and self._lmtp_accepts()):
            threading.Event().wait(0.02)
        if self._error is not None:
            raise self._error

    def _lmtp_accepts(self) -> bool:
        if not self.settings.lmtp.socket:
            return True
        with socket.socket(socket.AF_UNIX) as probe:
            return probe.connect_ex(self.settings.lmtp.socket) == 0

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the listeners did not stop"
        if self._error is not None:
            raise self._error

    def smtp(self, timeout: float = 30.0) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)

    def lmtp(self) -> smtplib.LMTP:
        return smtplib.LMTP(self.settings.lmtp.socket)

    def spooled(self) -> list[bytes]:
        """The raw bytes of every spool row, in order."""
        with self.store.sessions() as session:
            query = sa.select(Raw.data).join(Inbound, Inbound.raw_id == Raw.id)
            return list(session.scalars(query.order_by(Inbound.id)))

    def rows(self) -> list[Inbound]:
        with self.store.sessions() as session:
            return list(session.scalars(sa.select(Inbound).order_by(Inbound.id)))

    def wait_processed(self, count: int, timeout: float = 60.0) -> list[Inbound]:
        """The spool rows once `count` of them are processed (done or held)."""
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            rows = self.rows()
            if sum(r.state is not InboundState.RECEIVED for r in rows) >= count:
                return rows
            deadline.wait(0.05)
        raise AssertionError(f"{count} mails were not processed in {timeout} s")


def server_settings(db_url: str, directory: Path, **smtp: Any) -> Settings:
    """The test desk (support@example.com) with SMTP on a free port, LMTP in `directory`."""
    settings = desk_settings(db_url)
    listen = f"127.0.0.1:{free_port()}"
    return dataclasses.replace(
        settings,
        smtp=dataclasses.replace(settings.smtp, listen=listen, **smtp),
        lmtp=dataclasses.replace(settings.lmtp, socket=str(directory / "lmtp.sock")),
    )


@contextmanager
def running(settings: Settings, store: Store, worker: bool = False) -> Iterator[MailServer]:
    from datetime import UTC, datetime

    from maild.provision import apply_config

    with store.transaction() as session:
        apply_config(session, settings, datetime.now(UTC))
    server = MailServer(settings, store, worker)
    server.start()
    try:
        yield server
    finally:
        server.stop()
