"""Header values maild writes: reduced to printable text, then encoded by maild itself.

This is the one exit for header text (STYLE: "text that leaves maild is re-checked at the
exit"). Two kinds of input reach it:
- what a user typed (an agent's subject, a brand's From name, a file name): a CR, LF or NUL is
  an attempt to start a new header, refused with a clear error (`clean_user_text`);
- what a mail brought (a customer's subject, a forwarded file name, a Message-ID): nobody asked
  for it, so it is reduced without complaint (`clean_mail_text`, `clean_msg_id`).
Both drop C0/C1 controls and break encoded-word syntax (`=?`), so no reader decodes our text a
second time into something else. CPython 3.11.7's generator re-decodes encoded-words while
folding (CVE-2024-6923), so headers are never folded by it: `unstructured`, `mailbox` and
`msg_ids` below write the RFC 5322 / RFC 2047 form directly, in ASCII. The one exception is an
address with a UTF-8 local part: it has no ASCII form, so it is written in UTF-8 (RFC 6532)
and the mail goes only to a relay that offers SMTPUTF8.
"""

from __future__ import annotations

import base64
import re
import unicodedata

from maild.addresses import ascii_form
from maild.errors import InvalidRequest

MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
_ENCODED_WORD_MAX = 75  # RFC 2047 §2
_EW_PREFIX = "=?utf-8?b?"
# Bytes of UTF-8 that fit in one encoded-word: base64 turns 3 bytes into 4 characters.
_WORD_BYTES = (_ENCODED_WORD_MAX - len(_EW_PREFIX) - 2) // 4 * 3
MAX_TEXT = 1000  # characters of one header value; longer text is cut
_USER_FORBIDDEN = {"\r": "CR", "\n": "LF", "\x00": "NUL"}
# A msg-id as RFC 5322 §3.6.4 allows it, restricted to printable ASCII without blanks.
_MSG_ID = re.compile(r"<[!-;=?-~]{1,900}@[!-;=?-~]{1,250}>")
_ATEXT_AND_BLANKS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")  # RFC 5322 §3.2.3


# Bidi embeddings, overrides and isolates rewrite what a reader sees (Trojan Source).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    # Cc is C0, DEL and C1; Zl/Zp are line and paragraph separators.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def _reduce(text: str) -> str:
    """Controls out (whitespace controls become a space), blanks collapsed, `=?` broken."""
    kept = "".join(" " if c in "\t\r\n" else c for c in text if c in "\t\r\n" or not _is_control(c))
    # RFC 2047 §2: an encoded-word starts with "=?". Our text stays text for every reader.
    return " ".join(kept.split()).replace("=?", "= ?")


def clean_user_text(what: str, value: str) -> str:
    """A header value a user typed: CR, LF or NUL is refused (header injection); other controls
    and encoded-word syntax are reduced."""
    for char, name in _USER_FORBIDDEN.items():
        if char in value:
            raise InvalidRequest(f"{what} must be a single line of text (it contains {name})")
    return _reduce(value)


def clean_mail_text(value: str) -> str:
    """A header value taken from a mail we received: reduced to one printable line."""
    return _reduce(value)


def clean_msg_id(value: str) -> str:
    """A Message-ID from a mail, fit to be quoted in In-Reply-To/References; "" when it is not
    a plain `<left@right>` (a NUL or ESC in it makes it unusable, not something to repair)."""
    candidate = value.strip()
    return candidate if _MSG_ID.fullmatch(candidate) else ""


# --- encoding -----------------------------------------------------------------------------


def _encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 B-encoded UTF-8 words of at most 75 characters each, split between
    characters (never inside one)."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode())
        if size + width > _WORD_BYTES and chunk:
            words.append(_word("".join(chunk)))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append(_word("".join(chunk)))
    return words


def _word(text: str) -> str:
    return f"{_EW_PREFIX}{base64.b64encode(text.encode()).decode('ascii')}?="


def _needs_encoding(text: str) -> bool:
    return not text.isascii() or any(not (" " <= c <= "~") for c in text)


def _fold(name: str, tokens: list[str], separator: str = " ") -> str:
    """`Name: tok tok ...` folded before a token whenever a line would pass 78 characters."""
    lines = [f"{name}:"]
    for index, token in enumerate(tokens):
        glue = " " if index == 0 else separator
        if len(lines[-1]) + len(glue) + len(token) > MAX_LINE and index > 0:
            lines[-1] += glue.rstrip()
            lines.append(" " + token)
        else:
            lines[-1] += glue + token
    return "\r\n".join(lines)


def unstructured(name: str, text: str) -> str:
    """An unstructured header (Subject, ...), folded. Words that are not printable ASCII (or
    too long for a line) become encoded-words; a run of them is encoded together, because the
    blank between two encoded-words is not part of the text (RFC 2047 §6.2)."""
    tokens: list[str] = []
    run: list[str] = []
    for word in _reduce(text)[:MAX_TEXT].split(" "):
        if _needs_encoding(word) or len(word) > MAX_LINE - 2:
            run.append(word)
            continue
        if run:
            tokens += _encoded_words(" ".join(run))
            run = []
        tokens.append(word)
    if run:
        tokens += _encoded_words(" ".join(run))
    return _fold(name, tokens)


def phrase(text: str) -> str:
    """A display name as RFC 5322 §3.2.5 `phrase`: atoms, a quoted-string or encoded-words."""
    clean = _reduce(text)[:MAX_TEXT]
    if not clean:
        return ""
    if _needs_encoding(clean):
        return " ".join(_encoded_words(clean))
    if _ATEXT_AND_BLANKS.fullmatch(clean):
        return clean
    escaped = clean.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def header_address(address: str, what: str) -> str:
    """An addr-spec as we write it into a header and an SMTP command: its ASCII form when it
    has one (an IDN domain in A-labels, which every relay takes), else the UTF-8 form RFC 6531
    and 6532 allow, which only a relay offering SMTPUTF8 takes (`needs_smtputf8`). Controls,
    bidi marks, line or paragraph separators and blanks other than a space are refused."""
    if any(_is_control(c) or (c.isspace() and c != " ") or _is_surrogate(c) for c in address):
        raise InvalidRequest(f"{what} {address!r} holds control or blank characters")
    if " " in address and not address.startswith('"'):
        raise InvalidRequest(f"{what} {address!r} holds a blank outside quotes")
    return ascii_form(address) or address


def needs_smtputf8(address: str) -> bool:
    """True when `address` can only be sent as RFC 6531 mail (a UTF-8 local part)."""
    return ascii_form(address) is None


def _is_surrogate(char: str) -> bool:
    return unicodedata.category(char) == "Cs"  # not text: cannot be written as UTF-8


def mailbox(name: str, address: str) -> str:
    display = phrase(name)
    return f"{display} <{address}>" if display else address


def address_list(name: str, mailboxes: list[str]) -> str:
    return _fold(
        name, [m + ("," if i < len(mailboxes) - 1 else "") for i, m in enumerate(mailboxes)]
    )


def msg_ids(name: str, ids: list[str]) -> str:
    return _fold(name, ids)
