"""IMAP on the wire, as pure functions: reading the server's response lines (as aioimaplib
hands them over) and writing the arguments maild sends. No I/O here.

Response lines come from the server, which is trusted no more than the mail it holds: every
pattern is anchored and cannot backtrack, and a line that does not match is skipped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_UIDVALIDITY = re.compile(rb"OK \[UIDVALIDITY (\d{1,10})\]")
_FETCH_START = re.compile(rb"\d{1,10} FETCH \(")
_SEARCH = re.compile(rb"[0-9 ]*")
_UID = re.compile(rb"\bUID (\d{1,10})\b")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d{1,12})\b")


@dataclass(frozen=True)
class Listed:
    """A message the server holds past the last UID maild took: its UID and size in bytes."""

    uid: int
    size: int


def uidvalidity(lines: Iterable[bytes | bytearray]) -> int | None:
    """The UIDVALIDITY a SELECT reported (RFC 3501 §7.1: `OK [UIDVALIDITY n]`)."""
    for line in lines:
        found = _UIDVALIDITY.match(bytes(line))
        if found:
            return int(found.group(1))
    return None


def searched(lines: Sequence[bytes | bytearray], after_uid: int) -> list[int]:
    """The UIDs past `after_uid` in a `UID SEARCH UID n:*` answer, ascending. aioimaplib hands
    `* SEARCH 4 7 9` over as `4 7 9`; the tagged line's text has letters and is skipped."""
    found: set[int] = set()
    for line in lines:
        if isinstance(line, bytes) and _SEARCH.fullmatch(line):
            found.update(int(word) for word in line.split() if len(word) <= 10)
    return sorted(uid for uid in found if uid > after_uid)


def _records(lines: Sequence[bytes | bytearray]) -> list[tuple[bytes, bytes | None]]:
    """The FETCH records of a response: the text of each (literals left out) and its literal.
    aioimaplib gives the text before a literal, the literal (a bytearray), then the rest."""
    records: list[tuple[bytes, bytes | None]] = []
    text, literal = b"", None
    for line in lines:
        if isinstance(line, bytearray):
            literal = bytes(line)
        elif _FETCH_START.match(line):
            if text:
                records.append((text, literal))
            text, literal = line, None
        elif text:
            text += b" " + line
    if text:
        records.append((text, literal))
    return records


def listed(lines: Sequence[bytes | bytearray], uids: Iterable[int]) -> list[Listed]:
    """The sizes a `UID FETCH set (UID RFC822.SIZE)` answer gives for the `uids` asked about,
    in UID order; a UID the answer lacks (expunged meanwhile) is left out, and so are
    unsolicited FETCH lines (flag changes, other UIDs)."""
    wanted = set(uids)
    found: dict[int, int] = {}
    for text, _ in _records(lines):
        uid, size = _UID.search(text), _SIZE.search(text)
        if uid and size and int(uid.group(1)) in wanted:
            found[int(uid.group(1))] = int(size.group(1))
    return [Listed(uid, found[uid]) for uid in sorted(found)]


def fetched_body(lines: Sequence[bytes | bytearray], uid: int) -> bytes | None:
    """The message bytes a `UID FETCH uid (UID BODY.PEEK[]...)` answer carries for `uid`;
    None when the server sent none (the message was expunged meanwhile)."""
    for text, literal in _records(lines):
        found = _UID.search(text)
        if found and int(found.group(1)) == uid and literal is not None:
            return literal
    return None


def uid_set(uids: Iterable[int]) -> str:
    """UIDs as an IMAP sequence set with ranges: 1,2,3,7,9,10 -> `1:3,7,9:10`."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("no UIDs")
    runs: list[list[int]] = []
    for uid in ordered:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def quoted(text: str) -> str:
    """A quoted string (RFC 3501 §4.3); the config checks keep CR, LF and NUL out."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_name(name: str) -> str:
    """A folder name as sent: modified UTF-7 (RFC 3501 §5.1.3), quoted. Printable ASCII stays
    as it is ("&" becomes "&-"); other characters go as base64 of UTF-16BE, "/" for "," ."""
    out: list[str] = []
    pending: list[str] = []
    for char in name + "\x00":  # the sentinel flushes the last run
        if "\x20" <= char <= "\x7e" or char == "\x00":
            if pending:
                data = "".join(pending).encode("utf-16-be")
                encoded = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
                out.append(f"&{encoded}-")
                pending.clear()
            if char != "\x00":
                out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    return quoted("".join(out))
