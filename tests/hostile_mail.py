"""Hostile mails of issue 12 (items 2, 3, 4), built at any scale for the tests and the bench.

Each builder takes `scale` (1.0 = the size the issue measured) so the tests can run the same
shape small and `bench/hostile.py` at full size.
"""

from __future__ import annotations

from collections.abc import Callable

_HEAD = (
    b"From: Mallory <mallory@attacker.example>\r\n"
    b"To: support@example.com\r\n"
    b"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n"
)


def _mail(headers: bytes, body: bytes, message_id: str) -> bytes:
    mid = f"Message-ID: <{message_id}@attacker.example>\r\n".encode()
    return _HEAD + mid + headers + b"\r\n" + body


def _n(count: int, scale: float) -> int:
    return max(1, int(count * scale))


def x_original_to(scale: float = 1.0) -> bytes:
    """200,000 letters in X-Original-To: the address-token regex tried every start."""
    letters = b"a" * _n(200_000, scale)
    return _mail(b"Subject: hi\r\nX-Original-To: " + letters + b"\r\n", b"hello\r\n", "xot")


def display_name(scale: float = 1.0) -> bytes:
    """A display name of 200,000 letters in To."""
    to = b"To: " + b"a" * _n(200_000, scale) + b" <support@example.com>\r\n"
    return _mail(b"Subject: hi\r\n" + to, b"hello\r\n", "name").replace(
        b"To: support@example.com\r\n", b"", 1
    )


def reply_prefix(scale: float = 1.0) -> bytes:
    """`re` and 100,000 spaces: the reply-prefix regex had two adjacent `\\s*`."""
    subject = b"Subject: re" + b" " * _n(100_000, scale) + b"x\r\n"
    return _mail(subject, b"hello\r\n", "prefix")


def uuencode_begins(scale: float = 1.0) -> bytes:
    """40,000 `begin 644` lines and no `end`: each one scanned to the end of the body."""
    body = b"begin 644 file.bin\r\n" * _n(40_000, scale)
    return _mail(b"Subject: files\r\n", body, "uu")


def ses_recipients(scale: float = 1.0) -> bytes:
    """An SES-looking notification with 10,000 unclosed `bouncedRecipients` lists."""
    listing = b'"bouncedRecipients": [{"emailAddress": "a@b.example"},\r\n' * _n(10_000, scale)
    body = b'{"notificationType": "Bounce", "bounce": {' + listing + b"\r\n"
    # Sent as NDRs are (null sender): only such mail reaches the bounce detectors.
    headers = b"Return-Path: <>\r\nSubject: AWS Notification Message\r\nX-Amz-Sns-Message-Id: 1\r\n"
    return _mail(headers, body, "ses")


def flufl_long_body(scale: float = 1.0) -> bytes:
    """A machine-looking mail with a long body: flufl.bounce's detectors read all of it."""
    line = b"The following address failed: <someone@example.org> (error 550)  \r\n"
    body = line * _n(12_000, scale)
    headers = b"Return-Path: <>\r\nSubject: Delivery failure\r\nAuto-Submitted: auto-replied\r\n"
    return _mail(headers, body, "flufl")


def unknown_charsets(scale: float = 1.0) -> bytes:
    """12,000 encoded words of unknown charsets: one charset detection per word."""
    words = (f"=?x-{i % 2}?q?=E9?=".encode() for i in range(_n(12_000, scale)))
    return _mail(b"Subject: " + b"\r\n ".join(words) + b"\r\n", b"hello\r\n", "charsets")


def cc_encoded_words(scale: float = 1.0) -> bytes:
    """18,000 encoded words in Cc (252 KB): the address parser got the whole header."""
    line = b" ".join([b"=?utf-8?q?a?="] * 5)
    words = b"\r\n ".join([line] * max(1, _n(18_000, scale) // 5))
    return _mail(b"Subject: hi\r\nCc: " + words + b"\r\n", b"hello\r\n", "cc")


def empty_parts(scale: float = 1.0) -> bytes:
    """3.4 million empty parts (24 MB): the part limit was checked after the full parse."""
    headers = (
        b'Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
    )
    body = b"--b\r\n\r\n" * _n(3_400_000, scale) + b"--b--\r\n"
    return _mail(headers, body, "parts")


def html_body(scale: float = 1.0) -> bytes:
    """5 MB of HTML and no text part: the HTML → text conversion."""
    row = b"<tr><td>item</td><td><b>bold</b> and <i>italic</i> text</td></tr>\r\n"
    body = b"<html><body><table>\r\n" + row * _n(80_000, scale) + b"</table></body></html>\r\n"
    headers = b"Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    return _mail(headers, body, "html")


def plain_body(scale: float = 1.0) -> bytes:
    """21 MB of plain text in short lines: the parser held one string per line."""
    headers = b"Subject: log\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    return _mail(headers, b"word\r\n" * _n(3_500_000, scale), "plain")


LINEAR_TIME: dict[str, Callable[[float], bytes]] = {
    "x-original-to": x_original_to,
    "display-name": display_name,
    "reply-prefix": reply_prefix,
    "uuencode-begins": uuencode_begins,
    "ses-recipients": ses_recipients,
    "flufl-long-body": flufl_long_body,
    "unknown-charsets": unknown_charsets,
}
BOUNDED_MEMORY: dict[str, Callable[[float], bytes]] = {
    "cc-encoded-words": cc_encoded_words,
    "empty-parts": empty_parts,
    "html-body": html_body,
    "plain-body": plain_body,
}


def undecodable_header() -> bytes:
    """`X-Foo: =?utf-8?b?A?=` raised HeaderParseError."""
    return _mail(b"Subject: help\r\nX-Foo: =?utf-8?b?A?=\r\n", b"please help\r\n", "xfoo")


def nested_parentheses(depth: int = 5000) -> bytes:
    """5,000 nested comments in To raised RecursionError in the address parser."""
    to = b"To: support@example.com " + b"(" * depth + b"x" + b")" * depth + b"\r\n"
    return _mail(b"Subject: help\r\n" + to, b"please help\r\n", "parens").replace(
        b"To: support@example.com\r\n", b"", 1
    )
