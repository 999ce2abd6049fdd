"""The scheduler as `maild serve` runs it (APScheduler), `maild jobs list|run`, and health."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maild.api.app import create_app
from maild.cli import main
from maild.liveness import ServiceBoard
from maild.routing import RoundRobin
from maild.scheduler import JOBS, run_scheduler
from maild.store.db import Store
from maild.values import Status
from tests.api.conftest import desk_settings
from tests.scheduler.conftest import actions, job_context, ticket
from tests.scheduler.test_jobs import HOUR, _with_followup


class Board(ServiceBoard):
    """A board that says when every job has finished once."""

    def __init__(self) -> None:
        super().__init__()
        self.all_ran = asyncio.Event()

    def job_finished(
        self, name: str, ok: bool, detail: str = "", at: datetime | None = None
    ) -> None:
        super().job_finished(name, ok, detail, at)
        if len(self.jobs()) == len(JOBS):
            self.all_ran.set()


def test_followup_that_fell_due_while_maild_was_stopped_fires_on_the_first_run(
    store: Store, now: datetime
) -> None:
    org, number = _with_followup(store, now)  # due at 10:00; maild starts again at 11:00

    async def start_then_stop() -> Board:
        board, stop = Board(), asyncio.Event()
        running = asyncio.create_task(
            run_scheduler(job_context(store), stop, board, clock=lambda: now + 2 * HOUR)
        )
        await asyncio.wait_for(board.all_ran.wait(), timeout=120)
        stop.set()
        await running
        return board

    board = asyncio.run(start_then_stop())
    fired = ticket(store, number)
    assert (fired.status, fired.agent_id) == (Status.ACTIVE, org.alice_id)
    assert actions(store, number).count("followup_due") == 1
    jobs = {job.name: job for job in board.jobs()}
    assert jobs["followups"].last_detail == "1 follow-up(s) fired"
    assert all(job.runs == 1 and job.last_ok for job in jobs.values())


def test_health_shows_each_jobs_last_run_without_failing_on_one(
    store: Store, now: datetime
) -> None:
    board = ServiceBoard()
    board.job_finished("followups", True, "3 follow-up(s) fired", now)
    board.job_finished("purge", False, "OperationalError: disk full", now)
    client = TestClient(create_app(desk_settings(), store, RoundRobin(), board))
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["jobs"] == [
        {
            "name": "followups",
            "runs": 1,
            "failures": 0,
            "last_ok": True,
            "last_detail": "3 follow-up(s) fired",
            "last_finished_at": now.isoformat().replace("+00:00", "Z"),
        },
        {
            "name": "purge",
            "runs": 1,
            "failures": 1,
            "last_ok": False,
            "last_detail": "OperationalError: disk full",
            "last_finished_at": now.isoformat().replace("+00:00", "Z"),
        },
    ]


def test_jobs_run_and_list_from_the_command_line(
    store: Store,
    db_url: str,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, number = _with_followup(store, now)
    monkeypatch.chdir(tmp_path)  # no maild.toml here: defaults and the environment
    monkeypatch.setenv("MAILD_DATABASE_URL", db_url)
    at = (now + 2 * HOUR).isoformat()
    assert main(["jobs", "run", "followups", "--now", at]) == 0
    assert capsys.readouterr().out == "followups: ok: 1 follow-up(s) fired\n"
    assert ticket(store, number).status is Status.ACTIVE
    assert main(["jobs", "list", "--json"]) == 0
    listed = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert list(listed) == [job.name for job in JOBS]
    assert listed["followups"]["last_run"] == (now + 2 * HOUR).isoformat()
    assert (listed["followups"]["ok"], listed["followups"]["interval_seconds"]) == (True, 60)
    assert listed["purge"]["last_run"] is None
    assert main(["jobs", "run", "nightly"]) == 2
    assert "no job named 'nightly'" in capsys.readouterr().err
    assert main(["jobs", "run", "--now", (now + 3 * HOUR).isoformat()]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(JOBS)
