"""Shared fixtures. Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: each test session (each xdist worker) creates its own database with a random name
from `MAILD_TEST_POSTGRES_URL` and drops it at the end, so runs never see each other's rows.
Between tests the tables are truncated. SQLite: each test gets a copy of a migrated template file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.store.db import Store, normalise_url, upgrade_schema
from maild.store.models import Base

ROOT = Path(__file__).resolve().parent.parent
# The shared mail corpora are read in place, never copied into the project.
CORPORA = Path(os.environ.get("MAILD_CORPORA") or ROOT.parent / "shared" / "corpora")
CORPORA_MISSING = (
    f"shared mail corpora not found at {CORPORA}: "
    "put the shared/ folder beside the clone or set MAILD_CORPORA"
)
FIXTURES = ROOT / "fixtures" / "emails"
PG_URL = os.environ.get("MAILD_TEST_POSTGRES_URL", "")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `corpora` skip, naming the path, when the corpora are not there
    (`.ci/run` fails on such a skip: CI always has them)."""
    if CORPORA.is_dir():
        return
    for item in items:
        if item.get_closest_marker("corpora"):
            item.add_marker(pytest.mark.skip(reason=CORPORA_MISSING))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store.open(f"sqlite:///{path}")
    upgrade_schema(store)
    store.close()
    return path


def _fresh_postgres_database() -> Iterator[str]:
    """Create a database with a random name, migrated to head; drop it afterwards."""
    if not PG_URL:
        pytest.skip("MAILD_TEST_POSTGRES_URL is not set")
    admin = sa.create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"maild_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(normalise_url(PG_URL)).set(database=name).render_as_string(False)
    store = Store.open(url)
    upgrade_schema(store)
    store.close()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of this session's PostgreSQL database."""
    yield from _fresh_postgres_database()


@pytest.fixture(scope="session")
def postgres_twin_url() -> Iterator[str]:
    """A second database, for tests that compare two runs."""
    yield from _fresh_postgres_database()


@pytest.fixture(scope="session")
def maild_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """maild built as a wheel from a copy of this checkout's files, as `pip install .` would
    build it. A copy, because setuptools reuses the checkout's `build/` folder: a file renamed
    since the last local build would otherwise still be in the wheel."""
    source = tmp_path_factory.mktemp("source") / "maild"
    skip = shutil.ignore_patterns(".*", "build", "*.egg-info", "var", "__pycache__")
    shutil.copytree(ROOT, source, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        timeout=600,
    )
    (wheel,) = out.glob("maild-*.whl")
    return wheel


@pytest.fixture(scope="session")
def installed_maild(tmp_path_factory: pytest.TempPathFactory, maild_wheel: Path) -> Path:
    """A fresh virtualenv outside the repository with the wheel and its dependencies installed;
    returns the venv's directory (its `bin/maild` is the installed command)."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"{maild_wheel}[postgres]"], check=True, timeout=900)
    return venv


def truncate_all(store: Store) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with the schema in place and no rows, on each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "maild.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    store = Store.open(url)
    truncate_all(store)
    store.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url)
    yield store
    store.close()


@pytest.fixture
def now() -> datetime:
    """A fixed, aware 'now' for rules that depend on time."""
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
