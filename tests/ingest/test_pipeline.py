"""The pipeline's promises: spool first, process once, retry then hold, reprocess after a fix."""

from __future__ import annotations

import dataclasses
import io
import mailbox
import os
import tracemalloc
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.ingest import apply as apply_module
from maild.ingest.pipeline import Pipeline
from maild.ingest.sources import SourceMessage, iter_messages, split_stream
from maild.ingest.spool import Envelope, message_key, spool
from maild.provision import apply_config
from maild.runtime import build_apply_context
from maild.settings import DepartmentConfig, GroupConfig, IngestLimits
from maild.store.db import Store
from maild.store.models import Department, History, Inbound, Message, Raw, Ticket
from maild.tickets import history as history_module
from maild.values import Direction, InboundState, Outcome
from tests.ingest.test_flows import FLOWS, make_settings


@pytest.fixture
def pipeline(store: Store, now: datetime) -> Pipeline:
    settings = make_settings()
    with store.transaction() as session:
        apply_config(session, settings, now)
    return Pipeline(store, build_apply_context(settings), clock=lambda: now)


def _request(n: int) -> bytes:
    raw = (FLOWS / "new-request.eml").read_bytes()
    return raw.replace(b"<req-1@", f"<req-{n}-x@".encode())


def _count(store: Store, model: type) -> int:
    with store.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_receive_commits_the_raw_bytes_before_any_processing(pipeline: Pipeline) -> None:
    spooled = pipeline.receive(_request(1), "smtp", Envelope("carol@customer.example", ()))
    with pipeline.store.transaction() as session:
        row = session.get(Inbound, spooled.inbound_id)
        assert row is not None and row.state is InboundState.RECEIVED
        raw = session.get(Raw, row.raw_id)
        assert raw is not None and raw.data == _request(1)
    assert _count(pipeline.store, Ticket) == 0
    (result,) = pipeline.process(pipeline.pending())
    assert result.outcome is Outcome.NEW_TICKET


def test_same_message_by_two_transports_is_processed_once(pipeline: Pipeline) -> None:
    first = pipeline.receive(_request(1), "smtp", Envelope("carol@customer.example", ()))
    second = pipeline.receive(_request(1), "imap:support/INBOX", Envelope())
    assert second.duplicate and second.inbound_id == first.inbound_id
    pipeline.process([first.inbound_id, second.inbound_id])
    assert _count(pipeline.store, Ticket) == 1


def test_same_message_id_with_other_bytes_is_not_a_duplicate(pipeline: Pipeline) -> None:
    a = _request(1)
    b = a.replace(b"smells of smoke", b"smells of toast")
    assert message_key(a) == message_key(b)
    results = list(pipeline.ingest([SourceMessage("a", a), SourceMessage("b", b)]))
    assert [r.outcome for r in results] == [Outcome.NEW_TICKET, Outcome.NEW_TICKET]


def test_failing_message_is_retried_then_held_without_blocking_the_next(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = apply_module.parse_message

    def flaky(raw: bytes, limits: IngestLimits):  # type: ignore[no-untyped-def]
        if b"<req-1-x@" in raw:
            calls.append(1)
            raise RuntimeError("database went away")
        return real(raw, limits)

    monkeypatch.setattr(apply_module, "parse_message", flaky)
    results = list(
        pipeline.ingest([SourceMessage("a", _request(1)), SourceMessage("b", _request(2))])
    )
    assert [r.outcome for r in results] == [Outcome.HELD, Outcome.NEW_TICKET]
    assert len(calls) == IngestLimits().max_attempts
    assert "database went away" in results[0].reason
    with pipeline.store.transaction() as session:
        held = session.scalars(sa.select(Inbound).where(Inbound.state == InboundState.HELD)).one()
    assert held.attempts == IngestLimits().max_attempts

    monkeypatch.setattr(apply_module, "parse_message", real)  # the fix
    (again,) = pipeline.reprocess([held.id])
    assert again.outcome is Outcome.NEW_TICKET
    assert _count(pipeline.store, Ticket) == 2


def test_message_over_the_size_limit_is_held_with_the_reason(store: Store, now: datetime) -> None:
    settings = dataclasses.replace(make_settings(), ingest=IngestLimits(max_message_bytes=1000))
    with store.transaction() as session:
        apply_config(session, settings, now)
    pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: now)
    big = _request(1) + b"x" * 2000
    (result,) = pipeline.ingest([SourceMessage("big", big)])
    assert result.outcome is Outcome.HELD
    assert "1000" in result.reason
    with store.transaction() as session:
        row = session.scalars(sa.select(Inbound)).one()
        raw = session.get(Raw, row.raw_id)
    assert raw is not None and raw.data == big  # held, never lost


