"""`maild ticket reply|forward|resend|new` as an admin or a script runs them: one JSON line
out, the mail queued, and delivered by the worker to a real sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maild.cli import main
from maild.config import load_settings
from maild.store.db import Store
from tests.outbound.conftest import NEW_REQUEST, Desk, Sink, write_serve_config


def _maild(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def desk_config(
    store: Store, db_url: str, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    config = write_serve_config(tmp_path, db_url, sink.relay)
    assert _maild(capsys, config, "config", "apply")[0] == 0
    (tmp_path / "request.eml").write_bytes(NEW_REQUEST)
    assert _maild(capsys, config, "ingest", str(tmp_path / "request.eml"))[0] == 0
    return config


def _deliver(store: Store, config: Path) -> None:
    Desk(store, load_settings(str(config), environ={})).deliver()


def test_reply_forward_and_resend_from_the_command_line(
    store: Store,
    sink: Sink,
    desk_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text("steps")
    code, out, err = _maild(
        capsys,
        desk_config,
        "ticket",
        "reply",
        "SUP-000001",
        "--agent",
        "alice",
        "--body",
        "Unplug it.",
        "--cc",
        "x@y.example; z@y.example",
        "--attach",
        str(tmp_path / "notes.txt"),
        "--mark",
        "closed",
    )
    assert code == 0, err
    replied = json.loads(out)
    assert replied["status"] == "closed" and replied["ticket"] == "SUP-000001"

    code, out, err = _maild(
        capsys,
        desk_config,
        "ticket",
        "forward",
        "SUP-000001",
        "--agent",
        "alice",
        "--to",
        "vendor@partner.example",
        "--note",
        "FYI",
        "--message",
        "<req-1@customer.example>",
    )
    assert code == 0, err
    code, out, err = _maild(
        capsys,
        desk_config,
        "ticket",
        "resend",
        "SUP-000001",
        "--agent",
        "alice",
        "--message",
        replied["message_id"],
    )
    assert code == 0, err
    _deliver(store, desk_config)

    by_id: dict[str, list[list[str]]] = {}
    for got in sink.received:
        by_id.setdefault(got.message["Message-ID"], []).append(got.rcpt_tos)
    assert (
        by_id[replied["message_id"]]
        == [
            ["carol@customer.example", "x@y.example", "z@y.example"],
        ]
        * 2
    )  # the reply, then its resend
    forwarded = [r for r in sink.received if r.rcpt_tos == ["vendor@partner.example"]]
    assert len(forwarded) == 1 and "Fwd:" in forwarded[0].message["Subject"]
    reply = next(r for r in sink.received if r.message["Message-ID"] == replied["message_id"])
    (attachment,) = list(reply.message.iter_attachments())
    assert attachment.get_filename() == "notes.txt"


def test_an_injected_subject_is_one_line_of_error_and_nothing_is_queued(
    store: Store, sink: Sink, desk_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _maild(
        capsys,
        desk_config,
        "ticket",
        "reply",
        "SUP-000001",
        "--agent",
        "alice",
        "--body",
        "x",
        "--subject",
        "hi\r\nBcc: v@evil.example",
    )
    assert code == 2 and out == ""
    assert err.startswith("maild: subject must be a single line") and err.count("\n") == 1
    _deliver(store, desk_config)
    assert [r.message["Auto-Submitted"] for r in sink.received] == ["auto-replied"]


def test_new_incoming_ticket_from_the_command_line_gets_the_autoresponse(
    store: Store, sink: Sink, desk_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _maild(
        capsys,
        desk_config,
        "ticket",
        "new",
        "--agent",
        "alice",
        "--group",
        "Tier 1",
        "--customer",
        "ed@customer.example",
        "--subject",
        "VPN",
        "--body",
        "It drops.",
        "--incoming",
    )
    assert code == 0, err
    assert json.loads(out)["ticket"] == "SUP-000002"
    _deliver(store, desk_config)
    assert ["ed@customer.example"] in [r.rcpt_tos for r in sink.received]


def test_a_draft_is_saved_not_sent(
    store: Store, sink: Sink, desk_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _maild(
        capsys,
        desk_config,
        "ticket",
        "reply",
        "SUP-000001",
        "--agent",
        "alice",
        "--body",
        "later",
        "--draft",
    )
    assert code == 0 and json.loads(out)["draft"] == "saved"
    _deliver(store, desk_config)
    assert len(sink.received) == 1  # the autoresponse only
