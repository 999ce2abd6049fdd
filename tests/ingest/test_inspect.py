"""inspect_message: the JSON object of `maild inspect FILE --json` (DESIGN §5)."""

from __future__ import annotations

import json
from pathlib import Path

from maild.ingest.inspect import inspect_message
from maild.settings import IngestLimits, Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "emails"
DESIGN_KEYS = {"subject", "from", "to", "cc", "date", "message_id", "in_reply_to", "references",
               "text", "html", "attachments", "kind", "reason", "bounce", "ticket"}  # fmt: skip


def inspect_fixture(name: str, settings: Settings | None = None) -> dict[str, object]:
    report = inspect_message((FIXTURES / name).read_bytes(), settings or Settings())
    return json.loads(json.dumps(report))  # what the CLI prints must survive JSON


def test_inspect_reports_every_field_design_names() -> None:
    report = inspect_fixture("rfc2231-filename.eml")
    assert report.keys() >= DESIGN_KEYS
    assert report["subject"] == "Rechnung vom März"
    assert report["from"] == "anna.schmidt@example.org"
    assert report["date"] == "2026-03-03T14:02:11+00:00"
    assert report["attachments"] == [
        {"filename": "Rechnung März 2026.pdf", "content_type": "application/pdf", "size": 77}
    ]
    assert (report["kind"], report["reason"], report["bounce"]) == ("normal", "no-rule", None)


def test_inspect_reports_bounce_details_and_the_ticket() -> None:
    report = inspect_fixture("dsn-failed.eml")
    assert report["kind"] == "bounce"
    bounce = report["bounce"]
    assert isinstance(bounce, dict)
    assert bounce["recipients"][0] | {"diagnostic": ""} == {
        "address": "customer@example.net",
        "original_address": None,
        "action": "failed",
        "status": "5.1.1",
        "diagnostic": "",
    }
    assert bounce["original_message_id"] == "<3f2a9c0d1e4b5a6f7c8d.SUP-000123@example.com>"
    assert bounce["is_failure"] is True
    assert report["ticket"] == "SUP-000123"


def test_inspect_of_a_reply_names_the_tagged_ticket() -> None:
    assert inspect_fixture("tag-with-prefixes.eml")["ticket"] == "SUP-000123"


def test_inspect_of_a_mail_over_a_limit_gives_the_held_reason() -> None:
    settings = Settings(ingest=IngestLimits(max_message_bytes=50))
    report = inspect_fixture("html-only.eml", settings)
    assert "over the limit of 50 bytes" in str(report["rejected"])
    assert report["kind"] is None