def test_empty_message_is_held(pipeline: Pipeline) -> None:
    (result,) = pipeline.ingest([SourceMessage("empty", b"")])
    assert result.outcome is Outcome.HELD
    assert "empty" in result.reason


def test_sources_read_files_directories_maildirs_and_mbox(tmp_path: Path) -> None:
    (tmp_path / "one.eml").write_bytes(_request(1))
    maildir = mailbox.Maildir(tmp_path / "box")
    maildir.add(_request(2))
    maildir.add(_request(3))
    box = mailbox.mbox(tmp_path / "archive.mbox")
    box.add(_request(4))
    box.add(_request(5))
    box.flush()
    box.close()
    sources = [m.source for m in iter_messages([str(tmp_path)])]
    assert len(sources) == 5
    assert sum(s.endswith(("#1", "#2")) for s in sources) == 2


def test_mbox_message_bytes_are_the_message_without_the_separator(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "a.mbox")
    box.add(_request(7))
    box.flush()
    box.close()
    (message,) = iter_messages([str(tmp_path / "a.mbox")])
    assert message.raw.startswith(b"From: Carol")
    assert message_key(message.raw) == "<req-7-x@customer.example>"


def test_mbox_on_standard_input_is_split_into_its_messages() -> None:
    data = b"From a@b Mon Mar  2 09:00:00 2026\n" + _request(8) + b"\n"
    data += b"From a@b Mon Mar  2 09:01:00 2026\n" + _request(9)
    messages = list(split_stream(io.BytesIO(data), "-"))
    assert [m.source for m in messages] == ["-#1", "-#2"]
    assert [message_key(m.raw) for m in messages] == ["<req-8-x@customer.example>",
                                                      "<req-9-x@customer.example>"]  # fmt: skip


