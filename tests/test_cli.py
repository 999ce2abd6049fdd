"""The `maild` command: in-process through `main([...])`, and the installed console script."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.cli import COMMANDS, main
from maild.config import load_settings
from maild.daemon import run_services
from maild.errors import InvalidRequest
from maild.settings import TicketSettings
from maild.store.db import Store
from maild.store.models import Agent, ApiToken, Attachment, Department, Message
from maild.tickets.actors import SYSTEM
from maild.tickets.items import add_comment
from maild.tickets.lifecycle import NewTicket, open_ticket
from maild.tickets.merge import merge
from maild.tickets.participants import relate
from maild.tickets.ports import QueueOnly
from maild.values import Direction, Kind
from tests.daemon import free_port
from tests.support import free_listen

ROOT = Path(__file__).resolve().parent.parent
MAILD = ROOT / ".venv" / "bin" / "maild"
CONFIG = """
[database]
url = "sqlite:///{db}"

[[departments]]
name = "Support"
addresses = ["support@example.com"]

[[groups]]
name = "Tier 1"
department = "Support"
members = [{{ agent = "alice" }}, {{ agent = "bob" }}]

[[agents]]
name = "alice"

[[agents]]
name = "bob"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A config file pointing at a fresh SQLite database under tmp_path (not yet created)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILD_CONFIG", raising=False)
    path = tmp_path / "maild.toml"
    path.write_text(CONFIG.format(db=tmp_path / "maild.db"))
    return str(path)


@pytest.fixture
def initialised(config: str) -> str:
    assert main(["--config", config, "init"]) == 0
    return config


@pytest.fixture
def store(initialised: str) -> Iterator[Store]:
    store = Store.open(load_settings(initialised, environ={}).database.url)
    yield store
    store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def open_tickets(store: Store, count: int, start: datetime) -> list[str]:
    """`count` tickets an hour apart, each with one inbound message and one attachment."""
    numbers = []
    with store.transaction() as s:
        department = s.scalars(sa.select(Department)).one()
        for index in range(count):
            now = start + timedelta(hours=index)
            new = NewTicket(department.id, f"Printer {index} broken", f"user{index}@example.org")
            ticket = open_ticket(
                s, new, settings=TicketSettings(), distributor=QueueOnly(), actor=SYSTEM, now=now
            )
            message = Message(
                ticket_id=ticket.id, direction=Direction.IN, kind=Kind.NORMAL,
                message_id=f"<m{index}@example.org>", from_addr=new.requester,
                to_addrs='support@example.com, "Doe, Jane" <jane@example.org>',
                subject=new.subject, date=now, created_at=now,
            )  # fmt: skip
            message.attachments.append(
                Attachment(filename="a.txt", size=1, sha256="0" * 64, data=b"x")
            )
            s.add(message)
            numbers.append(ticket.number)
    return numbers


# --- init, config apply, agent token ------------------------------------------------------


