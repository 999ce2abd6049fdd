"""maild as a user meets it: built as a wheel, installed into a fresh virtualenv outside the
repository, and run from another directory. Nothing of the checkout is on the path there, so a
file the wheel does not hold (migrations, templates) fails here and nowhere else."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.support import write_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed")]


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "maild"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},  # no MAILD_* from the test run
    )


def test_wheel_holds_the_migrations(installed_maild: Path, maild_wheel: Path) -> None:
    names = zipfile.ZipFile(maild_wheel).namelist()
    assert "maild/store/migrations/env.py" in names
    assert any(n.startswith("maild/store/migrations/versions/0001") for n in names)


def test_installed_maild_initialises_ingests_and_exports(
    installed_maild: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'desk.db'}")

    version = run(installed_maild, "--version", cwd=elsewhere)
    assert version.returncode == 0 and version.stdout.startswith("maild "), version

    init = run(installed_maild, "--config", str(config), "init", cwd=elsewhere)
    assert init.returncode == 0, init.stderr
    assert "database ready" in init.stdout

    mail = FIXTURES / "flows" / "new-request.eml"
    ingest = run(installed_maild, "--config", str(config), "ingest", str(mail), cwd=elsewhere)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["outcome"] == "new_ticket"

    export = run(installed_maild, "--config", str(config), "export", "--json", cwd=elsewhere)
    assert export.returncode == 0, export.stderr
    (ticket,) = [json.loads(line) for line in export.stdout.splitlines()]
    assert ticket["messages"][0]["direction"] == "in"


def test_installed_maild_reports_an_unexpected_error_in_one_line(
    installed_maild: Path, tmp_path: Path
) -> None:
    # A directory where the SQLite file should be: the driver fails in a way maild does not
    # anticipate as a config mistake. The user gets one line and a hint, not a traceback.
    (tmp_path / "desk.db").mkdir()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'desk.db'}")
    failed = run(installed_maild, "--config", str(config), "init", cwd=tmp_path)
    assert failed.returncode != 0
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maild: "), failed.stderr
    assert "Traceback" not in failed.stderr
