"""IMAP syntax and the poller's decisions as pure functions: no server, no database."""

from __future__ import annotations

import pytest

from maild.ingest.imap import Pacing
from maild.ingest.imap.state import Cursor, resume_from
from maild.ingest.imap.wire import (
    Listed,
    fetched_body,
    listed,
    mailbox_name,
    searched,
    uid_set,
    uidvalidity,
)
from maild.settings import AfterIngest, AfterKind


def test_uidvalidity_is_read_from_the_select_answer() -> None:
    lines = [b"2 EXISTS", b"OK [UIDVALIDITY 1796181042] UIDs valid", b"OK [UIDNEXT 3] next"]
    assert uidvalidity(lines) == 1796181042
    assert uidvalidity([b"2 EXISTS", b"Select completed."]) is None


def test_search_answer_gives_only_uids_past_the_last_one() -> None:
    # `UID n:*` names the highest message even when its UID is below n (RFC 3501 §6.4.8).
    assert searched([b"7", b"Search completed (0.001 secs)."], after_uid=7) == []
    assert searched([b"9 8 12", b"Search completed."], after_uid=8) == [9, 12]
    assert searched([b"", b"Search completed."], after_uid=0) == []
    assert searched([b"3 x 4"], after_uid=0) == []  # not a SEARCH line: skipped whole


def test_sizes_are_read_for_the_uids_asked_about() -> None:
    lines = [
        b"1 FETCH (UID 4 RFC822.SIZE 44)",
        b"2 FETCH (FLAGS (\\Seen))",  # an unsolicited flag change
        b"3 FETCH (UID 9 RFC822.SIZE 45)",
        b"4 FETCH (UID 77 RFC822.SIZE 1)",  # not asked about
        b"Fetch completed.",
    ]
    assert listed(lines, [4, 9, 10]) == [Listed(4, 44), Listed(9, 45)]


def test_the_body_is_the_literal_of_the_uid_asked_for() -> None:
    lines = [
        b"1 FETCH (UID 4 BODY[]<0> {5}",
        bytearray(b"hello"),
        b")",
        b"2 FETCH (BODY[]<0> {3}",
        bytearray(b"abc"),
        b" UID 9)",  # the UID may come after the literal
        b"Fetch completed.",
    ]
    assert fetched_body(lines, 4) == b"hello"
    assert fetched_body(lines, 9) == b"abc"
    assert fetched_body(lines, 5) is None
    assert fetched_body([b"1 FETCH (UID 4 BODY[] NIL)", b"done"], 4) is None


def test_uid_sets_use_ranges() -> None:
    assert uid_set([10, 1, 2, 3, 7, 9]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"
    with pytest.raises(ValueError):
        uid_set([])


def test_folder_names_are_modified_utf7_and_quoted() -> None:
    # RFC 3501 §5.1.3's example, and "&" written as "&-".
    assert mailbox_name("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
    assert mailbox_name("Q&A") == '"Q&-A"'
    assert mailbox_name('Sent "Items"') == '"Sent \\"Items\\""'
    assert mailbox_name("Boîte") == '"Bo&AO4-te"'


def test_after_ingest_parses_seen_delete_and_move() -> None:
    assert AfterIngest.parse("seen") == AfterIngest(AfterKind.SEEN)
    assert AfterIngest.parse("delete") == AfterIngest(AfterKind.DELETE)
    assert AfterIngest.parse("move:Done/2026") == AfterIngest(AfterKind.MOVE, "Done/2026")
    for wrong in ("move", "move:", "seen:x", "Seen", "archive", ""):
        assert AfterIngest.parse(wrong) is None


def test_a_new_uidvalidity_starts_the_folder_from_the_beginning() -> None:
    stored = Cursor("support", "INBOX", uidvalidity=100, last_uid=42)
    assert resume_from(stored, 100) == 42
    assert resume_from(stored, 101) == 0
    assert resume_from(None, 100) == 0


def test_backoff_doubles_up_to_the_maximum_with_jitter_taking_half_to_all() -> None:
    pacing = Pacing(backoff_first_seconds=1.0, backoff_max_seconds=60.0)
    assert [pacing.backoff(n, jitter=1.0) for n in (1, 2, 3, 6, 7, 100)] == [1, 2, 4, 32, 60, 60]
    assert pacing.backoff(3, jitter=0.0) == 2.0
    assert pacing.backoff(10_000, jitter=0.5) == 45.0
