"""Ticket numbers: configurable format, never handed out twice, even across processes."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest

from maild.settings import TicketSettings
from maild.store.db import Store
from maild.tickets.numbers import allocate_number
from tests.conftest import ROOT
from tests.tickets.factory import make_org, new_ticket


def test_numbers_follow_the_configured_format_and_count_up(store: Store) -> None:
    custom = TicketSettings(prefix="HELP", number_format="{prefix}{seq:04d}")
    with store.transaction() as s:
        first = [allocate_number(s, TicketSettings()) for _ in range(3)]
        other = allocate_number(s, custom)
    assert first == ["SUP-000001", "SUP-000002", "SUP-000003"]
    assert other == "HELP0001"  # one counter per prefix


def test_numbers_skip_one_already_taken(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        ticket.number = "SUP-000002"  # e.g. an imported ticket
        s.flush()
        assert allocate_number(s, TicketSettings()) == "SUP-000003"


@pytest.mark.slow
def test_two_processes_allocating_500_numbers_each_get_1000_distinct(db_url: str) -> None:
    start = time.time() + 3.0  # both workers have imported and connected by then
    command = [sys.executable, "-m", "tests.tickets.allocate_worker", db_url, "500", str(start)]
    workers = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0].split() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    numbers = outputs[0] + outputs[1]
    assert len(numbers) == 1000
    assert len(set(numbers)) == 1000
    assert set(numbers) == {TicketSettings().format_number(n) for n in range(1, 1001)}
    if db_url.startswith("postgresql"):
        # Row-lock waiters are served in turn, so the two runs interleave: each got numbers
        # below the other's highest. (SQLite's busy handler may let one writer run ahead.)
        assert max(outputs[0]) > min(outputs[1]) and max(outputs[1]) > min(outputs[0])
