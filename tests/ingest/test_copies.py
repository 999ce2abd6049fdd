"""One mail, one ticket (issue 13 item 5): a customer writes To support@ and Cc sales@, and each
department's mailbox gets its own copy (same Message-ID, sender and content; its own
Delivered-To). The first addressed department gets the ticket; the other copy is a duplicate
delivery, whichever arrives first and however many processes take them at once."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from maild.cli import main
from maild.ingest import apply as apply_module
from maild.ingest.pipeline import IngestResult, Pipeline
from maild.ingest.sources import SourceMessage
from maild.ingest.spool import Envelope, spool
from maild.provision import apply_config
from maild.runtime import build_apply_context
from maild.settings import DepartmentConfig, GroupConfig, IngestLimits, MemberConfig, Settings
from maild.store.db import Store
from maild.store.models import Department, FirstCopy, History, Inbound, Message, Outbox, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.housekeeping import delete_ticket, purge_deleted
from maild.tickets.lookup import get_ticket
from maild.tickets.merge import merge
from maild.tickets.ports import QueueOnly
from maild.values import Direction, Outcome
from tests.conftest import FIXTURES
from tests.ingest.test_flows import make_settings
from tests.support import write_config

SUPPORT_COPY = FIXTURES / "cc-two-departments-support.eml"
SALES_COPY = FIXTURES / "cc-two-departments-sales.eml"
MESSAGE_ID = "<8c1f3a52-6e0b-4d7a-9f21-3b5e7d9c0a14@customer.example>"

SALES = """
[[departments]]
name = "Sales"
addresses = ["sales@example.com"]
autoresponder_body = "Sales ticket {{ ticket.number }} is open."

[[groups]]
name = "Sales team"
department = "Sales"
members = [{ agent = "alice" }]
"""


def two_departments(window_minutes: int = 1440) -> Settings:
    """Support (support@example.com) and Sales (sales@example.com), each with a group."""
    desk = make_settings()
    sales = DepartmentConfig(
        name="Sales",
        addresses=("sales@example.com",),
        autoresponder_body="Sales ticket {{ ticket.number }} is open.",
    )
    team = GroupConfig(name="Sales team", department="Sales", members=(MemberConfig("alice"),))
    return Settings(
        tickets=desk.tickets,
        ingest=IngestLimits(duplicate_window_minutes=window_minutes),
        departments=(*desk.departments, sales),
        groups=(*desk.groups, team),
        agents=desk.agents,
    )


class Desk:
    """Both departments on one store, a clock the test moves, mail fed as a transport does."""

    def __init__(self, store: Store, now: datetime, settings: Settings | None = None) -> None:
        self.store, self.now = store, now
        settings = settings or two_departments()
        with store.transaction() as session:
            apply_config(session, settings, now)
        self.pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: self.now)

    def lmtp(self, raw: bytes, rcpt: str) -> IngestResult:
        """Delivered as Postfix hands it to an LMTP server: one recipient, the customer's
        envelope sender."""
        spooled = self.pipeline.receive(
            raw, "lmtp", Envelope("jana.novak@customer.example", (rcpt,))
        )
        (result,) = self.pipeline.process([spooled.inbound_id])
        return result

    def imap(self, raw: bytes, department: str) -> IngestResult:
        """Fetched from a department's IMAP mailbox: the account names the department."""
        with self.store.transaction() as session:
            spooled = spool(
                session, raw, f"imap:{department}/INBOX", Envelope(), self.now, department
            )
        (result,) = self.pipeline.process([spooled.inbound_id])
        return result

    def file(self, raw: bytes, name: str = "mail.eml") -> IngestResult:
        (result,) = self.pipeline.ingest([SourceMessage(name, raw)])
        return result

    def count(self, model: type) -> int:
        with self.store.transaction() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0

    def incoming(self) -> int:
        """Incoming messages stored on tickets (the autoresponses are outgoing ones)."""
        with self.store.transaction() as session:
            query = sa.select(sa.func.count()).where(Message.direction == Direction.IN)
            return session.scalar(query) or 0

    def department_of(self, number: str | None) -> str:
        with self.store.transaction() as session:
            query = (
                sa.select(Department.name)
                .join(Ticket, Ticket.department_id == Department.id)
                .where(Ticket.number == number)
            )
            return session.scalars(query).one()


