"""The files inside Outlook's winmail.dat (TNEF, [MS-OXTNEF]), read by tnefparse.

tnefparse trusts the counts a stream declares: a MAPI block claiming four billion properties
loops four billion times, one claiming four billion multi-values appends an object per value,
and every attribute costs a copy of the rest of the stream. So the stream is walked once here
first, each count checked against the bytes left and all of them against small budgets, and
only a stream that passes is handed to tnefparse (pure: bytes in, files out).
"""

from __future__ import annotations

import mimetypes
import re
import struct
from dataclasses import dataclass, field

from tnefparse import TNEF

_SIGNATURE = 0x223E9F78
_ATT_MAPI_PROPS, _ATT_RECIP_TABLE, _ATT_ATTACHMENT = 0x9003, 0x9004, 0x9005
# Outlook writes ~10 attributes for the message and ~8 per file: 256 is over 30 files. The
# budget also caps tnefparse's copying, which is attributes x stream size.
MAX_ATTRIBUTES = 256
MAX_MAPI_VALUES = 4096  # Outlook writes ~50 properties per block
MAX_EMBEDDED_DEPTH = 3  # an attached Outlook item is a TNEF stream inside the stream
_IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_FIXED_SIZE = {0x0001: 0, 0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4,
               0x0005: 8, 0x0006: 8, 0x0007: 8, 0x0014: 8, 0x0040: 8, 0x0048: 16}  # fmt: skip
_VARIABLE = {0x0000, 0x000D, 0x001E, 0x001F, 0x0102}
_PT_OBJECT, _MULTI_VALUE, _NAMED = 0x000D, 0x1000, 0x8000
_PR_ATTACH_DATA_OBJ, _PR_ATTACH_MIME_TAG = 0x3701, 0x370E
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True)
class TnefFile:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class _Budget:
    attributes: int = MAX_ATTRIBUTES
    values: int = MAX_MAPI_VALUES


def tnef_files(data: bytes, max_files: int) -> list[TnefFile]:
    """The files in a winmail.dat; ValueError with the reason when it cannot be read safely."""
    check_stream(data, _Budget(), depth=0)
    try:
        stream = TNEF(data, do_checksum=False)
        found = [(_filename(a, stream.codepage), a.mapi_attrs, a.data) for a in stream.attachments]
    # A third-party decoder on hostile bytes (struct.error, LookupError for a code page,
    # UnicodeDecodeError, an attribute before any file...): the winmail.dat is kept instead.
    except Exception as exc:
        raise ValueError(f"TNEF stream could not be decoded ({type(exc).__name__})") from exc
    if len(found) > max_files:
        raise ValueError(f"TNEF stream holds {len(found)} files, over the {max_files} left")
    files = []
    for index, (name, props, payload) in enumerate(found, start=1):
        filename = name or f"attachment-{index}.bin"
        files.append(TnefFile(filename, _content_type(filename, props), bytes(payload)))
    return files


def check_stream(data: bytes, budget: _Budget, depth: int) -> None:
    """Walk the attributes, every declared length and count checked, before tnefparse does."""
    if depth > MAX_EMBEDDED_DEPTH:
        raise ValueError(f"TNEF nests Outlook items deeper than {MAX_EMBEDDED_DEPTH}")
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != _SIGNATURE:
        raise ValueError("not a TNEF stream (no TNEF signature)")
    offset = 6
    while offset + 12 < len(data):  # tnefparse's own loop condition
        budget.attributes -= 1
        if budget.attributes < 0:
            raise ValueError(f"TNEF stream has more than {MAX_ATTRIBUTES} attributes")
        _level, attribute, length = struct.unpack_from("<BII", data, offset)
        start, end = offset + 9, offset + 9 + length
        if end + 2 > len(data):
            raise ValueError("a TNEF attribute runs past the end of the stream")
        if attribute & 0xFFFF in (_ATT_MAPI_PROPS, _ATT_ATTACHMENT):
            _check_mapi(data[start:end], 0, budget, depth)
        elif attribute & 0xFFFF == _ATT_RECIP_TABLE:
            _check_rows(data[start:end], budget, depth)
        offset = end + 2


