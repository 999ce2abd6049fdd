"""Ticket views through the HTTP API on a big desk: p50 and p95 of `GET /api/v1/tickets?view=V`.

The bench fills a fresh database (bulk inserts) with TICKETS tickets of one brand, 2
departments, 20 groups and 200 agents (10 per group): 10% active (a fifth of those in their
group's queue), 20% waiting (a tenth with a follow-up), 65% closed or closed and locked, 5%
deleted; one incoming message each; the last action spread over two years; 100 recent and 20
recently transferred tickets per agent. Then it runs `maild serve` on it (API up, no SMTP, no
delivery) and asks every view REQUESTS times over HTTP (keep-alive), as an agent for the
agent's views and as an admin for the desk-wide ones. Each answer carries the page (100 rows,
sorted by idle time) and the view's total. The baseline, in the same run, is `GET
/api/v1/agents/me`: the token check and one small query, the floor of any request. Beside each
view, the database's share: the same page and count asked of the core in this process
(`list_tickets` + `count_tickets`), which is what indexes change. Target (issue 11): p95 under
50 ms per view. Last, the idle RSS of that `maild serve` (DESIGN §3: under 150 MB).

    .venv/bin/python bench/api.py [--tickets 1000000] [--requests 50]
        [--url postgresql://postgres@127.0.0.1:5432/postgres]   # default: SQLite in a temp dir
        [--keep]

With `--url`, a database named `maild_bench_<random>` is created next to the one named and
dropped at the end (kept with `--keep`: its URL is printed).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processes import free_port  # bench/processes.py, beside this file

from maild.api.ticket_models import COUNT_UP_TO  # noqa: E402
from maild.provision import create_api_token  # noqa: E402
from maild.scheduler.jobs import JOBS  # noqa: E402
from maild.store.db import Store, normalise_url, upgrade_schema  # noqa: E402
from maild.store.models import (  # noqa: E402
    Agent,
    Brand,
    Department,
    Group,
    Membership,
    Message,
    Recent,
    RecentTransfer,
    Ticket,
)
from maild.tickets.access import Viewer  # noqa: E402
from maild.tickets.views import TicketQuery, View, count_tickets, list_tickets  # noqa: E402
from maild.values import Direction, Priority, Role, Status  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
GROUPS, AGENTS = 20, 200
CHUNK = 20_000
AGENT_VIEWS = (
    "mine_active",
    "mine_waiting",
    "mine_closed",
    "follow_ups",
    "recent",
    "recently_transferred",
    "queue",
    "all",
)
ADMIN_VIEWS = ("queue", "all", "deleted")
CONFIG = """
[database]
url = "{url}"
[smtp]
enabled = false
[api]
listen = "127.0.0.1:{port}"
[outbound]
enabled = false
[log]
level = "warning"
"""


# --- the data -----------------------------------------------------------------------------


def populate(store: Store, tickets: int) -> None:
    rng = random.Random(11)
    with store.transaction() as s:
        brand = Brand(name="Bench")
        s.add(brand)
        s.flush()
        departments = [Department(brand_id=brand.id, name=f"Dept {d}") for d in range(2)]
        s.add_all(departments)
        s.flush()
        groups = [
            Group(department_id=departments[g % 2].id, name=f"Group {g}") for g in range(GROUPS)
        ]
        s.add_all(groups)
        s.flush()
        s.execute(sa.insert(Agent), [{"name": f"agent{a}"} for a in range(AGENTS)])
        s.add(Agent(name="admin", role=Role.ADMIN))
        s.flush()
        agent_ids = list(s.scalars(sa.select(Agent.id).where(Agent.role == Role.AGENT)))
        members = [(agent_ids[a], groups[a % GROUPS]) for a in range(AGENTS)]
        s.execute(sa.insert(Membership), [{"agent_id": a, "group_id": g.id} for a, g in members])
        by_group = {g.id: [a for a, mg in members if mg.id == g.id] for g in groups}
        dept_of = {g.id: g.department_id for g in groups}
    for start in range(0, tickets, CHUNK):
        rows = [
            _ticket(n, rng, brand.id, dept_of, by_group)
            for n in range(start, min(tickets, start + CHUNK))
        ]
        with store.transaction() as s:
            s.execute(sa.insert(Ticket), rows)
        print(f"\r  {min(tickets, start + CHUNK):,} tickets", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    _messages(store, tickets)
    _recent(store, rng, agent_ids, tickets)
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load; without statistics the planner guesses.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _ticket(
    n: int,
    rng: random.Random,
    brand_id: int,
    dept_of: dict[int, int],
    by_group: dict[int, list[int]],
) -> dict[str, Any]:
    group_id = rng.choice(list(by_group))
    roll = rng.random()
    status = (
        Status.ACTIVE
        if roll < 0.10
        else Status.WAITING
        if roll < 0.30
        else Status.CLOSED
        if roll < 0.70
        else Status.CLOSED_LOCKED
    )
    queued = status is Status.ACTIVE and rng.random() < 0.2
    last = NOW - timedelta(seconds=rng.randrange(2 * 365 * 86400))
    follow_up = status is Status.WAITING and rng.random() < 0.1
    return {
        "number": f"SUP-{n + 1:07d}",
        "brand_id": brand_id,
        "department_id": dept_of[group_id],
        "group_id": group_id,
        "agent_id": None if queued else rng.choice(by_group[group_id]),
        "status": status,
        "priority": rng.choice(list(Priority)),
        "subject": f"Request {n}: printer {rng.randrange(1000)} is broken",
        "requester": f"customer{rng.randrange(200_000)}@example.com",
        "created_at": last - timedelta(seconds=rng.randrange(30 * 86400)),
        "last_action_at": last,
        "response_clock_at": last,
        "queued_at": last if queued else None,
        "followup_at": NOW + timedelta(days=rng.randrange(1, 30)) if follow_up else None,
        "deleted_at": last if roll > 0.95 else None,
    }


def _messages(store: Store, tickets: int) -> None:
    with store.transaction() as s:
        ids = list(s.scalars(sa.select(Ticket.id).order_by(Ticket.id)))
    for start in range(0, len(ids), CHUNK):
        rows = [
            {
                "ticket_id": ticket_id,
                "direction": Direction.IN,
                "message_id": f"<{ticket_id}@example.com>",
                "from_addr": "customer@example.com",
                "subject": "help",
                "text": "My printer is broken. " * 10,
                "created_at": NOW,
            }
            for ticket_id in ids[start : start + CHUNK]
        ]
        with store.transaction() as s:
            s.execute(sa.insert(Message), rows)
        print(f"\r  {start + len(rows):,} messages", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def _recent(store: Store, rng: random.Random, agent_ids: list[int], tickets: int) -> None:
    with store.transaction() as s:
        for model, per_agent in ((Recent, 100), (RecentTransfer, 20)):
            rows = [
                {"agent_id": a, "ticket_id": t, "at": NOW - timedelta(minutes=i)}
                for a in agent_ids
                for i, t in enumerate(rng.sample(range(1, tickets + 1), per_agent))
            ]
            s.execute(sa.insert(model), rows)


# --- the database and the daemon ----------------------------------------------------------


@contextmanager
def database(url: str, keep: bool) -> Iterator[str]:
    """A fresh database: SQLite in a temporary directory, or a new PostgreSQL database (kept
    with `keep`, for looking at plans afterwards)."""
    if not url:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    admin = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    name = f"maild_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    made = sa.make_url(normalise_url(url)).set(database=name).render_as_string(False)
    try:
        yield made
    finally:
        if keep:
            print(f"kept: {made}")
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def serving(url: str, folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    config = folder / "maild.toml"
    config.write_text(CONFIG.format(url=url, port=port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILD_")}
    command = [sys.executable, "-m", "maild.cli", "--config", str(config), "serve"]
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/health", timeout=5)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((folder / "serve.log").read_text()) from None
                time.sleep(0.2)
        yield process, base
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def first_job_runs(base: str, token: str) -> float:
    """Seconds until every scheduler job has run once in the served process."""
    started = time.perf_counter()
    while True:
        jobs = httpx.get(f"{base}/health", headers=_auth(token), timeout=60).json()["jobs"]
        if len(jobs) == len(JOBS) and all(job["runs"] for job in jobs):
            return time.perf_counter() - started
        time.sleep(1)


def settle_statistics(store: Store, since: datetime) -> str:
    """Wait until PostgreSQL's autovacuum has analysed and vacuumed `ticket` after the
    scheduler's first runs changed tens of thousands of its rows, as it does on a running desk
    (migration 0014 sets when): measured with stale statistics, the planner sorts the whole
    queue. Where autovacuum is switched off (test servers often are), do what it would do."""
    with store.engine.connect() as connection:
        running = connection.exec_driver_sql("SHOW autovacuum").scalar() == "on"
    if not running:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE ticket")
        return "autovacuum is off on this server: VACUUM ANALYZE ticket, as autovacuum would"
    waited = time.perf_counter()
    query = sa.text(
        "SELECT last_autoanalyze > :t AND last_autovacuum > :t FROM pg_stat_user_tables "
        "WHERE relname = 'ticket'"
    )
    while time.perf_counter() - waited < 600:
        with store.engine.connect() as connection:
            if connection.execute(query, {"t": since}).scalar():
                seconds = time.perf_counter() - waited
                return f"autovacuum analysed and vacuumed ticket {seconds:.0f} s later"
        time.sleep(5)
    raise SystemExit("autovacuum did not run on the ticket table within 10 minutes")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- measuring ----------------------------------------------------------------------------


def timings(client: httpx.Client, path: str, params: dict[str, str], count: int) -> list[float]:
    client.get(path, params=params).raise_for_status()  # warm: plans, caches
    found = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, params=params)
        found.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return found


def query_timings(store: Store, query: TicketQuery, count: int) -> list[float]:
    """The view's page and total from the core, without HTTP: the database's share."""
    found = []
    with store.sessions() as session:
        for n in range(count + 1):
            started = time.perf_counter()
            list_tickets(session, query, NOW)
            count_tickets(session, query, COUNT_UP_TO)  # as the API counts by default
            if n:  # the first one warms
                found.append((time.perf_counter() - started) * 1000)
    return found


def percentiles(ms: list[float]) -> tuple[float, float]:
    return statistics.median(ms), statistics.quantiles(ms, n=20)[-1]


def report(label: str, ms: list[float], db_ms: list[float] | None = None, total: Any = "") -> bool:
    p50, p95 = percentiles(ms)
    db = "{:>8.1f} {:>8.1f}".format(*percentiles(db_ms)) if db_ms else " " * 17
    ok = p95 < 50
    print(f"{label:<38} {p50:>8.1f} {p95:>8.1f} {db} {total!s:>9}  {'ok' if ok else 'MISSED'}")
    return ok


def main(tickets: int, requests: int, url: str, keep: bool) -> None:
    with database(url, keep) as db_url, tempfile.TemporaryDirectory() as folder:
        store = Store.open(db_url)
        upgrade_schema(store)
        started = time.perf_counter()
        populate(store, tickets)
        with store.transaction() as s:
            tokens = {who: create_api_token(s, who, NOW) for who in ("agent0", "admin")}
            viewers = {
                who: Viewer(agent.id, agent.role)
                for who in ("agent0", "admin")
                if (agent := s.scalars(sa.select(Agent).where(Agent.name == who)).one())
            }
        backend = "PostgreSQL" if url else "SQLite"
        print(f"{backend}: {tickets:,} tickets made in {time.perf_counter() - started:.0f} s")
        with serving(db_url, Path(folder)) as (process, base):
            # The first runs of the scheduler work through the made-up desk's backlog (auto-close,
            # queue drain of 20,000 tickets); a desk that has run for years has none of it.
            served_at = datetime.now(UTC)
            settled = first_job_runs(base, tokens["admin"])
            print(f"the scheduler's first runs on it took {settled:.0f} s; measured after them")
            if url:
                print(settle_statistics(store, served_at))
            print(
                f"{'GET /api/v1/... (ms)':<38} {'p50':>8} {'p95':>8} "
                f"{'db p50':>8} {'db p95':>8} {'total':>9}"
            )
            agent = httpx.Client(base_url=base, headers=_auth(tokens["agent0"]), timeout=60)
            admin = httpx.Client(base_url=base, headers=_auth(tokens["admin"]), timeout=60)
            report("agents/me (baseline)", timings(agent, "/agents/me", {}, requests))
            missed = []
            runs = (("agent0", agent, AGENT_VIEWS), ("admin", admin, ADMIN_VIEWS))
            for who, client, views in runs:
                for view in views:
                    params = {"view": view}
                    first = client.get("/tickets", params=params).json()
                    total = f"{first['total']:,}" + ("" if first["total_exact"] else "+")
                    ms = timings(client, "/tickets", params, requests)
                    viewer = viewers[who]
                    query = TicketQuery(View(view), viewer_id=viewer.agent_id, visible_to=viewer)
                    db_ms = query_timings(store, query, requests)
                    if not report(f"tickets?view={view} ({who})", ms, db_ms, total):
                        missed.append(f"{view} ({who})")
            agent.close()
            admin.close()
            store.close()
            time.sleep(5)  # idle: the answers are sent, nothing is in flight
            print(f"maild serve idle RSS after the bench: {rss_mb(process.pid):.0f} MB")
        print("p95 < 50 ms: " + ("every view" if not missed else "missed by " + ", ".join(missed)))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="per view")
    parser.add_argument("--url", default="", help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    main(args.tickets, args.requests, args.url, args.keep)
