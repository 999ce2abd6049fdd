"""Raw compression: every message's raw bytes read back byte-identical (also through the API's
download), and the SQLite file of an import shrinks (bench/compress.py measures 2,000 mails)."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from maild.api.app import create_app
from maild.ingest.pipeline import Pipeline
from maild.ingest.sources import SourceMessage
from maild.provision import apply_config, create_api_token
from maild.routing import RoundRobin
from maild.runtime import build_apply_context
from maild.scheduler import JobContext, find_job, run_job
from maild.store.db import Store
from maild.store.models import Message, Raw, Ticket
from maild.store.rawbytes import unpack
from tests.ingest.test_flows import make_settings
from tests.scheduler.conftest import job_context

WORDS = ("printer", "paper", "jam", "invoice", "refund", "login", "password", "toner", "order")


def customer_mails(n: int) -> list[bytes]:
    rng = random.Random(10)
    mails = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = f"Customer {i} <c{i}@example.org>"
        msg["To"] = "support@example.com"
        msg["Subject"] = f"Problem {i}: {' '.join(rng.choices(WORDS, k=4))}"
        msg["Message-ID"] = f"<compress-{i}@example.org>"
        lines = (" ".join(rng.choices(WORDS, k=12)) for _ in range(40))
        msg.set_content("Hello,\n\n" + "\n".join(lines) + "\n\nRegards\n")
        if i % 4 == 0:  # an attachment that does not compress
            msg.add_attachment(rng.randbytes(3000), "application", "octet-stream", filename="x.bin")
        mails.append(msg.as_bytes())
    return mails


def vacuumed_size(path: Path) -> int:
    # In WAL mode VACUUM writes the new file into the WAL: checkpoint to bring it back.
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def test_compressed_raw_bytes_read_back_identical_and_the_file_shrinks(
    store: Store, now: datetime
) -> None:
    settings = make_settings()
    with store.transaction() as s:
        apply_config(s, settings, now)
        token = create_api_token(s, "alice", now)
    mails = customer_mails(40)
    pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: now)
    list(pipeline.ingest(SourceMessage(f"m{i}", raw) for i, raw in enumerate(mails)))
    sqlite_file = Path(store.engine.url.database or "") if store.dialect == "sqlite" else None
    before = vacuumed_size(sqlite_file) if sqlite_file else 0
    ctx: JobContext = job_context(store)
    compress = find_job("compress")
    # Not before the tickets have been idle for a day.
    assert run_job(compress, ctx, lambda: now + timedelta(hours=23)).result.startswith("0 ")
    ran = run_job(compress, ctx, lambda: now + timedelta(hours=25))
    assert ran.result == "40 raw message(s) compressed"
    with store.sessions() as s:
        rows = s.execute(sa.select(Raw.sha256, Raw.data, Raw.compressed)).all()
        links = s.execute(
            sa.select(Ticket.number, Message.id, Raw.sha256)
            .join(Message, Message.ticket_id == Ticket.id)
            .join(Raw, Raw.id == Message.raw_id)
        ).all()
    assert all(compressed for _, _, compressed in rows)
    originals = {hashlib.sha256(raw).hexdigest(): raw for raw in mails}
    assert {sha: unpack(data, True) for sha, data, _ in rows} == originals
    client = TestClient(create_app(settings, store, RoundRobin()))
    for number, message_id, sha in links[:5]:
        download = client.get(
            f"/api/v1/tickets/{number}/messages/{message_id}/raw",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert download.status_code == 200 and download.content == originals[sha]
    if sqlite_file:
        after = vacuumed_size(sqlite_file)
        print(f"SQLite file after VACUUM: {before} -> {after} bytes ({after / before:.2f})")
        assert after < 0.9 * before
