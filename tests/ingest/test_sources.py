"""One file, one message, unless it is an mbox (DESIGN §5, issue 7 item 2): `maild ingest` as a
user runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from maild.cli import main
from maild.ingest.sniff import has_header_block
from maild.ingest.sources import Format, file_format, iter_messages, split_stream
from tests.ingest.test_flows import FLOWS
from tests.support import write_config

FIXTURES = FLOWS.parent
# A PNG's signature and the start of its first chunk: what an image dropped in a folder holds.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
README = b"# maild\n\nNote: this folder holds the mail we exported.\nFrom here on, read on.\n"


def _ingest(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> list[dict[str, Any]]:
    assert main(["--config", str(config), "ingest", "--quiet", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _two_message_mbox() -> bytes:
    first = (FLOWS / "new-request.eml").read_bytes()
    second = (FLOWS / "monitoring-alert.eml").read_bytes()
    return (
        b"From a@b Mon Mar  2 09:00:00 2026\n"
        + first
        + b"\nFrom c@d Mon Mar  2 09:01:00 2026\n"
        + second
    )


def test_eml_starting_with_a_from_line_is_one_message_whatever_its_body_holds(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bounce = FIXTURES / "from-line-bounce.eml"
    lines = _ingest(capsys, write_config(tmp_path, db_url), str(bounce))
    assert [(line["source"], line["outcome"]) for line in lines] == [(str(bounce), "bounce")]
    assert lines[0]["message_id"] == "<from-line-bounce@mx.example.com>"


def test_a_one_message_file_loses_its_leading_from_line_and_keeps_the_rest() -> None:
    (message,) = iter_messages([str(FIXTURES / "from-line-bounce.eml")])
    assert message.raw.startswith(b"From: Mail Delivery System")
    assert b"\nFrom support@example.com  Mon Mar" in message.raw
    assert b"\nFrom the team: thank you" in message.raw


@pytest.mark.parametrize("name", ["archive", "archive.mbox"])
def test_a_real_two_message_mbox_is_two_messages(
    name: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = tmp_path / name
    box.write_bytes(_two_message_mbox())
    lines = _ingest(capsys, write_config(tmp_path, db_url), str(box))
    assert [(line["source"], line["outcome"]) for line in lines] == [
        (f"{box}#1", "new_ticket"),
        (f"{box}#2", "auto_reply"),
    ]


@pytest.mark.parametrize(("name", "content"), [("README", README), ("logo.png", PNG)])
def test_a_file_with_no_header_block_is_held_as_not_an_email_message(
    name: str, content: bytes, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    (line,) = _ingest(capsys, write_config(tmp_path, db_url), str(path))
    assert (line["outcome"], line["ticket"]) == ("held", None)
    assert "not an email message" in line["reason"]


def test_format_forces_how_a_file_is_read(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, db_url)
    box = tmp_path / "export.txt"  # an extension that says nothing of the format
    box.write_bytes(_two_message_mbox())
    assert len(_ingest(capsys, config, "--format", "mbox", str(box))) == 2
    single = tmp_path / "single.mbox"
    single.write_bytes((FIXTURES / "from-line-bounce.eml").read_bytes())
    (line,) = _ingest(capsys, config, "--format", "eml", str(single))
    assert line["outcome"] == "bounce"


def test_maildir_entries_are_one_message_each(tmp_path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.host").write_bytes((FIXTURES / "from-line-bounce.eml").read_bytes())
    (message,) = iter_messages([str(tmp_path)])
    assert message.raw.startswith(b"From: Mail Delivery System")


def test_file_format_follows_name_then_first_line(tmp_path: Path) -> None:
    plain, box, eml = tmp_path / "plain", tmp_path / "box", tmp_path / "m.eml"
    plain.write_bytes(b"Subject: hi\n\nbody\n")
    box.write_bytes(b"From a@b Mon Mar  2 09:00:00 2026\nSubject: hi\n\nbody\n")
    eml.write_bytes(box.read_bytes())
    assert [file_format(p) for p in (plain, box, eml)] == [Format.EML, Format.MBOX, Format.EML]
    assert file_format(eml, Format.MBOX) is Format.MBOX


def test_stdin_forced_to_one_message_keeps_its_from_lines_in_the_body() -> None:
    raw = (FIXTURES / "from-line-bounce.eml").read_bytes()
    (message,) = split_stream(io.BytesIO(raw), "-", Format.EML)
    assert message.raw == raw.split(b"\n", 1)[1]
    assert len(list(split_stream(io.BytesIO(raw), "-"))) > 1  # unforced: an mbox, as before


@pytest.mark.parametrize(
    ("head", "is_mail"),
    [
        (b"From: a@b.example\nSubject: x\n\nbody", True),
        (b"From a@b Mon Mar  2 09:00:00 2026\r\nReceived: from x\r\n\tby y\r\n\r\n", True),
        (b"Subject: bare CR\rTo: a@b.example\r\rbody", True),
        (b"X-Custom: 1\nNote: 2\n\nno field mail carries", False),
        (README, False),
        (PNG, False),
        (b"", False),
        (b"\nFrom: after a blank line is body", False),
    ],
)
def test_header_block_sniffing(head: bytes, is_mail: bool) -> None:
    assert has_header_block(head) is is_mail


def test_stdin_is_read_through_the_same_rules(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    raw = (FIXTURES / "from-line-bounce.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    (line,) = _ingest(capsys, write_config(tmp_path, db_url), "--format", "eml", "-")
    assert line["outcome"] == "bounce"