def test_init_creates_the_database_and_applies_the_config(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--config", config, "init")
    assert code == 0
    assert (tmp_path / "maild.db").exists()
    assert "database ready" in out and "created department 'Support'" in out


def test_config_apply_twice_reports_nothing_to_change(
    initialised: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--config", initialised, "config", "apply")
    assert code == 0
    assert out.strip() == "nothing to change: the database already matches the config"


def test_config_apply_before_init_says_to_run_init(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--config", config, "config", "apply")
    assert code == 2 and out == ""
    assert err.startswith("maild: database ") and "maild init" in err
    assert len(err.strip().splitlines()) == 1


def test_agent_token_prints_a_token_stored_hashed(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--config", initialised, "agent", "token", "alice")
    token = out.strip()
    assert code == 0 and len(token) >= 40
    with store.transaction() as s:
        row = s.scalars(sa.select(ApiToken)).one()
        assert s.get(Agent, row.agent_id).name == "alice"
        assert row.token_hash != token


def test_agent_token_for_unknown_agent_fails_with_one_line(
    initialised: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--config", initialised, "agent", "token", "carol")
    assert code == 2 and out == ""
    assert err == (
        "maild: no agent named 'carol'; declare it under [[agents]] in the config"
        " and run `maild config apply`\n"
    )


def test_agent_revoke_removes_every_token_of_the_agent(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        run(capsys, "--config", initialised, "agent", "token", "alice")
    run(capsys, "--config", initialised, "agent", "token", "bob")
    code, out, _ = run(capsys, "--config", initialised, "agent", "revoke", "alice")
    assert code == 0 and out.strip() == "revoked 2 token(s) of alice"
    with store.transaction() as s:
        owners = s.scalars(sa.select(Agent.name).join(ApiToken, ApiToken.agent_id == Agent.id))
        assert list(owners) == ["bob"]
    code, _, err = run(capsys, "--config", initialised, "agent", "revoke", "carol")
    assert code == 2 and err.startswith("maild: no agent named 'carol'")


# --- errors -------------------------------------------------------------------------------


def test_malformed_config_is_one_line_with_file_key_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[smtp]\nlisten = "everywhere"\n')
    code, _, err = run(capsys, "--config", str(path), "init")
    assert code == 2
    assert err.startswith(f"maild: {path}: smtp.listen: 'everywhere' is not host:port")
    assert not (tmp_path / "var").exists()  # nothing was created


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ticket", "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_missing_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "usage: maild" in err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from maild import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"maild {__version__}"


def _crash(settings: object, args: object) -> int:
    raise RuntimeError("disk on fire\nsecond line")


@pytest.fixture
def crashing_config_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """`maild config apply` with a handler that fails the way a bug does."""
    crashing = [
        dataclasses.replace(c, handler=_crash) if c.name == "config apply" else c for c in COMMANDS
    ]
    monkeypatch.setattr("maild.cli.COMMANDS", crashing)
    monkeypatch.delenv("MAILD_DEBUG", raising=False)


@pytest.mark.usefixtures("crashing_config_apply")
def test_unexpected_error_is_one_line_with_a_hint(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "config", "apply")
    assert code == 1
    assert err.splitlines() == [
        "maild: unexpected error: RuntimeError: disk on fire second line"
        " (run with --debug or MAILD_DEBUG=1 to see the traceback)"
    ]


@pytest.mark.usefixtures("crashing_config_apply")
def test_debug_flag_and_variable_show_the_traceback(
    config: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--debug", "config", "apply")
    assert code == 1 and "Traceback" in err and 'raise RuntimeError("disk on fire' in err
    monkeypatch.setenv("MAILD_DEBUG", "1")
    code, _, err = run(capsys, "config", "apply")
    assert code == 1 and "Traceback" in err


def test_every_registered_command_is_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        assert main([*command.name.split(), "--help"]) == 0
        assert command.help.split()[0] in capsys.readouterr().out


# --- ticket list / show -------------------------------------------------------------------


def test_ticket_list_json_follows_view_sort_and_paging(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = open_tickets(store, 3, datetime(2026, 3, 1, tzinfo=UTC))
    base = ["--config", initialised, "ticket", "list", "--view", "queue", "--json"]
    code, out, _ = run(capsys, *base, "--sort", "number", "--order", "desc")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [r["number"] for r in rows] == numbers[::-1]
    assert rows[0]["group"] == "Tier 1" and rows[0]["agent"] is None
    assert rows[0]["status"] == "active" and rows[0]["message_count"] == 1
    _, out, _ = run(capsys, *base, "--sort", "number", "--limit", "1", "--offset", "1")
    assert [json.loads(line)["number"] for line in out.splitlines()] == [numbers[1]]
    _, out, _ = run(capsys, *base, "--q", "printer 2")
    assert [json.loads(line)["number"] for line in out.splitlines()] == [numbers[2]]


def test_ticket_list_as_a_table(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = open_tickets(store, 1, datetime(2026, 3, 1, tzinfo=UTC))
    code, out, _ = run(capsys, "--config", initialised, "ticket", "list")
    header, line = out.splitlines()
    assert code == 0 and header.split()[:3] == ["NUMBER", "STATUS", "PRIORITY"]
    assert line.startswith(number) and "(queue)" in line and "Printer 0 broken" in line


def test_ticket_list_mine_view_needs_and_uses_the_agent(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    open_tickets(store, 1, datetime(2026, 3, 1, tzinfo=UTC))
    base = ["--config", initialised, "ticket", "list", "--view", "mine_active"]
    code, _, err = run(capsys, *base)
    assert code == 2 and "name the agent" in err
    code, out, _ = run(capsys, *base, "--agent", "alice", "--json")
    assert code == 0 and out == ""  # the ticket is in the queue, not alice's
    code, _, err = run(capsys, *base, "--agent", "zed")
    assert code == 2 and "no agent named 'zed'" in err


def test_ticket_list_unknown_group_names_it(
    initialised: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--config", initialised, "ticket", "list", "--group", "Tier 9")
    assert code == 2 and err.startswith("maild: no group named 'Tier 9'")


def test_ticket_show_json_has_messages_comments_and_history(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (number,) = open_tickets(store, 1, datetime(2026, 3, 1, tzinfo=UTC))
    with store.transaction() as s:
        from maild.tickets.lookup import get_ticket

        add_comment(s, get_ticket(s, number), "called the customer", actor=SYSTEM, now=_t(2))
    code, out, _ = run(capsys, "--config", initialised, "ticket", "show", number, "--json")
    detail = json.loads(out)
    assert code == 0 and detail["number"] == number
    assert detail["messages"][0]["to"] == ["support@example.com", '"Doe, Jane" <jane@example.org>']
    assert detail["messages"][0]["attachments"] == 1
    assert detail["comments"][0]["body"] == "called the customer"
    assert [h["action"] for h in detail["history"]][0] == "created"
    code, out, _ = run(capsys, "--config", initialised, "ticket", "show", number)
    assert code == 0 and "called the customer" in out and "Printer 0 broken" in out


def test_ticket_show_unknown_number_names_it(
    initialised: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--config", initialised, "ticket", "show", "SUP-999999")
    assert code == 2 and out == ""
    assert err.startswith("maild: no ticket 'SUP-999999'")


def _t(hours: int) -> datetime:
    return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=hours)


# --- export -------------------------------------------------------------------------------


def test_export_writes_one_json_line_per_ticket_with_links_and_messages(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = open_tickets(store, 4, _t(0))
    with store.transaction() as s:
        from maild.tickets.lookup import get_ticket

        first, second, third, fourth = (get_ticket(s, n) for n in numbers)
        relate(s, first, second, actor=SYSTEM, now=_t(5))
        merge(s, third, [fourth], distributor=QueueOnly(), actor=SYSTEM, now=_t(6))
    code, out, _ = run(capsys, "--config", initialised, "export", "--json")
    records = {r["number"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0
    assert set(records) == set(numbers[:3])  # the merged-away ticket lives on in the third
    assert records[numbers[0]]["related"] == [numbers[1]]
    assert records[numbers[1]]["related"] == [numbers[0]]
    assert records[numbers[2]]["merged"] == [numbers[3]]
    assert records[numbers[0]]["created_at"] == _t(0).isoformat()
    assert records[numbers[0]]["department"] == "Support"
    first_message = records[numbers[0]]["messages"][0]
    assert first_message == {
        "message_id": "<m0@example.org>",
        "direction": "in",
        "kind": "normal",
        "from": "user0@example.org",
        "to": ["support@example.com", '"Doe, Jane" <jane@example.org>'],
        "cc": [],
        "subject": "Printer 0 broken",
        "date": _t(0).isoformat(),
        "attachments": 1,
        "sender_auth": None,  # a file import without a trusted Authentication-Results
    }
    assert len(records[numbers[2]]["messages"]) == 2  # its own and the merged one's


def test_export_streams_in_batches(
    initialised: str, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    import maild.export

    monkeypatch.setattr(maild.export, "EXPORT_BATCH", 2)
    numbers = open_tickets(store, 5, _t(0))
    batches: list[int] = []
    real = maild.export.tickets_with_messages
    monkeypatch.setattr(
        maild.export,
        "tickets_with_messages",
        lambda session, ids, now: batches.append(len(ids)) or real(session, ids, now),
    )
    code, out, _ = run(capsys, "--config", initialised, "export")
    assert code == 0 and batches == [2, 2, 1]
    assert [json.loads(line)["number"] for line in out.splitlines()] == numbers


# --- serve --------------------------------------------------------------------------------


def test_run_services_stops_them_all_when_one_fails(initialised: str, store: Store) -> None:
    stopped = []

    async def waits(settings, store, stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.append("waiter")

    async def fails(settings, store, stop: asyncio.Event) -> None:
        raise InvalidRequest("relay refused")

    settings = load_settings(initialised, environ={})
    with pytest.raises(InvalidRequest, match="relay refused"):
        asyncio.run(run_services([waits, fails], settings, store))
    assert stopped == ["waiter"]


def _script_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILD_")}
    # `serve` runs the API: on a free port, never on a default another test may hold.
    return env | {"MAILD_CONFIG": str(tmp_path / "maild.toml"), "MAILD_API_LISTEN": free_listen()}


@pytest.mark.slow
def test_console_script_init_apply_token_export(config: str, tmp_path: Path) -> None:
    env = _script_env(tmp_path)

    def maild(*argv: str) -> str:
        done = subprocess.run(
            [str(MAILD), *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created agent 'alice'" in maild("init")
    assert "nothing to change" in maild("config", "apply")
    assert len(maild("agent", "token", "alice").strip()) >= 40
    store = Store.open(f"sqlite:///{tmp_path / 'maild.db'}")
    (number,) = open_tickets(store, 1, _t(0))
    store.close()
    (line,) = maild("export").splitlines()
    assert json.loads(line)["number"] == number


@pytest.mark.slow
def test_serve_exits_0_on_sigterm(initialised: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(MAILD), "serve"],
        env=_script_env(tmp_path) | {"MAILD_SMTP_LISTEN": f"127.0.0.1:{free_port()}"},
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # wait until it is serving, not merely started
            if "serving" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_module_runs_as_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "maild.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: maild" in done.stdout


# --- terminal safety (issue 12 item 7) ------------------------------------------------------

# An OSC 8 link, a line wipe with a carriage return, a bell and an 8-bit CSI, as a subject.
HOSTILE_SUBJECT = (
    "=?utf-8?q?Invoice_=1B]8;;https://evil.example/=07click=1B]8;;=07"
    "_=1B[2K=0Dpaid=07_=C2=9B31m_=E2=80=AEgnp.exe?="
)
RAW_CONTROLS = "[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]"  # everything but the line feed


def test_ticket_list_and_show_escape_control_characters_taken_from_mail(
    initialised: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = tmp_path / "hostile.eml"
    mail.write_bytes(
        f"From: mallory@attacker.example\r\nTo: support@example.com\r\n"
        f"Subject: {HOSTILE_SUBJECT}\r\nMessage-ID: <osc8@attacker.example>\r\n\r\nhi\r\n".encode()
    )
    assert main(["--config", initialised, "ingest", "--quiet", str(mail)]) == 0
    number = json.loads(capsys.readouterr().out)["ticket"]
    base = ["--config", initialised, "ticket"]
    outputs = {
        "list": run(capsys, *base, "list")[1],
        "show": run(capsys, *base, "show", number)[1],
        "list --json": run(capsys, *base, "list", "--json")[1],
        "show --json": run(capsys, *base, "show", number, "--json")[1],
    }
    for command, out in outputs.items():
        assert not re.search(RAW_CONTROLS, out), f"ticket {command} printed a raw control"
    assert "Invoice \\x1b]8;;https://evil.example/\\x07click" in outputs["list"]
    assert "\\x1b[2K\\x0dpaid\\x07 \\x9b31m \\u202egnp.exe" in outputs["show"]
    subject = json.loads(outputs["list --json"])["subject"]
    assert subject.startswith("Invoice \x1b]8;;") and "\x9b31m" in subject  # JSON keeps it
