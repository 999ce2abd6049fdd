"""Turning the bytes of a mail into text whatever charset it claims (or fails to claim).

Mail in the wild declares charsets Python does not know (`ansi_x3.110-1983`), misspells them
(`uft-8`), or sends raw 8-bit headers with no MIME at all. None of that may raise: every decode
walks one chain — the declared charset, then UTF-8, then charset-normalizer's guess, then
Latin-1, which maps every byte and therefore always succeeds.
"""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

from charset_normalizer import from_bytes

# RFC 2047 §5: an encoded-word may not be longer than 75 characters, but real mail folds them
# anywhere; the stdlib's decode_header copes with that, we only check for the marker first.
_ENCODED_WORD = "=?"
_FOLD = re.compile(r"\r?\n[ \t]*|\r[ \t]*")

# Charset names that are not codecs but say "we don't know" (RFC 2045 default is us-ascii).
_UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "8bit", "default", ""})


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


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode `data` through the fallback chain; returns the text and the codec that worked.

    The codec is None when no step before Latin-1 accepted the bytes (the caller records a
    warning then: the text is readable but may show the wrong letters).
    """
    for codec in (lookup_codec(declared), "utf-8"):
        text = _strict_decode(data, codec)
        if text is not None:
            return text, codec
    guess = from_bytes(data).best()
    if guess is not None and guess.encoding:
        text = _strict_decode(data, guess.encoding)
        if text is not None:
            return text, guess.encoding
    return data.decode("latin-1"), None


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


def decode_surrogates(value: str) -> str:
    """Text for a header the stdlib stored with `surrogateescape` (raw 8-bit bytes, no MIME)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("ascii", "surrogateescape")
        return decode_bytes(raw)[0]
    return value


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: unfolding removes the CRLF before folding whitespace."""
    return _FOLD.sub(" ", value).strip()


def decode_header_text(value: str) -> str:
    """Decode an unstructured header value: 8-bit bytes, then RFC 2047 encoded-words."""
    text = unfold(decode_surrogates(value))
    if _ENCODED_WORD not in text:
        return text
    try:
        chunks = decode_header(text)
    except (ValueError, AssertionError):  # malformed encoded-words: keep them as written
        return text
    return "".join(_decode_chunk(chunk, charset) for chunk, charset in chunks)


def _decode_chunk(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset is None:
        # decode_header returns the text between encoded-words as raw-unicode-escape bytes.
        return chunk.decode("raw-unicode-escape", "replace")
    return decode_bytes(chunk, charset)[0]
