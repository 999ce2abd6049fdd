"""Turning the bytes of a mail into text whatever charset it claims (or fails to claim).

Mail in the wild declares charsets Python does not know (`ansi_x3.110-1983`), misspells them
(`uft-8`), or sends raw 8-bit headers with no MIME at all. None of that may raise: every decode
walks one chain — the declared charset, then UTF-8, then charset-normalizer's guess, then
Latin-1, which maps every byte and therefore always succeeds.
"""

from __future__ import annotations

import codecs
import re
from email.errors import HeaderParseError
from email.header import decode_header
from functools import lru_cache

from charset_normalizer import from_bytes

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
    """The Python codec for a declared MIME charset, or None when Python has no such codec."""
    if charset is None:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _UNKNOWN:
        return None
    try:
        return codecs.lookup(name).name
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
    for codec in (lookup_codec(declared), "utf-8"):
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


def _strict_decode(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        text = data.decode(codec)
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


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: unfolding removes the CRLF before folding whitespace."""
    return _FOLD.sub(" ", value).strip()


def decode_header_text(value: str, guesses: GuessBudget | None = None) -> str:
    """Decode an unstructured header value: 8-bit bytes, then RFC 2047 encoded-words.

    Without `guesses`, the value gets a budget of its own: one value may hold thousands of
    encoded-words in unknown charsets."""
    guesses = guesses if guesses is not None else GuessBudget()
    text = unfold(decode_surrogates(value, guesses))
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