def test_one_message_costs_at_most_ten_times_its_size(pipeline: Pipeline) -> None:
    """DESIGN §3: memory stays bounded; a message costs at most ~10x its size in process."""
    list(pipeline.ingest([SourceMessage("warm-up", _request(1))]))  # imports, caches
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carol@customer.example", "support@example.com", "x"
    msg["Message-ID"] = "<big@customer.example>"
    msg.set_content("see attached")
    payload = os.urandom(3_000_000)
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="b.bin")
    raw = msg.as_bytes()
    tracemalloc.start()
    try:
        (result,) = pipeline.ingest([SourceMessage("big", raw)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.outcome is Outcome.NEW_TICKET
    assert len(raw) + peak <= 10 * len(raw), f"peak {peak / len(raw):.1f}x the message"


def _with_sales(store: Store, now: datetime) -> Pipeline:
    base = make_settings()
    sales = DepartmentConfig(name="Sales", addresses=("sales@example.com",))
    settings = dataclasses.replace(
        base,
        departments=(*base.departments, sales),
        groups=(*base.groups, GroupConfig(name="Sales team", department="Sales")),
    )
    with store.transaction() as session:
        apply_config(session, settings, now)
    return Pipeline(store, build_apply_context(settings), clock=lambda: now)


def test_the_department_a_mailbox_assigns_wins_over_the_recipients(
    store: Store, now: datetime
) -> None:
    pipeline = _with_sales(store, now)
    with store.transaction() as session:  # addressed to support@, fetched from Sales' mailbox
        spooled = spool(session, _request(1), "imap:sales/INBOX", Envelope(), now, "Sales")
    (result,) = pipeline.process([spooled.inbound_id])
    assert result.outcome is Outcome.NEW_TICKET
    with store.transaction() as session:
        ticket = session.scalars(sa.select(Ticket)).one()
        assert session.get(Department, ticket.department_id).name == "Sales"  # type: ignore[union-attr]


def test_a_mailbox_naming_a_missing_department_holds_its_mail_with_the_reason(
    store: Store, now: datetime
) -> None:
    pipeline = _with_sales(store, now)
    with store.transaction() as session:
        spooled = spool(session, _request(1), "imap:old/INBOX", Envelope(), now, "Billing")
    (result,) = pipeline.process([spooled.inbound_id])
    assert result.outcome is Outcome.HELD and "'Billing'" in result.reason


def test_a_nul_in_the_message_id_does_not_make_the_mail_unstorable(pipeline: Pipeline) -> None:
    raw = _request(1).replace(b"Message-ID: <req-1-x@", b"Message-ID: <req-\x00-x@")
    spooled = pipeline.receive(raw, "imap:support/INBOX", Envelope())
    again = pipeline.receive(raw, "imap:support/INBOX", Envelope())
    assert again.duplicate and again.inbound_id == spooled.inbound_id


def _reply(n: int, number: str) -> bytes:
    raw = (FLOWS / "new-request.eml").read_bytes()
    raw = raw.replace(b"<req-1@", f"<reply-{n}@".encode())
    return raw.replace(b"Subject: ", f"Subject: Re: [#{number}] ".encode())


def test_a_mail_is_written_with_at_most_one_flush(pipeline: Pipeline) -> None:
    """Issue 7 item 6: the unit of work cost more than the rest of the pipeline; each mail's
    rows are written with one flush at most, in a bounded number of statements (spool and
    autoresponse included), and nothing it did is lost on the way."""
    statements: list[str] = []
    flushes: list[object] = []

    def on_statement(*args: object) -> None:
        statements.append(str(args[2]))

    def on_flush(*args: object) -> None:
        flushes.append(args[0])

    engine = pipeline.store.engine
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(sa.orm.Session, "before_flush", on_flush)
    try:
        opened = list(pipeline.ingest([SourceMessage(f"n{i}", _request(i)) for i in range(5)]))
        numbers = [r.ticket for r in opened]
        replies = [SourceMessage(f"r{i}", _reply(i, n or "")) for i, n in enumerate(numbers)]
        appended = list(pipeline.ingest(replies))
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)
        sa.event.remove(sa.orm.Session, "before_flush", on_flush)
    assert [r.outcome for r in opened] == [Outcome.NEW_TICKET] * 5
    assert [r.outcome for r in appended] == [Outcome.APPENDED] * 5
    assert len(flushes) <= 10, f"{len(flushes)} flushes for 10 mails"
    assert len(statements) <= 10 * 16, f"{len(statements) / 10:.1f} statements per mail"
    with pipeline.store.transaction() as session:
        histories = session.execute(
            sa.select(History.ticket_id, History.action).order_by(History.id)
        ).all()
        incoming = sa.select(sa.func.count()).where(Message.direction == Direction.IN)
        messages = session.scalar(incoming)
    first = [action for ticket_id, action in histories if ticket_id == histories[0][0]]
    assert first[0] == "created" and "customer_reply" in first
    assert messages == 10


def test_history_written_at_the_batch_end_failing_runs_the_batch_again_isolated(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's history entries go in together at its end; when that write fails, no mail
    loses its history or is charged an attempt: the batch runs again, one savepoint per mail."""
    real = history_module.write_deferred
    failures: list[int] = []

    def fails_once(session: sa.orm.Session) -> None:
        if not failures and session.info.get("maild.history_deferred"):
            failures.append(1)
            raise RuntimeError("disk full")
        real(session)

    monkeypatch.setattr(history_module, "write_deferred", fails_once)
    results = list(pipeline.ingest([SourceMessage(f"m{i}", _request(i)) for i in range(3)]))
    assert failures == [1]
    assert [r.outcome for r in results] == [Outcome.NEW_TICKET] * 3
    with pipeline.store.transaction() as session:
        rows = session.scalars(sa.select(Inbound)).all()
        created = session.scalar(
            sa.select(sa.func.count()).where(History.action == "created").select_from(History)
        )
    assert [row.attempts for row in rows] == [1, 1, 1]
    assert created == 3
