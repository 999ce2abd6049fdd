"""maild as a user meets it: built as a wheel, installed into a fresh virtualenv outside the
repository, and run from another directory. Nothing of the checkout is on the path there, so a
file the wheel does not hold (migrations, templates) fails here and nowhere else."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
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


def test_wheel_holds_the_migrations_and_the_templates(
    installed_maild: Path, maild_wheel: Path
) -> None:
    names = zipfile.ZipFile(maild_wheel).namelist()
    assert "maild/store/migrations/env.py" in names
    assert any(n.startswith("maild/store/migrations/versions/0001") for n in names)
    shipped = sorted(p.name for p in (ROOT / "templates").glob("*.j2"))
    assert shipped and all(f"maild/templates/{name}" in names for name in shipped)


def test_installed_maild_answers_with_the_shipped_templates(
    installed_maild: Path, tmp_path: Path
) -> None:
    # `autoresponder = true` and no text of its own: only the shipped templates can answer,
    # and `maild serve` without a relay writes the answer to var/outbox as an .eml file.
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'desk.db'}")
    text = config.read_text().replace(
        'autoresponder_body = "Ticket {{ ticket.number }} is open."', "autoresponder = true"
    )
    config.write_text(text + f'\n[outbound]\noutbox_dir = "{tmp_path / "outbox"}"\n')
    assert run(installed_maild, "--config", str(config), "init", cwd=tmp_path).returncode == 0
    mail = FIXTURES / "flows" / "new-request.eml"
    ingest = run(installed_maild, "--config", str(config), "ingest", str(mail), cwd=tmp_path)
    assert json.loads(ingest.stdout)["outcome"] == "new_ticket", ingest.stderr
    daemon = subprocess.Popen(
        [str(installed_maild / "bin" / "maild"), "--config", str(config), "serve"],
        cwd=tmp_path,
        # the delivery worker alone: no listener to hold a port
        env={"PATH": "/usr/bin:/bin", "MAILD_SMTP_ENABLED": "false", "MAILD_API_ENABLED": "false"},
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            if list((tmp_path / "outbox").glob("*.eml")):
                break
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    (written,) = (tmp_path / "outbox").glob("*.eml")
    data = written.read_text()
    assert "We received your request" in data and "Auto-Submitted: auto-replied" in data


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
