"""Every mail of ../shared/corpora parses and classifies; labelled ones classify as labelled.

The corpora are read in place (corpora/README.md). Labels: sisimai `expectations.tsv` (one row
per expected recipient) and flufl.bounce `expectations.tsv` (failed recipients, permanent or
temporary).
"""

from __future__ import annotations

import csv
import mailbox
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from maild.errors import MessageRejected
from maild.ingest.classify import Classification, classify
from maild.ingest.parse import parse_message
from maild.settings import IngestLimits
from maild.values import Kind
from tests.conftest import CORPORA

pytestmark = pytest.mark.corpora

SISIMAI = CORPORA / "sisimai-set-of-emails"
FLUFL = CORPORA / "flufl-bounce"
NOT_MAIL = {"LICENSE", "COPYING", "MANIFEST.sha256", "expectations.tsv", "README.md",
            "README.upstream.md"}  # fmt: skip

# Bounce rows we do not classify as bounce. At most 1% of the bounce rows may be here.
KNOWN_BOUNCE_MISSES = {
    "maildir/bsd/lhost-fml-03.eml": "fml list server's 'Loop Alert: Duplicated Message-ID' "
    "notice to the list admin: no failed recipient, no report, sent by the list itself",
}
# Expected recipients we do not find among the failed ones.
KNOWN_RECIPIENT_MISSES = {
    "maildir/bsd/lhost-exim-60.eml": "sisimai reports the spool file path the local delivery "
    "failed on; the bounce itself names nyaan%gol.com@... (X-Failed-Recipients), which we report",
}


def corpus_files() -> list[Path]:
    folders = (SISIMAI, FLUFL, CORPORA / "rt-emails")
    return sorted(
        p for f in folders for p in f.rglob("*") if p.is_file() and p.name not in NOT_MAIL
    )


def corpus_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """The messages of a file: an mbox file is split; a file yielding none is one message."""
    if path.parent.name == "mailbox":
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
        for key in keys:
            yield f"{path}#{key}", box.get_bytes(key)
        if keys:
            return
    yield str(path), path.read_bytes()


@cache
def classified(relative: str, root: Path) -> Classification:
    raw = (root / relative).read_bytes()
    return classify(parse_message(raw, IngestLimits()), None)


def test_every_corpus_message_parses_and_classifies_in_bounded_time() -> None:
    started = time.perf_counter()
    kinds: Counter[str] = Counter()
    failures = []
    files = corpus_files()
    for path in files:
        for name, raw in corpus_messages(path):
            try:
                kinds[classify(parse_message(raw, IngestLimits()), None).kind] += 1
            except MessageRejected as exc:  # a limit: the daemon holds it with this reason
                kinds["rejected"] += 1
                failures.append(f"{name}: rejected: {exc}")
            except Exception as exc:  # collected so one run lists every broken file
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    assert failures == []
    assert len(files) >= 600 and sum(kinds.values()) > len(files)  # mbox files hold several
    assert kinds[Kind.BOUNCE] > 400 and kinds[Kind.NORMAL] > 50
    assert elapsed < 60, f"{sum(kinds.values())} messages took {elapsed:.1f}s"


def test_tiny_mbox_files_parse() -> None:
    for name in ("size-0", "size-1", "size-2"):
        for _source, raw in corpus_messages(SISIMAI / "mailbox" / name):
            assert classify(parse_message(raw, IngestLimits()), None).kind is Kind.NORMAL


def sisimai_rows() -> list[dict[str, str]]:
    with (SISIMAI / "expectations.tsv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def flufl_rows() -> list[dict[str, str]]:
    with (FLUFL / "expectations.tsv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def same_address(address: str) -> str:
    # sisimai writes quoted local parts without their quotes: "a..b"@x is the mailbox a..b@x.
    return address.lower().replace('"', "")


def test_sisimai_bounce_rows_are_bounces() -> None:
    rows = [r for r in sisimai_rows() if r["kind"] == "bounce"]
    misses = {r["file"] for r in rows if classified(r["file"], SISIMAI).kind is not Kind.BOUNCE}
    assert misses == set(KNOWN_BOUNCE_MISSES)
    assert len(misses) <= len(rows) // 100


@pytest.mark.parametrize("kind", ["auto_reply", "feedback_report", "delivered_dsn"])
def test_sisimai_automatic_rows_are_machine_made(kind: str) -> None:
    """Vacation notices, feedback reports and success DSNs: no autoresponse, no status change."""
    rows = [r for r in sisimai_rows() if r["kind"] == kind]
    assert rows
    verdicts = {r["file"]: classified(r["file"], SISIMAI) for r in rows}
    answered = [f for f, v in verdicts.items() if v.may_autorespond or v.changes_status]
    assert answered == []
    assert all(v.kind is Kind.AUTO_REPLY for v in verdicts.values())


def test_sisimai_not_bounce_row_is_normal() -> None:
    rows = [r for r in sisimai_rows() if r["kind"] == "not_bounce"]
    assert [classified(r["file"], SISIMAI).kind for r in rows] == [Kind.NORMAL]


def test_sisimai_expected_recipients_are_found_failed_or_delayed() -> None:
    wrong = []
    for row in sisimai_rows():
        if row["kind"] != "bounce" or not row["recipient"]:
            continue
        bounce = classified(row["file"], SISIMAI).bounce
        delayed = row["dsn_actions"] == "delayed"
        found = (
            (bounce.delayed_recipients if delayed else bounce.failed_recipients) if bounce else ()
        )
        if same_address(row["recipient"]) not in {same_address(a) for a in found}:
            wrong.append(row["file"])
        elif bounce is not None and bounce.is_failure == delayed:
            wrong.append(f"{row['file']}: is_failure={bounce.is_failure}")
    assert sorted(wrong) == sorted(KNOWN_RECIPIENT_MISSES)


def test_flufl_bounces_are_bounces_with_their_failed_recipients() -> None:
    wrong = []
    for row in flufl_rows():
        expected = {a.lower() for a in row["expected_recipients"].split(",") if a}
        if not expected:  # flufl's tests: this detector must find nothing here
            continue
        result = classified(f"data/{row['file']}", FLUFL)
        bounce = result.bounce
        if bounce is None:
            wrong.append(f"{row['file']}: {result.kind} by {result.reason}")
            continue
        permanent = row["failure"] == "permanent"
        found = set(bounce.failed_recipients if permanent else bounce.delayed_recipients)
        if not expected <= found or bounce.is_failure != permanent:
            wrong.append(f"{row['file']}: missing {sorted(expected - found)}")
    assert wrong == []


def test_flufl_unrecognised_bounce_invents_no_recipients() -> None:
    # dumbass_01 is a virus-wall "could not be delivered" notice naming no recipient: a bounce
    # by its text and returned message, but no address may be guessed for it.
    rows = [r for r in flufl_rows() if r["failure"] == "none"]
    assert rows
    for row in rows:
        bounce = classified(f"data/{row['file']}", FLUFL).bounce
        assert bounce is None or bounce.recipients == ()
