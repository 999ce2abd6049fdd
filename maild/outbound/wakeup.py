"""Waking the delivery worker the moment an outbox row is committed (no polling delay within
one process): a session hook notes that a flush wrote an `Outbox` row, and when that
transaction commits it sets an asyncio event, from whatever thread committed it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from maild.store.models import Outbox

_KEY = "maild.outbox_written"


class OutboxSignal:
    """Sets `wake` (an event of `loop`) after each commit that inserted outbox rows."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self.loop = loop
        self.wake = wake

    def attach(self, factories: tuple[sessionmaker[Session], ...]) -> None:
        for sessions in factories:
            event.listen(sessions, "after_flush", self._flushed)
            event.listen(sessions, "after_commit", self._committed)
            event.listen(sessions, "after_rollback", self._rolled_back)

    def detach(self, factories: tuple[sessionmaker[Session], ...]) -> None:
        for sessions in factories:
            event.remove(sessions, "after_flush", self._flushed)
            event.remove(sessions, "after_commit", self._committed)
            event.remove(sessions, "after_rollback", self._rolled_back)

    def _flushed(self, session: Session, _context: Any) -> None:
        # after_flush still shows the objects the flush inserted as `new`.
        if any(isinstance(item, Outbox) for item in session.new):
            session.info[_KEY] = True

    def _committed(self, session: Session) -> None:
        if session.info.pop(_KEY, False):
            # A closed loop means the worker has stopped: nobody is left to wake.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.wake.set)

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(_KEY, None)
