"""Turning the bytes of a mail into text whatever charset it claims (or fails to claim).

Mail in the wild declares charsets Python does not know (`ansi_x3.110-1983`), misspells them
(`uft-8`), labels a code page with the smaller standard it extends (`supersets`), or sends raw
8-bit headers with no MIME at all. None of that may raise: every decode walks one chain — the
declared charset's superset, the declared charset, then UTF-8, then charset-normalizer's guess,
then Latin-1, which maps every byte and therefore always succeeds.
"""

from __future__ import annotations

import codecs
import re
from email.errors import HeaderParseError
from email.header import decode_header
from functools import lru_cache

from charset_normalizer import from_bytes

from maild.ingest.supersets import LABELS, OWN_DECODERS, SUPERSETS, iso2022_codec

# RFC 2047 §5: an encoded-word may not be longer than 75 characters, but real mail folds them
# anywhere; the stdlib's decode_header copes with that, we only check for the marker first.
_ENCODED_WORD = "=?"
_FOLD = re.compile(r"\r?\n[ \t]*|\r[ \t]*")

# The stdlib's decode_header pops from the front of a list per encoded word (quadratic:
# 12,000 words took a second); long values are decoded in pieces of about this many chars.
_DECODE_PIECE = 2048
_SPACE = re.compile(r"\s+")
# Encoded-words are decoded in a value's first this many characters, the rest kept as written:
# decoding costs 20 µs a word, and no header maild reads is anywhere near as long.
_MAX_DECODED = 16 * 1024

_GUESS_SAMPLE = 64 * 1024

# Charset names that are not codecs but say "we don't know" (RFC 2045 default is us-ascii).
_UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "8bit", "default", ""})

# Display names with encoded-words (`repair_display_names`): a whole RFC 5322 quoted-string,
# or a run of encoded-words outside quotes. No two quantified parts share a character (a word
# holds no whitespace), so neither can backtrack.
_EW = r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]*\?="
_NAME_PART = re.compile(rf'"(?:[^"\\]|\\.)*"|{_EW}(?:\s+{_EW})*')
_NEXT_SPECIAL = re.compile(r"[@,;<:]")
_SPECIALS = re.compile(r'([()<>\[\]:;@\\,."=])')
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


class GuessBudget:
    """How many charset detections one mail may still cost. charset-normalizer takes a few
    milliseconds a call, whatever the input's size: 12,000 encoded words of unknown charsets
    took 3 s, and a thousand 8-bit headers or parts would do the same. Once it is spent, bytes
    no codec accepts read as Latin-1 (with the usual warning)."""

    def __init__(self, count: int = 8) -> None:
        self.left = count

    def spend(self) -> bool:
        """True (and one fewer left) when a detection may still run."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@lru_cache(maxsize=256)
def lookup_codec(charset: str | None) -> str | None:
    """The codec to read a declared MIME charset with: Python's codec for the label, or the
    superset mail clients read that label as; None when the label names no codec we have."""
    plain = _plain_codec(charset)
    return SUPERSETS.get(plain, plain) if plain is not None else None


@lru_cache(maxsize=256)
def _plain_codec(charset: str | None) -> str | None:
    """Python's codec for a declared MIME charset, or None when Python has no such codec."""
    if charset is None:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _UNKNOWN:
        return None
    try:
        return codecs.lookup(LABELS.get(name, name)).name
    except (LookupError, ValueError):
        return None


def decode_bytes(
    data: bytes, declared: str | None = None, guesses: GuessBudget | None = None
) -> tuple[str, str | None]:
    """Decode `data` through the fallback chain; returns the text and the codec that worked.

    The codec is None when no step before Latin-1 accepted the bytes (the caller records a
    warning then: the text is readable but may show the wrong letters). Without `guesses`
    (a caller that decodes a bounded number of values), charset-normalizer always may run.
    """
    for codec in _candidates(data, declared):
        text = _strict_decode(data, codec)
        if text is not None:
            return text, codec
    may_guess = guesses is None or guesses.spend()
    found = from_bytes(_sample(data)).best() if may_guess else None
    if found is not None and found.encoding:
        text = _strict_decode(data, found.encoding)
        if text is not None:
            return text, found.encoding
    return data.decode("latin-1"), None


def _sample(data: bytes) -> bytes:
    """The bytes a charset is guessed from: the first `_GUESS_SAMPLE`, cut at a line end so
    that no multi-byte character is cut in two. charset-normalizer on a whole 5 MB body took
    15 times its size in memory; the guess is checked on all of it by the strict decode."""
    if len(data) <= _GUESS_SAMPLE:
        return data
    end = data.rfind(b"\n", 0, _GUESS_SAMPLE)
    return data[: end + 1 if end > 0 else _GUESS_SAMPLE]


def _candidates(data: bytes, declared: str | None) -> tuple[str, ...]:
    """The codecs tried in turn before guessing: the declared charset's superset, the
    declared charset itself (a byte the superset lacks), UTF-8. When nothing but ASCII is
    declared, 7-bit bytes carrying ISO 2022 escape sequences are read in that encoding: as
    ASCII they would keep `ESC $ B` and the letters' JIS codes (RFC 1468 mail of old clients
    that wrote no MIME headers at all)."""
    plain, superset = _plain_codec(declared), lookup_codec(declared)
    escaped = iso2022_codec(data) if plain in (None, "ascii") else None
    return tuple(dict.fromkeys(c for c in (escaped, superset, plain, "utf-8") if c))