def _check_rows(block: bytes, budget: _Budget, depth: int) -> None:
    rows = _u32(block, 0)
    if rows > budget.values:
        raise ValueError(f"TNEF recipient table has more than {MAX_MAPI_VALUES} rows")
    offset = 4
    for _ in range(rows):
        offset = _check_mapi(block, offset, budget, depth)


def _check_mapi(block: bytes, offset: int, budget: _Budget, depth: int) -> int:
    """The end of the MAPI property list at `offset`, as tnefparse's decode_mapi walks it."""
    count = _u32(block, offset)
    offset += 4
    _spend(budget, count)
    for _ in range(count):
        if offset >= len(block):
            return offset  # tnefparse skips the properties that are not there
        kind, prop = struct.unpack_from("<HH", block, _need(block, offset, 4))
        offset += 4
        if prop >= _NAMED:
            offset += 20
            offset += 4 if _u32(block, offset - 4) == 0 else 4 + _padded(_u32(block, offset))
        values = 1
        if kind & _MULTI_VALUE:
            kind ^= _MULTI_VALUE
            values = _u32(block, offset)
            offset += 4
            _spend(budget, values)
        if kind not in _FIXED_SIZE and kind not in _VARIABLE:
            return len(block)  # tnefparse stops at an unknown type
        for _ in range(values):
            offset = _check_value(block, offset, kind, prop, values > 1, budget, depth)
        if values % 2 and kind in (0x0002, 0x000B):
            offset += 2
        _need(block, offset, 0)
    return offset


def _check_value(
    block: bytes, offset: int, kind: int, prop: int, multi: bool, budget: _Budget, depth: int
) -> int:
    if kind in _FIXED_SIZE:
        return _need(block, offset, _FIXED_SIZE[kind]) + _FIXED_SIZE[kind]
    items = 1 if multi else _u32(block, offset)
    offset += 0 if multi else 4
    _spend(budget, items)
    for _ in range(items):
        length = _padded(_u32(block, offset))
        value = block[_need(block, offset + 4, length) : offset + 4 + length]
        if kind == _PT_OBJECT and prop == _PR_ATTACH_DATA_OBJ and value.startswith(_IMESSAGE):
            check_stream(value[len(_IMESSAGE) :], budget, depth + 1)
        offset += 4 + length
    return offset


def _spend(budget: _Budget, count: int) -> None:
    budget.values -= count
    if budget.values < 0:
        raise ValueError(f"TNEF stream declares more than {MAX_MAPI_VALUES} MAPI values")


def _u32(block: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", block, _need(block, offset, 4))[0])


def _need(block: bytes, offset: int, size: int) -> int:
    if offset + size > len(block):
        raise ValueError("a TNEF property runs past the end of its attribute")
    return offset


def _padded(length: int) -> int:
    return length + (-length % 4)


def _filename(attachment: object, codepage: str | None) -> str:
    """The long Unicode name Outlook keeps in MAPI; else the title in the stream's code page
    (tnefparse reads that as UTF-8, which fails on the `ü` of a cp1252 title)."""
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        raw = attachment._name  # type: ignore[attr-defined]
        name = raw.decode(codepage or "cp1252", "replace") if isinstance(raw, bytes) else raw
    if isinstance(name, bytes):
        name = name.decode(codepage or "cp1252", "replace")
    return str(name).replace("\x00", "").strip()[:255]


def _content_type(filename: str, props: list[object]) -> str:
    tags = [p.data for p in props if getattr(p, "name", None) == _PR_ATTACH_MIME_TAG]  # type: ignore[attr-defined]
    tag = str(tags[0]).strip().lower() if tags and isinstance(tags[0], str) else ""
    if _MIME_TYPE.fullmatch(tag):
        return tag
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
