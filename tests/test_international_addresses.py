"""International addresses end to end (issue 13 item 1), as a user runs maild: `maild ingest`,
`export --json`, `ticket show` (JSON and text). A sender's IDN domain in raw UTF-8 and a UTF-8
local part (RFC 6531/6532) are stored in Unicode, in one normal form (a punycode spelling of a
domain is the same address), and no output path chokes on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maild.cli import main
from tests.support import write_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "emails"
IDN_DOMAIN = FIXTURES / "idn-domain-thunderbird.eml"
UTF8_LOCAL_PART = FIXTURES / "smtputf8-local-part-outlook.eml"


def _maild(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> list[dict[str, Any]]:
    assert main(["--config", str(config), *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Path:
    return write_config(tmp_path, db_url)


def test_a_raw_utf8_idn_sender_is_stored_and_exported_in_unicode(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (line,) = _maild(capsys, config, "ingest", str(IDN_DOMAIN))
    assert (line["outcome"], line["ticket"]) == ("new_ticket", "SUP-000001")

    (ticket,) = _maild(capsys, config, "export", "--json")
    assert ticket["requester"] == "j.weiss@bücher.example"
    message = ticket["messages"][0]  # then our autoresponse
    assert message["from"] == "j.weiss@bücher.example"
    # The Cc was written in punycode: stored in the same (Unicode) form as the From's domain.
    assert message["cc"] == ["anna.schmidt@bücher.example"]


def test_a_utf8_local_part_survives_export_and_ticket_show(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _maild(capsys, config, "ingest", str(UTF8_LOCAL_PART))

    (exported,) = _maild(capsys, config, "export", "--json")
    (shown,) = _maild(capsys, config, "ticket", "show", "SUP-000001", "--json")
    for ticket in (exported, shown):
        assert ticket["requester"] == "josé.núñez@correo.ejemplo.es"
        message = ticket["messages"][0]
        assert message["from"] == "josé.núñez@correo.ejemplo.es"
        assert message["cc"] == ["maría.álvarez@correo.ejemplo.es"]
    assert main(["--config", str(config), "ticket", "show", "SUP-000001"]) == 0
    assert "Requester:   josé.núñez@correo.ejemplo.es" in capsys.readouterr().out


def test_the_autoresponse_to_an_international_sender_is_queued(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fixture in (IDN_DOMAIN, UTF8_LOCAL_PART):
        _maild(capsys, config, "ingest", str(fixture))
    for number in ("SUP-000001", "SUP-000002"):
        (shown,) = _maild(capsys, config, "ticket", "show", number, "--json")
        autoresponse = [h for h in shown["history"] if h["action"] == "autoresponse"]
        assert [h["detail"] for h in autoresponse] == ["queued"]  # not "not sent: ..."
        assert [m["direction"] for m in shown["messages"]] == ["in", "out"]
        assert shown["messages"][1]["to"] == [shown["requester"]]


REPLY = """From: Anna Schmidt <Anna.Schmidt@BÜCHER.example>
To: support@example.com
Subject: Re: [#SUP-000001] Rechnung 2026-1187 doppelt abgebucht
Message-ID: <reply-1@xn--bcher-kva.example>
In-Reply-To: <8f3c2a1e-4b7d-4c9e-a2f1-6d0e5b9c7a31@xn--bcher-kva.example>
Date: Tue, 1 Dec 2026 11:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Die Buchung ist inzwischen storniert.
"""


def test_a_cc_in_punycode_replying_in_unicode_is_the_same_participant(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _maild(capsys, config, "ingest", str(IDN_DOMAIN))
    reply = tmp_path / "reply.eml"
    reply.write_bytes(REPLY.encode("utf-8"))

    (line,) = _maild(capsys, config, "ingest", str(reply))
    # reply_policy: only a participant appends; Anna was Cc'd as anna.schmidt@xn--bcher-kva.
    assert (line["outcome"], line["ticket"]) == ("appended", "SUP-000001")


def test_the_export_of_both_international_fixtures_succeeds(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _maild(capsys, config, "ingest", str(IDN_DOMAIN), str(UTF8_LOCAL_PART))
    tickets = _maild(capsys, config, "export")
    assert [t["requester"] for t in tickets] == [
        "j.weiss@bücher.example",
        "josé.núñez@correo.ejemplo.es",
    ]


def test_the_export_of_a_database_holding_every_fixture_succeeds(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: one mail must never kill the backup. Every sample mail of the project, ingested
    into one database, then `maild export --json`."""
    fixtures = sorted(str(path) for path in FIXTURES.glob("*.eml"))
    lines = _maild(capsys, config, "ingest", *fixtures)
    assert len(lines) == len(fixtures)
    numbers = {line["ticket"] for line in lines if line["ticket"]}
    exported = _maild(capsys, config, "export", "--json")
    assert numbers <= {ticket["number"] for ticket in exported}
