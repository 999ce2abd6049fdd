"""The charsets mail really is in, when its label names a smaller one (pure: bytes → text).

A label in mail names the standard charset that the writer's code page extends: Foxmail and
Outlook label GBK text `gb2312`, Korean Outlook labels Windows-949 `ks_c_5601-1987`, Japanese
Windows clients write NEC's ① and ㈱ into `ISO-2022-JP`, Outlook writes “curly quotes” into
`iso-8859-1`. Mail clients read each label as its superset (the WHATWG Encoding Standard,
§4.2 "Names and labels", maps them so); Python's codecs of the same names refuse the extra
characters, and the mail would fall to a guess. `charsets` tries the superset first.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

WINDOWS_1252 = "windows-1252"
WINDOWS_1254 = "windows-1254"
WINDOWS_874 = "windows-874"
ISO_2022_JP_MS = "iso-2022-jp-ms"  # Microsoft's CP50220/50221 reading of ISO-2022-JP

# Python codec name (after `codecs.lookup`) → the codec its label is read with.
SUPERSETS: dict[str, str] = {
    "gb2312": "gb18030",  # GB18030 contains GBK, which contains GB2312
    "gbk": "gb18030",
    "euc_kr": "cp949",  # ks_c_5601-1987 too: Python maps it to EUC-KR, Outlook means UHC
    "big5": "cp950",
    "shift_jis": "cp932",
    "iso2022_jp": ISO_2022_JP_MS,
    "tis-620": WINDOWS_874,
    "iso8859-11": WINDOWS_874,
    "iso8859-1": WINDOWS_1252,
    "iso8859-9": WINDOWS_1254,
}

# Labels mail carries that Python does not know, → a label it does.
LABELS: dict[str, str] = {
    "x-gbk": "gbk",
    "windows-874": "cp874",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
    "x-sjis": "shift_jis",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
    "cp50222": "iso2022_jp",
}


def _c1_filled(codec: str) -> Callable[[bytes], str]:
    """A Windows single-byte code page that reads its undefined bytes as the C1 controls of
    the ISO charset it replaces (WHATWG does the same): it never fails where that one did not."""
    chars = []
    for byte in range(256):
        try:
            chars.append(bytes((byte,)).decode(codec))
        except UnicodeDecodeError:
            chars.append(chr(byte))
    table = "".join(chars)
    return lambda data: codecs.charmap_decode(data, "strict", table)[0]


# ISO 2022 escape sequences that designate a character set (RFC 1468 for Japanese, RFC 1557
# for Korean). Only looked for in 7-bit text that declares no charset but ASCII.
_JAPANESE_ESCAPES = re.compile(rb"\x1b(?:\$[@B]|\$\(D|\(I|\(J)")
_KOREAN_ESCAPE = b"\x1b$)C"
_SNIFF_BYTES = 64 * 1024


def iso2022_codec(data: bytes) -> str | None:
    """The ISO 2022 encoding whose escape sequences 7-bit `data` carries, if any."""
    sample = data[:_SNIFF_BYTES]
    if b"\x1b" not in sample or not sample.isascii():
        return None
    if _JAPANESE_ESCAPES.search(sample):
        return ISO_2022_JP_MS
    return "iso2022_kr" if _KOREAN_ESCAPE in sample else None


def decode_iso2022_jp_ms(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it: the standard codecs first (JIS X 0208, then JIS X
    0212 and half-width katakana), then CP50220's reading, where the two-byte set also holds
    NEC's row 13 (①, ㈱, ㍻) and the NEC-selected IBM extensions (rows 89-92): its codes are
    those of CP932 (Shift_JIS) moved. Raises UnicodeDecodeError like a codec."""
    for codec in ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return _jis_as_cp932(data)


_JIS_SWITCH = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B)")
_TWO_BYTE = (b"$@", b"$B")


