"""uuencoded files inside text bodies (Lotus Notes, old Outlook): they are attachments too.

POSIX `uuencode` output: a `begin MODE NAME` line, encoded lines, then `end`. The block is cut
out of the body text (a ticket should not show 100 KB of line noise) and becomes an attachment.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

_BLOCK = re.compile(
    r"^begin[ \t]+[0-7]{3,4}[ \t]+(?P<name>[^\r\n]+?)[ \t]*\r?\n"
    r"(?P<body>.*?)"
    r"^end[ \t]*(?:\r?\n|\Z)",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class UuFile:
    filename: str
    data: bytes


def extract_uuencoded(text: str) -> tuple[str, tuple[UuFile, ...]]:
    """The text without its uuencoded blocks, and the files those blocks hold."""
    if "begin " not in text:
        return text, ()
    files: list[UuFile] = []

    def cut(match: re.Match[str]) -> str:
        files.append(UuFile(match.group("name"), _decode_lines(match.group("body"))))
        return ""

    return _BLOCK.sub(cut, text), tuple(files)


def _decode_lines(body: str) -> bytes:
    out = bytearray()
    for line in body.splitlines():
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
