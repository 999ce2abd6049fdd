"""charsets and supersets: labels read as the code pages clients write, ISO 2022 escapes found
when nothing is declared, encoded-words in quoted display names decoded (issue 13 items 2, 3)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maild.addresses import parse_mailbox_list
from maild.ingest.charsets import decode_bytes, decode_header_text, repair_display_names
from maild.ingest.parse import parse_message
from maild.ingest.supersets import ISO_2022_JP_MS, decode_iso2022_jp_ms
from maild.settings import IngestLimits

# CP932 and JIS X 0208 as Python maps it differ in six codes (〜 U+301C vs ～ U+FF5E and kin);
# Windows clients mean CP932's, and the standard codec is tried first anyway.
_CP932_DIFFERENCES = {(0x21, 0x41), (0x21, 0x42), (0x21, 0x5D), (0x21, 0x71), (0x21, 0x72),
                      (0x22, 0x4C)}  # fmt: skip


def _jis(pair: tuple[int, int]) -> bytes:
    return b"\x1b$B" + bytes(pair) + b"\x1b(B"


def test_jis_codes_read_through_cp932_as_the_standard_codec_reads_them() -> None:
    from maild.ingest.supersets import _jis_as_cp932

    for first in range(0x21, 0x7F):
        for second in range(0x21, 0x7F):
            try:
                standard = _jis((first, second)).decode("iso2022_jp")
            except UnicodeDecodeError:
                continue
            if (first, second) not in _CP932_DIFFERENCES:
                assert _jis_as_cp932(_jis((first, second))) == standard, (first, second)


@pytest.mark.parametrize(
    ("jis", "text"),
    [
        ((0x2D, 0x21), "①"),  # NEC row 13
        ((0x2D, 0x6A), "㈱"),
        ((0x2D, 0x5F), "㍻"),
        ((0x7C, 0x62), "髙"),  # NEC-selected IBM extension, row 92
        ((0x79, 0x75), "﨑"),  # row 89
    ],
)
def test_iso2022_jp_holds_the_nec_and_ibm_characters_windows_writes(
    jis: tuple[int, int], text: str
) -> None:
    assert decode_bytes(_jis(jis), "ISO-2022-JP") == (text, ISO_2022_JP_MS)


def test_iso2022_jp_broken_sequences_fail_like_a_codec() -> None:
    for broken in (b"\x1b$B-", b"\x1b$B\x7f\x21", b"\x1b$(Q!!", b"\x1b$B-!\xff"):
        with pytest.raises(UnicodeDecodeError):
            decode_iso2022_jp_ms(broken)


def test_iso2022_jp_line_end_inside_two_byte_mode_is_kept() -> None:
    assert decode_bytes(b'\x1b$B-!\r\n-"\x1b(B', "iso-2022-jp")[0] == "①\r\n②"


def test_iso2022_jp_half_width_katakana_next_to_nec_characters() -> None:
    assert decode_iso2022_jp_ms(b"\x1b$B-!\x1b(I12\x1b(B") == "①ｱｲ"
    with pytest.raises(UnicodeDecodeError):
        decode_iso2022_jp_ms(b"\x1b$B-!\x1b(I\x7f\x1b(B")


def test_undeclared_iso2022_escapes_are_read_as_that_encoding() -> None:
    assert decode_bytes(b"\x1b$B$3$s$K$A$O\x1b(B", None) == ("こんにちは", ISO_2022_JP_MS)
    assert decode_bytes(b"\x1b$)C\x0e\x30\x21\x0f", "us-ascii")[0] == "가"
    # Declared UTF-8 stays UTF-8, escape and all: nothing is guessed over a declaration.
    assert decode_bytes(b"\x1b$B$3\x1b(B", "utf-8")[0] == "\x1b$B$3\x1b(B"


def test_raw_iso2022_jp_header_is_decoded() -> None:
    assert decode_header_text("Re: \x1b$B$3$s$K$A$O\x1b(B") == "Re: こんにちは"


@pytest.mark.parametrize(
    ("label", "text", "codec"),
    [
        ("gb2312", "镕喆", "gbk"),
        ("GBK", "镕喆", "gbk"),
        ("x-gbk", "镕喆", "gbk"),
        ("euc-kr", "똠뷁", "cp949"),
        ("ks_c_5601-1987", "똠뷁", "cp949"),
        ("big5", "€", "cp950"),
        ("shift_jis", "①㈱", "cp932"),
        ("tis-620", "“ไทย”…", "cp874"),
        ("windows-874", "“ไทย”…", "cp874"),
        ("iso-8859-1", "“quoted” – €", "cp1252"),
        ("iso-8859-9", "“İstanbul”", "cp1254"),
    ],
)
def test_labels_read_as_the_superset_clients_write(label: str, text: str, codec: str) -> None:
    data = text.encode(codec)
    assert decode_bytes(data, label)[0] == text
    assert decode_header_text(f"=?{label}?B?{base64.b64encode(data).decode()}?=") == text


@given(st.binary(max_size=64))
def test_windows_supersets_of_iso_charsets_never_fail(data: bytes) -> None:
    for label in ("iso-8859-1", "iso-8859-9", "tis-620"):
        text, codec = decode_bytes(data, label)
        assert codec is not None and len(text) == len(data)


@pytest.mark.parametrize(
    ("written", "name", "address"),
    [
        ('"=?gb2312?B?1dSGtA==?=" <zhao@example.cn>', "赵喆", "zhao@example.cn"),
        ('"=?utf-8?Q?J=C3=BCrgen?=" <j@example.de>', "Jürgen", "j@example.de"),
        ("=?utf-8?Q?J=C3=BCrgen?=<j@example.de>", "Jürgen", "j@example.de"),
        ("Hans =?utf-8?Q?M=C3=BCller?= <h@example.de>", "Hans Müller", "h@example.de"),
        ("=?iso-2022-jp?B?GyRCfGI2NhsoQg==?= <t@example.jp>", "髙橋", "t@example.jp"),
        # What a name decodes to stays a name: no address, no comma, no second encoding.
        ('"=?utf-8?Q?a=22=3E_=3Cevil=40x.com=3E=2C_b=40y.com?=" <j@x.de>',
         'a"> <evil@x.com>, b@y.com', "j@x.de"),
        ("=?utf-8?Q?=3D=3Futf-8=3FQ=3Fx=3F=3D?= <a@b.example>", "=?utf-8?Q?x?=", "a@b.example"),
        ("(=?utf-8?Q?=29_evil=40x.com_=28?=) <real@x.com>", "", "real@x.com"),
    ],
)  # fmt: skip
def test_encoded_display_names_are_decoded_and_stay_names(
    written: str, name: str, address: str
) -> None:
    raw = f"From: {written}\r\nTo: s@example.com\r\n\r\nhi\r\n".encode()
    msg = parse_message(raw, IngestLimits())
    assert (msg.from_name, msg.from_address, msg.warnings) == (name, address, ())


@pytest.mark.parametrize(
    "written",
    ['"=?utf-8?Q?x?="@evil.example', "=?utf-8?Q?x?=@evil.example", 'a@"=?utf-8?Q?x?="'],
)
def test_an_encoded_word_in_an_address_is_not_decoded(written: str) -> None:
    assert repair_display_names(written) == written


_HEADERISH = st.text(alphabet=st.sampled_from('=?"\\<>@,.()abQB: _'), max_size=60)


def test_a_header_the_stdlib_parser_trips_over_gives_no_address() -> None:
    msg = parse_message(b"From: .:\r\nTo: a@b.example\r\n\r\nhi\r\n", IngestLimits())
    assert msg.from_address is None and msg.warnings  # raised AttributeError before


@given(st.lists(st.one_of(_HEADERISH, st.just("=?utf-8?Q?x=40evil=2Ey?=")), max_size=6))
def test_decoded_names_never_become_addresses(pieces: list[str]) -> None:
    text = "".join(pieces)
    mailboxes, _ = parse_mailbox_list(repair_display_names(text))
    as_written = {m.address for m in parse_mailbox_list(text)[0]}
    for mailbox in mailboxes:  # every address was written as such, none came from a name
        local, _, domain = mailbox.address.rpartition("@")
        literal = local.strip('"') in text.lower() and domain in text.lower()
        assert literal or mailbox.address in as_written, (text, mailbox)