def _strict_decode(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    own = OWN_DECODERS.get(codec)
    try:
        text = own(data) if own is not None else data.decode(codec)
        # Some codecs (utf-16 and kin) yield lone surrogates: not text anyone can store or show.
        text.encode("utf-8")
    except (UnicodeError, LookupError):
        return None
    return text


def decode_surrogates(value: str, guesses: GuessBudget | None = None) -> str:
    """Text for a header the stdlib stored with `surrogateescape` (raw 8-bit bytes, no MIME)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("ascii", "surrogateescape")
        return decode_bytes(raw, None, guesses)[0]
    return value


def decode_escapes(value: str) -> str:
    """A header written raw in an ISO 2022 encoding (old Japanese clients put ISO-2022-JP
    into Subject and From with no encoded-word), decoded; any other value as it is."""
    if "\x1b" not in value or not value.isascii():
        return value
    raw = value.encode("ascii")
    decoded = _strict_decode(raw, iso2022_codec(raw))
    return value if decoded is None else decoded


def repair_display_names(text: str, guesses: GuessBudget | None = None) -> str:
    """Address header text with its display names' encoded-words decoded by our charset chain
    and written as quoted strings, for the strict parser.

    Clients put encoded-words inside a quoted display name (`"=?gb2312?B?…?=" <a@b>`: Foxmail,
    some Outlook versions) and against the `<` that follows; RFC 2047 §5 forbids both, the
    parser flags them and the whole header would be dropped; every mail client decodes them.
    And the parser's own decoding knows only Python's codecs, not the supersets clients write
    (ISO-2022-JP with ①, gb2312 with GBK). The decoded name stays inside quotes with every
    special character escaped, so nothing it says can become an address or end a comment; only
    a name followed by its `<addr>` is decoded, never a local part (`"=?…?="@host`)."""
    if _ENCODED_WORD not in text or len(text) > _MAX_DECODED:
        return text
    return _NAME_PART.sub(lambda found: _quoted_name(found, guesses), text)


def _quoted_name(found: re.Match[str], guesses: GuessBudget | None) -> str:
    written = found.group()
    if _ENCODED_WORD not in written or "\\" in written or not _is_name(found):
        return written
    inner = written[1:-1] if written.startswith('"') else written
    name = _CONTROLS.sub(" ", decode_header_text(inner, guesses))
    return '"' + _SPECIALS.sub(r"\\\1", name) + '"'


def _is_name(found: re.Match[str]) -> bool:
    """A display name is followed by its `<addr>` (or a group's name by `:`) before any `@`,
    `,` or `;`: a local part (`"=?…?="@host`, `=?…?=(comment)@host`) is not."""
    text = found.string
    follows = _NEXT_SPECIAL.search(text, found.end())
    return (
        not text.endswith("@", 0, found.start())
        and follows is not None
        and (follows.group() in "<:")
    )


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: unfolding removes the CRLF before folding whitespace."""
    return _FOLD.sub(" ", value).strip()


def decode_header_text(value: str, guesses: GuessBudget | None = None) -> str:
    """Decode an unstructured header value: 8-bit bytes, then RFC 2047 encoded-words.

    Without `guesses`, the value gets a budget of its own: one value may hold thousands of
    encoded-words in unknown charsets."""
    guesses = guesses if guesses is not None else GuessBudget()
    text = decode_escapes(unfold(decode_surrogates(value, guesses)))
    if _ENCODED_WORD not in text:
        return text
    decoded: list[str] = []
    for piece, gap in _pieces(text[:_MAX_DECODED]):
        decoded.extend((_decode_words(piece, guesses), gap))
    return "".join(decoded) + text[_MAX_DECODED:]


def _pieces(text: str) -> list[tuple[str, str]]:
    """`text` cut at whitespace about every `_DECODE_PIECE` characters: (piece, the gap after
    it). A gap between two encoded-words is dropped (RFC 2047 §6.2), as if decoded whole."""
    pieces: list[tuple[str, str]] = []
    start = 0
    while (gap := _SPACE.search(text, start + _DECODE_PIECE)) is not None:
        between_words = text.endswith("?=", 0, gap.start()) and text.startswith("=?", gap.end())
        pieces.append((text[start : gap.start()], "" if between_words else gap.group()))
        start = gap.end()
    pieces.append((text[start:], ""))
    return pieces


def _decode_words(text: str, guesses: GuessBudget | None) -> str:
    if _ENCODED_WORD not in text:
        return text
    try:
        chunks = decode_header(text)
    # Malformed encoded-words (`=?utf-8?b?A?=` is HeaderParseError): keep them as written.
    except (ValueError, AssertionError, HeaderParseError):
        return text
    return "".join(_decode_chunk(chunk, charset, guesses) for chunk, charset in chunks)


def _decode_chunk(chunk: bytes | str, charset: str | None, guesses: GuessBudget | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset is None:
        # decode_header returns the text between encoded-words as raw-unicode-escape bytes.
        return chunk.decode("raw-unicode-escape", "replace")
    return decode_bytes(chunk, charset, guesses)[0]
