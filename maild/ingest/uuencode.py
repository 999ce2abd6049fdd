"""uuencoded files inside text bodies (Lotus Notes, old Outlook): they are attachments too.

POSIX `uuencode` output: a `begin MODE NAME` line, encoded lines, then `end`. The block is cut
out of the body text (a ticket should not show 100 KB of line noise) and becomes an attachment.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

# Blocks are found by pairing each `begin` line with the next `end` line, each found once: a
# single regex spanning from `begin` to `end` rescanned the rest of the body for every `begin`
# line without an `end` (40,000 of them took 93 s). parse.py has made every line end "\n".
_BEGIN = re.compile(r"^begin[ \t]+[0-7]{3,4}[ \t]+(?P<name>[^\n]+)\n?", re.MULTILINE)
_END = re.compile(r"^end[ \t]*$\n?", re.MULTILINE)


@dataclass(frozen=True)
class UuFile:
    filename: str
    data: bytes


def extract_uuencoded(text: str) -> tuple[str, tuple[UuFile, ...]]:
    """The text without its uuencoded blocks, and the files those blocks hold."""
    if "begin " not in text:
        return text, ()
    ends = _END.finditer(text)
    kept: list[str] = []
    files: list[UuFile] = []
    cursor = 0
    end: re.Match[str] | None = None
    for begin in _BEGIN.finditer(text):
        if begin.start() < cursor:
            continue  # a `begin` line inside the block just cut
        while end is None or end.start() < begin.end():
            end = next(ends, None)
            if end is None:  # no `end` after this line: no later `begin` has one either
                return "".join([*kept, text[cursor:]]), tuple(files)
        body = text[begin.end() : end.start()].splitlines()
        files.append(UuFile(begin.group("name").strip(), _decode_lines(body)))
        kept.append(text[cursor : begin.start()])
        cursor = end.end()
    return "".join([*kept, text[cursor:]]), tuple(files)


def _decode_lines(body: list[str]) -> bytes:
    out = bytearray()
    for line in body:
        out += _decode_line(line)
    return bytes(out)


def _decode_line(line: str) -> bytes:
    if not line or line == "`":
        return b""
    try:
        return binascii.a2b_uu(line)
    except (binascii.Error, ValueError):
        pass
    # Some encoders write garbage after the last significant character; the first character
    # gives the byte count, so cut the line to the characters that carry those bytes.
    significant = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
    try:
        return binascii.a2b_uu(line[:significant])
    except (binascii.Error, ValueError):
        return b""