def support_copy() -> bytes:
    return SUPPORT_COPY.read_bytes()


def sales_copy() -> bytes:
    return SALES_COPY.read_bytes()


def _request() -> bytes:
    """Another mail of the same customer, To support@ only."""
    return (
        support_copy()
        .replace(b"<8c1f3a52-", b"<5be02f71-")
        .replace(b"Cc: sales@example.com\n", b"")
        .replace(b"Invoice 2026-0113 charged twice", b"Invoice 2026-0113 again")
    )


def reply_copy(raw: bytes, number: str) -> bytes:
    """The customer's answer to the autoresponse, To support@ and Cc sales@ again."""
    return (
        raw.replace(b"<8c1f3a52-", b"<a27d90c4-")
        .replace(b"Subject: ", f"Subject: Re: [#{number}] ".encode())
        .replace(b"charged twice for", b"still charged twice for")
    )


# --- through the command line -------------------------------------------------------------


def _maild(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(list(args)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_mail_to_two_departments_is_one_ticket_through_ingest_and_export(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, db_url)
    config.write_text(config.read_text() + SALES)
    # Both departments' Maildirs imported, sales' first: the ticket is still Support's.
    lines = _maild(capsys, "--config", str(config), "ingest", str(SALES_COPY), str(SUPPORT_COPY))

    assert [line["outcome"] for line in lines] == ["new_ticket", "duplicate_delivery"]
    assert {line["message_id"] for line in lines} == {MESSAGE_ID}
    number = lines[0]["ticket"]
    assert lines[1]["ticket"] == number
    assert "another copy" in lines[1]["reason"]

    (record,) = _maild(capsys, "--config", str(config), "export", "--json")
    assert (record["number"], record["department"]) == (number, "Support")
    incoming = [m["message_id"] for m in record["messages"] if m["direction"] == "in"]
    assert incoming == [MESSAGE_ID]  # and the one autoresponse, out

    (shown,) = _maild(capsys, "--config", str(config), "ticket", "show", number, "--json")
    (entry,) = [h for h in shown["history"] if h["action"] == "duplicate_delivery"]
    assert "support@example.com" in entry["detail"]  # its Delivered-To: the second file's
    autoresponses = [h for h in shown["history"] if h["action"] == "autoresponse"]
    assert [h["detail"] for h in autoresponses] == ["queued"]
    store = Store.open(db_url)
    try:
        with store.transaction() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 1
            outcomes = session.scalars(sa.select(Inbound.outcome).order_by(Inbound.id)).all()
            assert outcomes == ["new_ticket", "duplicate_delivery"]
    finally:
        store.close()


# --- the rules, on each database ----------------------------------------------------------


def test_the_ticket_opens_in_the_first_addressed_department_whichever_copy_comes_first(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now)
    first = desk.lmtp(sales_copy(), "sales@example.com")
    second = desk.lmtp(support_copy(), "support@example.com")

    assert (first.outcome, second.outcome) == (Outcome.NEW_TICKET, Outcome.DUPLICATE_DELIVERY)
    assert second.ticket == first.ticket
    assert desk.department_of(first.ticket) == "Support"
    assert (desk.count(Ticket), desk.incoming(), desk.count(Outbox)) == (1, 1, 1)
    with store.transaction() as session:
        row = session.get_one(Inbound, second.inbound_id)
        assert (row.outcome, row.state.value) == ("duplicate_delivery", "done")
        assert row.ticket_id is not None
        detail = session.scalars(
            sa.select(History.detail).where(History.action == "duplicate_delivery")
        ).one()
        assert detail == f"another copy, delivered to support@example.com: spool entry {row.id}"


def test_copies_fetched_from_two_imap_mailboxes_are_one_ticket(store: Store, now: datetime) -> None:
    desk = Desk(store, now)
    first = desk.imap(sales_copy(), "Sales")
    second = desk.imap(support_copy(), "Support")
    assert (first.outcome, second.outcome) == (Outcome.NEW_TICKET, Outcome.DUPLICATE_DELIVERY)
    assert desk.department_of(first.ticket) == "Support"


def test_a_copy_to_a_department_the_headers_do_not_name_keeps_its_department(
    store: Store, now: datetime
) -> None:
    # Bcc'd to sales: only the envelope says so, and no copy for a To/Cc department may come.
    desk = Desk(store, now)
    alone = support_copy().replace(b"Cc: sales@example.com\n", b"")
    result = desk.lmtp(alone, "sales@example.com")
    assert desk.department_of(result.ticket) == "Sales"


def test_a_reply_copied_to_two_departments_joins_its_ticket_once(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now)
    number = desk.lmtp(support_copy(), "support@example.com").ticket
    assert number is not None
    desk.lmtp(sales_copy(), "sales@example.com")
    desk.now += timedelta(hours=2)
    first = desk.lmtp(reply_copy(sales_copy(), number), "sales@example.com")
    second = desk.lmtp(reply_copy(support_copy(), number), "support@example.com")

    assert (first.outcome, second.outcome) == (Outcome.APPENDED, Outcome.DUPLICATE_DELIVERY)
    assert first.ticket == second.ticket == number
    assert (desk.count(Ticket), desk.incoming()) == (1, 2)


def test_a_forged_copy_from_another_sender_is_its_own_mail(store: Store, now: datetime) -> None:
    desk = Desk(store, now)
    genuine = desk.lmtp(support_copy(), "support@example.com")
    forged = sales_copy().replace(b"From: Jana Novak <jana.novak@", b"From: Jana Novak <jana@")
    other = desk.lmtp(forged, "sales@example.com")
    assert other.outcome is Outcome.NEW_TICKET and other.ticket != genuine.ticket


def test_a_copy_after_the_window_is_a_new_mail_and_the_window_starts_again(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now, two_departments(window_minutes=60))
    first = desk.lmtp(support_copy(), "support@example.com")
    desk.now += timedelta(minutes=61)
    late = desk.lmtp(sales_copy(), "sales@example.com")
    desk.now += timedelta(minutes=30)
    # A third mailbox's copy (bytes of its own, or the spool would call it the same copy).
    third = support_copy().replace(b"Delivered-To: support@", b"Delivered-To: billing@")
    again = desk.file(third, "billing/cur/1")

    assert (late.outcome, late.ticket != first.ticket) == (Outcome.NEW_TICKET, True)
    # The late copy became the mail's first: 30 minutes after it is within the window again.
    assert (again.outcome, again.ticket) == (Outcome.DUPLICATE_DELIVERY, late.ticket)


def test_a_window_of_zero_gives_every_department_its_own_ticket(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now, two_departments(window_minutes=0))
    sales = desk.lmtp(sales_copy(), "sales@example.com")
    support = desk.lmtp(support_copy(), "support@example.com")
    assert (sales.outcome, support.outcome) == (Outcome.NEW_TICKET, Outcome.NEW_TICKET)
    assert [desk.department_of(sales.ticket), desk.department_of(support.ticket)] == [
        "Sales",
        "Support",
    ]


def test_a_copy_whose_first_failed_is_processed_as_the_first(
    store: Store, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failed copy's claim is rolled back with the rest of its work.
    desk = Desk(store, now, two_departments())
    real = apply_module.place_mail
    calls: list[int] = []

    def fail_first(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(apply_module, "place_mail", fail_first)
    held = desk.lmtp(sales_copy(), "sales@example.com")
    later = desk.lmtp(support_copy(), "support@example.com")
    assert (held.outcome, later.outcome) == (Outcome.HELD, Outcome.NEW_TICKET)
    (again,) = desk.pipeline.reprocess([held.inbound_id])
    assert (again.outcome, again.ticket) == (Outcome.DUPLICATE_DELIVERY, later.ticket)


def test_a_copy_after_a_merge_joins_the_ticket_its_first_copy_was_merged_into(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now)
    first = desk.lmtp(support_copy(), "support@example.com")
    other = desk.lmtp(_request(), "support@example.com")
    with store.transaction() as session:
        primary, merged = get_ticket(session, other.ticket), get_ticket(session, first.ticket)
        merge(session, primary, [merged], distributor=QueueOnly(), actor=SYSTEM, now=now)
    second = desk.lmtp(sales_copy(), "sales@example.com")
    assert (second.outcome, second.ticket) == (Outcome.DUPLICATE_DELIVERY, other.ticket)


def test_purging_the_ticket_forgets_its_first_copies(store: Store, now: datetime) -> None:
    desk = Desk(store, now)
    first = desk.lmtp(support_copy(), "support@example.com")
    with store.transaction() as session:
        ticket = get_ticket(session, first.ticket)
        delete_ticket(session, ticket, distributor=QueueOnly(), actor=SYSTEM, now=now)
        assert purge_deleted(session, now + timedelta(days=91)) == [first.ticket]
    assert (desk.count(FirstCopy), desk.count(Inbound)) == (0, 0)


def test_a_hostile_delivered_to_is_kept_out_of_the_history(store: Store, now: datetime) -> None:
    desk = Desk(store, now)
    desk.file(support_copy(), "support/cur/1")
    hostile = sales_copy().replace(b"Delivered-To: sales@", b"Delivered-To: \x00\x1b[2Jsales@")
    result = desk.file(hostile, "sales/cur/1")
    assert result.outcome is Outcome.DUPLICATE_DELIVERY
    with store.transaction() as session:
        detail = session.scalars(
            sa.select(History.detail).where(History.action == "duplicate_delivery")
        ).one()
    assert detail.startswith("another copy, delivered to [2Jsales@example.com: spool entry ")


# --- two processes at once ----------------------------------------------------------------


def _process_one(url: str, inbound_id: int, start: Callable[[], Any], now: datetime) -> None:
    """One maild process: applies its copy slowly, so the other process's copy is applied
    while this one's transaction is still open (a look-up before an insert would miss it)."""
    real = apply_module.place_mail

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return real(*args, **kwargs)

    apply_module.place_mail = slow  # type: ignore[assignment]
    store = Store.open(url)
    pipeline = Pipeline(store, build_apply_context(two_departments()), clock=lambda: now)
    start()
    pipeline.process([inbound_id])
    store.close()


@pytest.mark.slow
@pytest.mark.xdist_group("many-processes")
def test_two_processes_given_the_two_copies_at_once_open_one_ticket(
    store: Store, now: datetime
) -> None:
    desk = Desk(store, now)
    ids = [
        desk.pipeline.receive(raw, "lmtp", Envelope("jana.novak@customer.example", (rcpt,)))
        for raw, rcpt in (
            (sales_copy(), "sales@example.com"),
            (support_copy(), "support@example.com"),
        )
    ]
    url = store.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_process_one, args=(url, spooled.inbound_id, barrier.wait, now))
        for spooled in ids
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    with store.transaction() as session:
        rows = session.scalars(sa.select(Inbound).order_by(Inbound.id)).all()
        assert sorted(row.outcome for row in rows) == ["duplicate_delivery", "new_ticket"]
        assert rows[0].ticket_id == rows[1].ticket_id is not None
    assert (desk.count(Ticket), desk.incoming(), desk.count(Outbox)) == (1, 1, 1)
