"""Fixtures of the IMAP tests: one Dovecot per test session (the tests that need it share an
xdist group, so one worker starts it), and a fresh folder per test."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from maild.store.db import Store
from tests.ingest.imap.dovecot import (
    MISSING,
    Dovecot,
    dovecot_binary,
    start_dovecot,
    stop_dovecot,
)
from tests.ingest.imap.helpers import Folder


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        pytest.skip(MISSING)
    if os.geteuid() != 0:
        pytest.skip("Dovecot tests run as root (Dovecot's own processes drop to its users)")
    server, introspection = start_dovecot(binary)
    yield server
    stop_dovecot(server, introspection)


@pytest.fixture
def folder(dovecot: Dovecot) -> Folder:
    made = Folder(dovecot, f"t{secrets.token_hex(5)}")
    made.create()
    return made


@pytest.fixture(autouse=True)
def imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILD_TEST_IMAP_PASSWORD", "secret")


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A store for tests whose subject is the IMAP side, not the storage (run once, not per
    backend)."""
    path = tmp_path / "maild.db"
    shutil.copy(sqlite_template, path)
    store = Store.open(f"sqlite:///{path}")
    yield store
    store.close()
