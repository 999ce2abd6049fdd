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
    pieces = []
    mode, start = b"(B", 0
    for switch in _JIS_SWITCH.finditer(data):
        pieces.append(_jis_run(data, start, switch.start(), mode))
        mode, start = switch.group(1), switch.end()
    pieces.append(_jis_run(data, start, len(data), mode))
    return "".join(pieces)


def _jis_run(data: bytes, start: int, end: int, mode: bytes) -> str:
    """The text of `data[start:end]`, written in the character set `mode` designated."""
    run = data[start:end]
    if mode in _TWO_BYTE:
        return _jis_to_sjis(data, start, end).decode("cp932")
    if b"\x1b" in run or not run.isascii():
        # An escape sequence we do not read (another character set) is a failure, not text.
        raise UnicodeDecodeError(ISO_2022_JP_MS, data, start, end, "not ISO-2022-JP")
    if mode == b"(I":  # JIS X 0201 katakana: CP932 holds them at 0xA1-0xDF
        return bytes(byte | 0x80 for byte in run).decode("cp932")
    # ASCII, or JIS X 0201 Roman, which mail clients show as ASCII.
    return run.decode("ascii")


def _jis_to_sjis(data: bytes, start: int, end: int) -> bytes:
    """JIS X 0208 codes (pairs of bytes 0x21-0x7E) as Shift_JIS codes, by the arithmetic of
    JIS X 0208 Annex 1, extended to rows 89-94 as CP932 does. Line ends are kept as they are:
    clients that forget to return to ASCII before one are common."""
    out = bytearray()
    index = start
    while index < end:
        first = data[index]
        if first in b"\r\n":
            out.append(first)
            index += 1
            continue
        second = data[index + 1] if index + 1 < end else 0
        if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
            raise UnicodeDecodeError(ISO_2022_JP_MS, data, index, index + 2, "not a JIS code")
        out.append((first + 1) // 2 + (0x70 if first <= 0x5E else 0xB0))
        if first % 2:
            out.append(second + (0x1F if second <= 0x5F else 0x20))
        else:
            out.append(second + 0x7E)
        index += 2
    return bytes(out)


OWN_DECODERS: dict[str, Callable[[bytes], str]] = {
    ISO_2022_JP_MS: decode_iso2022_jp_ms,
    WINDOWS_1252: _c1_filled("cp1252"),
    WINDOWS_1254: _c1_filled("cp1254"),
    WINDOWS_874: _c1_filled("cp874"),
}
