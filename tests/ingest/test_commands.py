"""The mail commands as a user runs them: `maild inspect`, `ingest -`, `reprocess`, `bounces`."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from maild.cli import main
from maild.cli_mail import Progress
from maild.ingest.pipeline import IngestResult
from maild.values import Outcome
from tests.ingest.test_flows import FLOWS
from tests.support import write_config


def _config(tmp_path: Path, url: str, limit: int = 1_000_000) -> str:
    return str(write_config(tmp_path, url, max_message_bytes=limit))


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_inspect_prints_the_design_fields_without_storing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'never.db'}")
    args = ["--config", config, "inspect", "--json", "--no-db", str(FLOWS / "dsn-failed.eml")]
    assert main(args) == 0
    (report,) = _lines(capsys)
    for key in ("subject", "from", "to", "cc", "date", "message_id", "in_reply_to",
                "references", "text", "html", "attachments", "kind", "bounce"):  # fmt: skip
        assert key in report
    assert report["kind"] == "bounce"
    assert "carol@customer.example" in json.dumps(report["bounce"])
    assert report["threading"] == {"looked_at": "mail alone"}
    assert not (tmp_path / "never.db").exists()


def test_inspect_without_a_database_says_what_to_do_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'never.db'}")
    assert main(["--config", config, "inspect", str(FLOWS / "new-request.eml")]) == 2
    error = capsys.readouterr().err
    assert "maild init" in error and "--no-db" in error
    assert not (tmp_path / "never.db").exists()


def test_inspect_decides_the_ticket_against_the_configured_database(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    assert main(["--config", config, "ingest", str(FLOWS / "new-request.eml")]) == 0
    capsys.readouterr()
    stranger = str(FLOWS / "stranger-guessed-number.eml")

    assert main(["--config", config, "inspect", "--json", stranger]) == 0
    (report,) = _lines(capsys)
    # reply_policy: a stranger naming SUP-000001 gets a new ticket, related to it.
    assert report["ticket"] is None
    assert report["threading"]["looked_at"] == "database"
    assert report["threading"]["opens_new_ticket"] is True
    assert report["threading"]["related"] == "SUP-000001"
    assert "not a participant" in report["threading"]["reason"]

    assert main(["--config", config, "inspect", "--json", "--no-db", stranger]) == 0
    (alone,) = _lines(capsys)
    assert (alone["ticket"], alone["threading"]) == ("SUP-000001", {"looked_at": "mail alone"})


def test_inspect_of_a_missing_file_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["--config", config, "inspect", str(tmp_path / "nope.eml")]) == 2
    assert "nope.eml: no such file" in capsys.readouterr().err


def test_ingest_reads_standard_input(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    raw = (FLOWS / "new-request.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert main(["--config", _config(tmp_path, db_url), "ingest", "-"]) == 0
    (line,) = _lines(capsys)
    assert line == {
        "source": "-",
        "message_id": "<req-1@customer.example>",
        "outcome": "new_ticket",
        "ticket": "SUP-000001",
        "reason": "",
    }


def test_reprocess_held_runs_held_mail_again_after_a_fix(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = _config(tmp_path, db_url, limit=200)
    assert main(["--config", small, "ingest", str(FLOWS / "new-request.eml")]) == 0
    assert _lines(capsys)[0]["outcome"] == "held"
    fixed = _config(tmp_path, db_url)  # the admin raises the limit
    assert main(["--config", fixed, "reprocess", "--held"]) == 0
    (line,) = _lines(capsys)
    assert (line["outcome"], line["ticket"]) == ("new_ticket", "SUP-000001")


def test_bounces_lists_reports_that_matched_no_ticket(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url)
    assert main(["--config", config, "ingest", str(FLOWS / "dsn-unmatched.eml")]) == 0
    assert _lines(capsys)[0]["outcome"] == "bounce"
    assert main(["--config", config, "bounces"]) == 0
    (bounce,) = _lines(capsys)
    assert bounce["ticket"] is None
    assert bounce["recipients"] == ["carol@customer.example"]
    assert bounce["action"] == "failed"


def test_progress_line_counts_outcomes_on_stderr() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    for outcome in (Outcome.NEW_TICKET, Outcome.NEW_TICKET, Outcome.HELD):
        progress.step(IngestResult("x", "", outcome, None))
    progress.done()
    assert "3 messages" in stream.getvalue()
    assert "held=1 new_ticket=2" in stream.getvalue()