def _jis_as_cp932(data: bytes) -> str:
    """Every run between escape sequences moved to its CP932 bytes, decoded at once."""
    cp932 = bytearray()
    mode, start = b"(B", 0
    for switch in _JIS_SWITCH.finditer(data):
        cp932 += _jis_run(data, start, switch.start(), mode)
        mode, start = switch.group(1), switch.end()
    cp932 += _jis_run(data, start, len(data), mode)
    return cp932.decode("cp932")


def _jis_run(data: bytes, start: int, end: int, mode: bytes) -> bytes:
    """The CP932 bytes of `data[start:end]`, written in the character set `mode` designated."""
    run = data[start:end]
    if mode in _TWO_BYTE:
        # Line ends are kept as they are: clients that forget to return to ASCII before one
        # are common.
        pieces = _LINE_END.split(run) if b"\n" in run or b"\r" in run else [run]
        moved = [piece if index % 2 else _jis_to_sjis(piece) for index, piece in enumerate(pieces)]
        if any(piece is None for piece in moved):
            raise UnicodeDecodeError(ISO_2022_JP_MS, data, start, end, "not JIS X 0208 codes")
        return b"".join(piece for piece in moved if piece is not None)
    # An escape sequence we do not read (another character set) is a failure, not text.
    unread = run.translate(None, _KATAKANA_CODES) if mode == b"(I" else b"\x1b" in run
    if unread or not run.isascii():
        raise UnicodeDecodeError(ISO_2022_JP_MS, data, start, end, "not ISO-2022-JP")
    if mode == b"(I":  # JIS X 0201 katakana: CP932 holds them at 0xA1-0xDF
        return bytes(byte | 0x80 for byte in run)
    # ASCII, or JIS X 0201 Roman, which mail clients show as ASCII.
    return run


_LINE_END = re.compile(rb"(\r\n|\r|\n)")
_JIS_BYTES = bytes(range(0x21, 0x7F))


# JIS X 0208 Annex 1's arithmetic from JIS codes to Shift_JIS codes, extended to rows 89-94 as
# CP932 does, as byte tables: the first byte depends on the row alone, the second on its own
# value and the row's parity, which `_EVEN_ROW` marks in its top bit. A byte loop in Python
# took 1.5 s for 5 MB of such text, these tables 0.1 s.
def _first_byte(row: int) -> int:
    return (row + 1) // 2 + (0x70 if row <= 0x5E else 0xB0) if row in _JIS_BYTES else 0


def _second_byte(marked: int) -> int:
    """`marked`: the JIS code's second byte, plus 0x80 when its row is even."""
    if marked in _JIS_BYTES:
        return marked + (0x1F if marked <= 0x5F else 0x20)
    return marked - 0x80 + 0x7E if 0xA1 <= marked <= 0xFE else 0


_FIRST = bytes(map(_first_byte, range(256)))
_SECOND = bytes(map(_second_byte, range(256)))
_EVEN_ROW = bytes(0 if byte % 2 else 0x80 for byte in range(256))
_KATAKANA_CODES = bytes(range(0x21, 0x60))


def _jis_to_sjis(piece: bytes) -> bytes | None:
    """A run of JIS X 0208 codes (pairs of bytes 0x21-0x7E) as Shift_JIS; None if it is not."""
    if len(piece) % 2 or piece.translate(None, _JIS_BYTES):
        return None
    firsts, seconds = piece[0::2], piece[1::2]
    rows = int.from_bytes(firsts.translate(_EVEN_ROW), "big")
    marked = (int.from_bytes(seconds, "big") | rows).to_bytes(len(seconds), "big")
    out = bytearray(len(piece))
    out[0::2] = firsts.translate(_FIRST)
    out[1::2] = marked.translate(_SECOND)
    return bytes(out)


OWN_DECODERS: dict[str, Callable[[bytes], str]] = {
    ISO_2022_JP_MS: decode_iso2022_jp_ms,
    WINDOWS_1252: _c1_filled("cp1252"),
    WINDOWS_1254: _c1_filled("cp1254"),
    WINDOWS_874: _c1_filled("cp874"),
}
