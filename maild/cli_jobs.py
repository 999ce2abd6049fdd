"""`maild jobs list` and `maild jobs run [NAME]`: the scheduler's jobs from the command line
(for cron users, for operators checking what ran, and for tests)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from maild.runtime import build_job_context, opened_store
from maild.scheduler import JOBS, JobOutcome, find_job, last_runs, run_job
from maild.settings import Settings
from maild.store.models import JobRun


def register(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="list the periodic jobs or run them now")
    sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="each job, its interval, last run and last result")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_jobs_list)
    run = sub.add_parser("run", help="run every job (or NAME) once, now")
    run.add_argument("name", nargs="?", metavar="NAME", help=", ".join(j.name for j in JOBS))
    run.add_argument("--json", action="store_true", help="one JSON object per line")
    run.add_argument(
        "--now",
        metavar="TIME",
        type=_utc_time,
        help="run as if it were TIME (ISO 8601, UTC if no offset), e.g. to try a change",
    )
    run.set_defaults(handler=cmd_jobs_run)


def _utc_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.sessions() as session:
        runs = last_runs(session)
    if not args.json:
        print(_TABLE.format("JOB", "EVERY", "LAST RUN", "OK", "RESULT"))
    for job in JOBS:
        row = _listed(job.name, job.description, settings.scheduler.interval(job.name), runs)
        print(json.dumps(row) if args.json else _line(row))
    return 0


_TABLE = "{:<12} {:>7}  {:<19}  {:<4} {}"


def _listed(name: str, description: str, seconds: int, runs: dict[str, JobRun]) -> dict[str, Any]:
    run = runs.get(name)
    return {
        "name": name,
        "description": description,
        "interval_seconds": seconds,
        "last_run": run.started_at.isoformat() if run else None,
        "ok": run.ok if run else None,
        "result": run.result if run else "",
        "runs": run.runs if run else 0,
        "failures": run.failures if run else 0,
    }


def _line(row: dict[str, Any]) -> str:
    ok = {None: "-", True: "yes", False: "NO"}[row["ok"]]
    last = (row["last_run"] or "never")[:19].replace("T", " ")
    return _TABLE.format(row["name"], f"{row['interval_seconds']}s", last, ok, row["result"])


def cmd_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit code 1 when a job failed (after running the others), so cron reports it."""
    chosen = [find_job(args.name)] if args.name else list(JOBS)
    at: datetime | None = args.now

    def clock() -> datetime:
        return at if at is not None else datetime.now(UTC)

    with opened_store(settings) as store:
        ctx = build_job_context(settings, store)
        outcomes = [run_job(job, ctx, clock) for job in chosen]
    for outcome in outcomes:
        print(json.dumps(_ran(outcome)) if args.json else _ran_line(outcome))
    return 0 if all(o.ok for o in outcomes) else 1


def _ran(outcome: JobOutcome) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "ok": outcome.ok,
        "result": outcome.result,
        "started_at": outcome.started_at.isoformat(),
    }


def _ran_line(outcome: JobOutcome) -> str:
    return f"{outcome.name}: {'ok' if outcome.ok else 'FAILED'}: {outcome.result}"
