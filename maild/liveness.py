"""Which parts of `maild serve` are running, and how the periodic jobs went: the daemon writes
here, the health and metrics endpoints read. One board per process; the states are this
process's own (counts that must agree across processes are read from the database instead)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: State
    detail: str = ""


@dataclass(frozen=True)
class JobState:
    """How a periodic job went in this process: its runs, failures and last run."""

    name: str
    runs: int
    failures: int
    last_ok: bool
    last_detail: str
    last_finished_at: datetime | None


class ServiceBoard:
    """Written from the event loop, read from the API's worker threads: guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, ServiceState] = {}
        self._jobs: Counter[tuple[str, str]] = Counter()
        self._last_jobs: dict[str, tuple[bool, str, datetime | None]] = {}

    def set(self, name: str, state: State, detail: str = "") -> None:
        with self._lock:
            self._services[name] = ServiceState(name, state, detail)

    def services(self) -> list[ServiceState]:
        with self._lock:
            return sorted(self._services.values(), key=lambda s: s.name)

    def job_finished(
        self, name: str, ok: bool, detail: str = "", at: datetime | None = None
    ) -> None:
        """The scheduler reports each run of a job here (for `maild_job_runs_total` and the
        health endpoint): whether it worked, and what it did or why it failed."""
        with self._lock:
            self._jobs[(name, "ok" if ok else "failed")] += 1
            self._last_jobs[name] = (ok, detail, at)

    def jobs(self) -> list[JobState]:
        with self._lock:
            return [
                JobState(
                    name,
                    self._jobs[(name, "ok")] + self._jobs[(name, "failed")],
                    self._jobs[(name, "failed")],
                    ok,
                    detail,
                    at,
                )
                for name, (ok, detail, at) in sorted(self._last_jobs.items())
            ]

    def job_runs(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._jobs)
