"""Where `maild ingest` reads mail from: .eml files, directories of them, Maildirs, mbox files
and standard input. Messages are yielded one at a time; an mbox is read message by message, so
a large file never sits in memory whole."""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from maild.errors import InvalidRequest


@dataclass(frozen=True)
class SourceMessage:
    source: str  # where it came from: a path, "path#3" for the 3rd message of an mbox, "-"
    raw: bytes


def iter_messages(paths: list[str]) -> Iterator[SourceMessage]:
    for path in paths:
        if path == "-":
            yield from _stdin()
            continue
        target = Path(path)
        if not target.exists():
            raise InvalidRequest(f"{path}: no such file or directory")
        yield from _path(target)


def _path(target: Path) -> Iterator[SourceMessage]:
    if target.is_dir():
        if _is_maildir(target):
            yield from _maildir(target)
        else:
            for child in sorted(target.iterdir()):
                if not child.name.startswith("."):
                    yield from _path(child)
    elif _is_mbox(target):
        yield from _mbox(target)
    else:
        yield SourceMessage(str(target), target.read_bytes())


def _is_maildir(directory: Path) -> bool:
    return (directory / "cur").is_dir() and (directory / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    """mbox files start with a "From " separator line; a single .eml never does."""
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _maildir(directory: Path) -> Iterator[SourceMessage]:
    for sub in ("new", "cur"):
        for child in sorted((directory / sub).iterdir()):
            if child.is_file() and not child.name.startswith("."):
                yield SourceMessage(str(child), child.read_bytes())


def _mbox(path: Path) -> Iterator[SourceMessage]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys(), start=1):
            # get_bytes() leaves the "From " separator line out and reads only this message.
            yield SourceMessage(f"{path}#{index}", box.get_bytes(key))
    finally:
        box.close()


def _stdin() -> Iterator[SourceMessage]:
    yield from split_stream(sys.stdin.buffer, "-")


def split_stream(stream: BinaryIO, name: str) -> Iterator[SourceMessage]:
    """One message, or an mbox split on its "From " separator lines as it is read, so that a
    large mbox piped in never sits in memory whole. Bytes are otherwise kept as they are."""
    first = stream.readline()
    if not first.startswith(b"From "):
        yield SourceMessage(name, first + stream.read())
        return
    index, lines = 0, list[bytes]()
    for line in stream:
        if line.startswith(b"From "):
            index += 1
            yield SourceMessage(f"{name}#{index}", b"".join(lines))
            lines = []
        else:
            lines.append(line)
    yield SourceMessage(f"{name}#{index + 1}", b"".join(lines))
