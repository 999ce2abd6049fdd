"""Where `maild ingest` reads mail from: .eml files, directories of them, Maildirs, mbox files
and standard input. Messages are yielded one at a time; an mbox is read message by message, so
a large file never sits in memory whole.

Which files are mboxes (DESIGN §5): `*.mbox`, and files without an extension that start with a
"From " line; every other file, and every Maildir entry, is one message, whatever lines in its
body look like separators (forwarded and bounced mail often holds some). `--format` forces
either reading.
"""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from maild.errors import InvalidRequest
from maild.ingest.sniff import drop_separator, starts_with_separator


class Format(StrEnum):
    """How to read a file: decided per file from its name and first line, or forced."""

    AUTO = "auto"
    EML = "eml"  # one message
    MBOX = "mbox"


@dataclass(frozen=True)
class SourceMessage:
    source: str  # where it came from: a path, "path#3" for the 3rd message of an mbox, "-"
    raw: bytes


def iter_messages(paths: list[str], forced: Format = Format.AUTO) -> Iterator[SourceMessage]:
    for path in paths:
        if path == "-":
            yield from split_stream(sys.stdin.buffer, "-", forced)
            continue
        target = Path(path)
        if not target.exists():
            raise InvalidRequest(f"{path}: no such file or directory")
        yield from _path(target, forced)


def _path(target: Path, forced: Format) -> Iterator[SourceMessage]:
    if target.is_dir():
        if _is_maildir(target):
            yield from _maildir(target, forced)
        else:
            for child in sorted(target.iterdir()):
                if not child.name.startswith("."):
                    yield from _path(child, forced)
    elif file_format(target, forced) is Format.MBOX:
        yield from _mbox(target)
    else:
        yield _one_message(target)


def file_format(path: Path, forced: Format = Format.AUTO) -> Format:
    """DESIGN §5: `*.mbox` is an mbox; a file without extension is one when it starts with a
    "From " line; anything else is one message."""
    if forced is not Format.AUTO:
        return forced
    if path.suffix.lower() == ".mbox":
        return Format.MBOX
    if path.suffix == "":
        with path.open("rb") as handle:
            return Format.MBOX if starts_with_separator(handle.read(5)) else Format.EML
    return Format.EML


def _one_message(path: Path) -> SourceMessage:
    # The "From " line some tools write before a single message is not part of it.
    return SourceMessage(str(path), drop_separator(path.read_bytes()))


def _is_maildir(directory: Path) -> bool:
    return (directory / "cur").is_dir() and (directory / "new").is_dir()


def _maildir(directory: Path, forced: Format) -> Iterator[SourceMessage]:
    """Each entry is one message (Maildir holds one per file), unless `mbox` is forced."""
    for sub in ("new", "cur"):
        for child in sorted((directory / sub).iterdir()):
            if child.is_file() and not child.name.startswith("."):
                yield from _mbox(child) if forced is Format.MBOX else (_one_message(child),)


def _mbox(path: Path) -> Iterator[SourceMessage]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys(), start=1):
            # get_bytes() leaves the "From " separator line out and reads only this message.
            yield SourceMessage(f"{path}#{index}", box.get_bytes(key))
    finally:
        box.close()


def split_stream(
    stream: BinaryIO, name: str, forced: Format = Format.AUTO
) -> Iterator[SourceMessage]:
    """One message, or an mbox split on its "From " separator lines as it is read, so that a
    large mbox piped in never sits in memory whole. Without a name to go by, a stream is an
    mbox when it starts with a "From " line, unless a format is forced. Bytes are otherwise
    kept as they are."""
    first = stream.readline()
    mbox = forced is Format.MBOX or (forced is Format.AUTO and starts_with_separator(first))
    if not mbox:
        yield SourceMessage(name, drop_separator(first + stream.read()))
        return
    yield from _stream_messages(stream, name, [] if starts_with_separator(first) else [first])


def _stream_messages(stream: BinaryIO, name: str, lines: list[bytes]) -> Iterator[SourceMessage]:
    index = 0
    for line in stream:
        if line.startswith(b"From "):
            index += 1
            yield SourceMessage(f"{name}#{index}", b"".join(lines))
            lines = []
        else:
            lines.append(line)
    yield SourceMessage(f"{name}#{index + 1}", b"".join(lines))
