"""Ingest throughput: maild's whole pipeline against a baseline measured in the same run.

The baseline is what any importer must at least do: parse each message with the standard library
and insert it durably into SQLite (WAL, synchronous=FULL), one committed insert per message.
maild does far more per message (spool, dedupe, parse with fallbacks, classify, thread, ticket,
history, autoresponse outbox row); the target (issue 7) is the baseline's rate, 1.0x.

    .venv/bin/python bench/ingest.py [N]
"""

from __future__ import annotations

import resource
import sqlite3
import sys
import tempfile
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maild.ingest.pipeline import Pipeline  # noqa: E402
from maild.ingest.sources import SourceMessage  # noqa: E402
from maild.runtime import build_apply_context, open_store  # noqa: E402
from maild.settings import DatabaseSettings, DepartmentConfig, GroupConfig, Settings  # noqa: E402


def generate(n: int) -> list[bytes]:
    """A realistic mix: new requests, tagged replies, multipart with attachments, RFC 2047."""
    out: list[bytes] = []
    requesters: list[int] = []  # requesters[k] opened ticket k + 1 (every non-reply opens one)
    for i in range(n):
        reply_to = (i * 7919) % len(requesters) if i % 4 == 1 and requesters else None
        customer = requesters[reply_to] if reply_to is not None else i % 97
        msg = EmailMessage()
        # A domain of their own each, as a desk's customers have: one shared domain would be
        # held to the autoresponder's per-domain limit after 100 mails and skip that work.
        msg["From"] = f"Customer {customer} <customer{customer}@shop{customer}.example>"
        msg["To"] = "support@example.com"
        msg["Message-ID"] = f"<bench-{i}@example.org>"
        msg["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
        if reply_to is not None:
            msg["Subject"] = f"Re: [#SUP-{reply_to + 1:06d}] Cannot log in"
            msg.set_content("Thanks, that helped.\n\n> quoted text\n" * 3)
        else:
            requesters.append(customer)
            _new_request(msg, i)
        out.append(msg.as_bytes())
    return out


def _new_request(msg: EmailMessage, i: int) -> None:
    if i % 4 == 0:
        msg["Subject"] = f"Cannot log in ({i})"
        msg.set_content("Hello,\n\nI cannot log in since this morning.\n" * 5)
    elif i % 4 == 2:
        msg["Subject"] = f"Rechnung für März – Nr. {i}"  # becomes RFC 2047 encoded
        msg.set_content("Anbei die Rechnung.\n")
        pdf = b"%PDF-1.4 " + bytes(20_000)
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"r-{i}.pdf")
    else:
        msg["Subject"] = f"Order {i}"
        msg.set_content("plain part")
        msg.add_alternative(f"<html><body><p>Order <b>{i}</b></p></body></html>", subtype="html")


def baseline(messages: list[bytes], directory: Path) -> float:
    db = sqlite3.connect(directory / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, mid TEXT, subject TEXT, raw BLOB)")
    parser = BytesParser(policy=policy.default)
    start = time.perf_counter()
    for raw in messages:
        parsed = parser.parsebytes(raw)
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO m (mid, subject, raw) VALUES (?, ?, ?)",
            (str(parsed["Message-ID"]), str(parsed["Subject"]), raw),
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return len(messages) / elapsed


def maild_rate(messages: list[bytes], directory: Path) -> tuple[float, dict[str, int]]:
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{directory / 'maild.db'}"),
        departments=(
            DepartmentConfig(
                name="Support",
                addresses=("support@example.com",),
                autoresponder_body="We got it: {{ ticket.number }}",
            ),
        ),
        groups=(GroupConfig(name="Tier 1", department="Support"),),
    )
    store = open_store(settings, initialise=True)
    pipeline = Pipeline(store, build_apply_context(settings))
    sources = (SourceMessage(f"bench#{i}", raw) for i, raw in enumerate(messages))
    counts: dict[str, int] = {}
    start = time.perf_counter()
    for result in pipeline.ingest(sources):
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    elapsed = time.perf_counter() - start
    store.close()
    return len(messages) / elapsed, counts


def main(n: int) -> None:
    messages = generate(n)
    size = sum(len(m) for m in messages)
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(messages, Path(tmp))
        ours, counts = maild_rate(messages, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages: {n} ({size / 1e6:.1f} MB), outcomes: {counts}")
    print(f"baseline (stdlib parse + durable insert): {base:8.1f} msg/s")
    print(
        f"maild ingest pipeline:                   {ours:8.1f} msg/s "
        f"({ours / base:.2f} x baseline; target >= 1.0, issue 7)"
    )
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
