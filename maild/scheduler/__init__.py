"""The periodic jobs (DESIGN §4): follow-ups, auto-close, queue drain, rebalancing, queue
alerts, purge, raw compression.

The scheduler only decides *when*. Each job is a plain, synchronous function of a `JobContext`
and `now` that acts on rows it claims in the database (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
so any number of processes may run it and a restart loses nothing. `maild serve` runs them on
an APScheduler (`service.run_scheduler`); `maild jobs run` and the tests call `run_job` directly
with their own clock. Calls the core, routing and the outbox; never another edge.
"""

from maild.scheduler.jobs import JOBS, Job, JobContext, find_job
from maild.scheduler.runs import JobOutcome, last_runs, run_job
from maild.scheduler.service import run_scheduler

__all__ = [
    "JOBS",
    "Job",
    "JobContext",
    "JobOutcome",
    "find_job",
    "last_runs",
    "run_job",
    "run_scheduler",
]
