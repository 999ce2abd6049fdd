"""Raw compression: the SQLite file of an N-mail import before and after the `compress` job.

The mails are bench/ingest.py's customer mail (see `ticket_mails`): the corpora are mostly
bounces, which become no ticket and so are never compressed. Both sizes are
measured after VACUUM (SQLite reuses freed pages but does not give them back to the file
system by itself). The baseline is the same file before the job, measured in the same run.

    .venv/bin/python bench/compress.py [N]
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import generate  # noqa: E402  (bench/ingest.py, beside this file)

from maild.ingest.pipeline import Pipeline  # noqa: E402
from maild.ingest.sources import SourceMessage  # noqa: E402
from maild.runtime import build_apply_context, build_job_context, open_store  # noqa: E402
from maild.scheduler import find_job, run_job  # noqa: E402
from maild.settings import DatabaseSettings, DepartmentConfig, GroupConfig, Settings  # noqa: E402
from maild.store.models import Raw  # noqa: E402
from maild.store.rawbytes import unpack  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ticket_mails(n: int) -> list[bytes]:
    """Customer mail as bench/ingest.py makes it (new requests, tagged replies, RFC 2047
    subjects, a PDF on every fourth), with the PDFs' bodies made random: real attachments are
    mostly compressed already, and zeros would flatter the ratio."""
    mails = []
    for i, raw in enumerate(generate(n)):
        if b"%PDF-1.4 " in raw or b"application/pdf" in raw:
            raw = _random_pdf(raw, i)
        mails.append(raw)
    return mails


def _random_pdf(raw: bytes, i: int) -> bytes:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    for part in message.walk():
        if part.get_content_type() == "application/pdf":
            body = b"%PDF-1.4 " + random.Random(i).randbytes(20_000)
            part.set_content(body, maintype="application", subtype="pdf", filename=f"r-{i}.pdf")
    return message.as_bytes()


def file_size(path: Path) -> int:
    # In WAL mode VACUUM writes the new file into the WAL: checkpoint to bring it back.
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main(n: int) -> None:
    mails = ticket_mails(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "maild.db"
        settings = Settings(
            database=DatabaseSettings(url=f"sqlite:///{path}"),
            departments=(DepartmentConfig(name="Support", addresses=("support@example.com",)),),
            groups=(GroupConfig(name="Tier 1", department="Support"),),
        )
        store = open_store(settings, initialise=True)
        pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: NOW)
        sources = (SourceMessage(f"bench#{i}", raw) for i, raw in enumerate(mails))
        outcomes: dict[str, int] = {}
        for result in pipeline.ingest(sources):
            outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
        before = file_size(path)
        started = time.perf_counter()
        ran = run_job(
            find_job("compress"),
            build_job_context(settings, store),
            lambda: NOW + timedelta(days=2),
        )
        elapsed = time.perf_counter() - started
        after = file_size(path)
        with store.sessions() as session:
            rows = session.execute(sa.select(Raw.sha256, Raw.data, Raw.compressed)).all()
        raw_before, raw_after = (
            sum(len(unpack(d, c)) for _, d, c in rows),
            sum(len(d) for _, d, _ in rows),
        )
        identical = all(hashlib.sha256(unpack(d, c)).hexdigest() == s for s, d, c in rows)
        store.close()
    print(f"{n} mails ({sum(map(len, mails)) / 1e6:.1f} MB): {outcomes}")
    print(f"compress job: {ran.result} in {elapsed:.1f} s; read back identical: {identical}")
    print(f"raw bytes: {raw_before / 1e6:.2f} MB stored as {raw_after / 1e6:.2f} MB")
    print(f"database file after VACUUM: {before / 1e6:.2f} MB before, {after / 1e6:.2f} MB after")
    print(f"ratio after/before: {after / before:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
