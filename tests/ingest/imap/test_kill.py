"""DESIGN §3 against a real Dovecot: a poller killed with SIGKILL between fetching a message
and committing it to the spool, or between that commit and settling the message on the server,
loses nothing and ingests nothing twice once `maild serve` runs again."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from maild.store.db import Store
from tests.ingest.imap.dovecot import Dovecot
from tests.ingest.imap.helpers import (
    WAIT_SECONDS,
    Folder,
    desk,
    imap_account,
    provision,
    request,
    serve_imap,
    spool_rows,
    tickets,
)

pytestmark = [pytest.mark.xdist_group("dovecot"), pytest.mark.slow]


def _kill_at(config: Path, point: str) -> None:
    """Run the pollers in a child process until they stop at `point`, then SIGKILL it."""
    harness = [sys.executable, "-m", "tests.ingest.imap.harness", str(config), point]
    child = subprocess.Popen(harness, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    try:
        ready, _, _ = select.select([child.stdout], [], [], WAIT_SECONDS)
        line = child.stdout.readline() if ready else b""
        assert line.strip() == f"paused {point}".encode(), child.stderr
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=WAIT_SECONDS)
    assert child.returncode == -signal.SIGKILL


def _serve_until(config: Path, done: Callable[[], bool]) -> None:
    """`maild serve` until `done()` holds; then SIGTERM, which must end it cleanly."""
    serve = [sys.executable, "-m", "maild.cli", "--config", str(config), "serve"]
    daemon = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not done():
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            assert time.monotonic() < deadline, "maild serve did not get there"
            time.sleep(0.05)
        daemon.send_signal(signal.SIGTERM)
        _, errors = daemon.communicate(timeout=WAIT_SECONDS)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, errors.decode()


def test_killed_between_fetch_and_commit_loses_nothing(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    done = f"{folder.name}-done"
    folder.create(done)
    folder.append(request("kill-fetch"))
    config, settings = desk(tmp_path, db_url, imap_account(dovecot, folder, after=f"move:{done}"))
    provision(store, settings)

    _kill_at(config, "before-commit")

    assert spool_rows(store) == []  # the open transaction died with the process
    assert len(folder.flags()) == 1  # still in the folder, as it was

    # Run again in this process, as `maild serve` composes it (the other test runs the command).
    serve_imap(settings, store, until=lambda: len(folder.flags(done)) == 1 and _all_done(store))

    assert folder.flags() == {}
    assert tickets(store) == [("Help with kill-fetch", "Support")]
    assert spool_rows(store) == [("<kill-fetch@customer.example>", "done", "new_ticket")]


def test_killed_between_commit_and_delete_duplicates_nothing(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("kill-settle"))
    config, settings = desk(tmp_path, db_url, imap_account(dovecot, folder, after="delete"))
    provision(store, settings)

    _kill_at(config, "before-settle")

    assert [state for _, state, _ in spool_rows(store)] == ["received"]
    assert len(folder.flags()) == 1  # committed, but not yet deleted on the server

    _serve_until(config, lambda: folder.flags() == {} and _all_done(store))

    assert tickets(store) == [("Help with kill-settle", "Support")]
    assert spool_rows(store) == [("<kill-settle@customer.example>", "done", "new_ticket")]


def _all_done(store: Store) -> bool:
    rows = spool_rows(store)
    return bool(rows) and all(state == "done" for _, state, _ in rows)
