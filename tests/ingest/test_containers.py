"""Issue 13 items 7 and 8 as a user meets them: `maild ingest`, `export`, `ticket show`.

Each fixture is what the named client sends: Outlook's winmail.dat, Outlook's opaque-signed
S/MIME, Outlook's meeting request, Gmail's forward as attachment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from maild.cli import main
from maild.store.db import Store
from maild.store.models import Attachment
from tests.support import write_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "emails"


def _ingest(config: str, capsys: pytest.CaptureFixture[str], *names: str) -> list[str]:
    """The ticket number of each mail, after `maild ingest`."""
    assert main(["--config", config, "ingest", *(str(FIXTURES / n) for n in names)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["outcome"] for line in lines] == ["new_ticket"] * len(names)
    return [line["ticket"] for line in lines]


def _export(config: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    assert main(["--config", config, "export", "--json"]) == 0
    return {r["number"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}


def _show(config: str, capsys: pytest.CaptureFixture[str], number: str) -> dict[str, Any]:
    assert main(["--config", config, "ticket", "show", number, "--json"]) == 0
    message: dict[str, Any] = json.loads(capsys.readouterr().out)["messages"][0]
    return message


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> str:
    return str(write_config(tmp_path, db_url))


def test_outlook_winmail_dat_gives_its_pdf_and_stays_attached(
    config: str, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = _ingest(config, capsys, "outlook-winmail-dat.eml")
    assert _export(config, capsys)[number]["messages"][0]["attachments"] == 2
    message = _show(config, capsys, number)
    assert [(f["filename"], f["content_type"]) for f in message["files"]] == [
        ("winmail.dat", "application/ms-tnef"),
        ("Aufstellung 4711 korrigiert.pdf", "application/pdf"),
    ]
    store = Store.open(db_url)
    try:
        with store.sessions() as session:
            pdf = session.scalar(
                sa.select(Attachment.data).where(Attachment.id == message["files"][1]["id"])
            )
    finally:
        store.close()
    assert pdf is not None and pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")


def test_outlook_opaque_signed_mail_shows_its_text_files_and_signature_check(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = _ingest(config, capsys, "outlook-smime-opaque-signed.eml")
    assert _export(config, capsys)[number]["messages"][0]["attachments"] == 1
    message = _show(config, capsys, number)
    assert "our VPN login fails since this morning" in message["text"]
    assert "S/MIME: signed by Jane Doe <jane.doe@kunde.example>" in message["text"]
    assert "the signature matches the content" in message["text"]
    assert [f["filename"] for f in message["files"]] == ["vpn-client.log"]


def test_outlook_meeting_request_is_kept_and_summarised_in_the_text(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = _ingest(config, capsys, "outlook-meeting-request.eml")
    assert _export(config, capsys)[number]["messages"][0]["attachments"] == 1
    message = _show(config, capsys, number)
    assert [(f["filename"], f["content_type"]) for f in message["files"]] == [
        ("invite.ics", "text/calendar")
    ]
    assert message["text"].startswith("Hallo,\n\nwir möchten die Rechnungsstellung")
    assert message["text"].endswith(
        "Meeting request: Abstimmung Rechnungsstellung 2026\n"
        "When: Tue 10 Mar 2026 14:00–15:00 (W. Europe Standard Time; 13:00 UTC)\n"
        "Where: Besprechungsraum 2, Hauptgebäude\n"
        "Organiser: Müller, Hans <hans.mueller@kunde.example>"
    )


def test_gmail_forward_as_attachment_keeps_the_forwarded_words_out_of_the_ticket_text(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = _ingest(config, capsys, "gmail-forward-as-attachment.eml")
    assert _export(config, capsys)[number]["messages"][0]["attachments"] == 1
    message = _show(config, capsys, number)
    assert "nothing arrived" in message["text"]
    assert "Tracking number" not in message["text"]
    (forwarded,) = message["files"]
    assert forwarded["filename"] == "Your order 4711 has shipped.eml"
    assert forwarded["content_type"] == "message/rfc822"
    mail = forwarded["mail"]
    assert mail["from"] == "Shop Example <noreply@shop.example>"
    assert mail["subject"] == "Your order 4711 has shipped"
    assert mail["message_id"] == "<order-4711-shipped@shop.example>"
    assert "Tracking number: 1Z999AA10123456784" in mail["text"]
    assert mail["error"] is None

    assert main(["--config", config, "ticket", "show", number]) == 0
    shown = capsys.readouterr().out
    assert "Attachment: Your order 4711 has shipped.eml (message/rfc822" in shown
    assert "Subject: Your order 4711 has shipped" in shown
    assert "Tracking number: 1Z999AA10123456784" in shown


def test_a_database_holding_every_fixture_exports(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    assert main(["--config", config, "ingest", *(str(FIXTURES / n) for n in names)]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == len(names) and all(r["outcome"] != "held" for r in results)
    records = _export(config, capsys)
    assert records and all(record["messages"] for record in records.values())
    for number in records:
        assert main(["--config", config, "ticket", "show", number]) == 0
        assert main(["--config", config, "ticket", "show", number, "--json"]) == 0
    capsys.readouterr()
