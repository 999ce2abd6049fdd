"""Killing `maild ingest` mid-run and running it again ends with the same database as one clean
run (DESIGN §3: processing after the spool is idempotent and restartable)."""

from __future__ import annotations

import mailbox
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import Inbound, Message, Outbox, Ticket
from tests.ingest.test_flows import FLOWS
from tests.support import write_config


def _mbox(path: Path, count: int) -> Path:
    """Requests from many customers, and replies to the tickets they open."""
    box = mailbox.mbox(path)
    template = (FLOWS / "new-request.eml").read_bytes()
    for i in range(count):
        raw = template.replace(b"<req-1@", f"<crash-{i}@".encode())
        raw = raw.replace(b"carol@customer.example", f"c{i % 40}@customer.example".encode())
        if i % 3 == 2:
            raw = raw.replace(b"Subject: ", f"Subject: Re: [#SUP-{i // 3 + 1:06d}] ".encode())
        box.add(raw)
    box.flush()
    box.close()
    return path


def _run(config: Path, *args: str) -> subprocess.Popen[bytes]:
    cli = [sys.executable, "-m", "maild.cli", "--config", str(config), *args]
    return subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _snapshot(url: str) -> dict[str, Any]:
    """Everything an ingest decides, without ids and clock times."""
    store = Store.open(url)
    with store.transaction() as session:
        tickets = {
            t.number: (t.status.value, t.requester, t.subject, t.agent_id is None)
            for t in session.scalars(sa.select(Ticket))
        }
        messages = sorted(
            (m.message_id, m.direction.value, m.kind.value, m.subject)
            for m in session.scalars(sa.select(Message))
            if m.direction.value == "in"
        )
        inbound = sorted(
            (i.message_key, i.state.value, i.outcome) for i in session.scalars(sa.select(Inbound))
        )
        outbox = session.scalar(sa.select(sa.func.count()).select_from(Outbox))
    store.close()
    return {"tickets": tickets, "messages": messages, "inbound": inbound, "outbox": outbox}


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun_equals_one_clean_run(
    tmp_path: Path, db_url: str, postgres_or_sqlite_twin: str
) -> None:
    total = 800
    source = _mbox(tmp_path / "import.mbox", total)
    crashed = write_config(tmp_path, db_url)
    process = _run(crashed, "ingest", "--quiet", str(source))
    assert process.stdout is not None
    for _ in range(120):  # past the first batches, into the middle of the run
        process.stdout.readline()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = [row for row in _snapshot(db_url)["inbound"] if row[1] == "done"]
    assert 100 <= len(done) < total, "the kill did not land in the middle of the run"

    rerun = _run(crashed, "ingest", "--quiet", str(source))
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert len(out.splitlines()) == total

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = _run(write_config(clean_dir, postgres_or_sqlite_twin), "ingest", "--quiet", str(source))
    _, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err.decode()

    assert _snapshot(db_url) == _snapshot(postgres_or_sqlite_twin)
    assert len(_snapshot(db_url)["tickets"]) > total // 2


@pytest.fixture
def postgres_or_sqlite_twin(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A second, empty database on the same backend as `db_url`, for the clean run."""
    if db_url.startswith("sqlite"):
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "twin.db")
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    from tests.conftest import truncate_all

    twin_url = request.getfixturevalue("postgres_twin_url")
    yield twin_url
    store = Store.open(twin_url)
    truncate_all(store)
    store.close()
