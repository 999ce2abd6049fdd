"""What the classification rules look at, and what a bounce report says (DESIGN §2).

`Evidence` computes each fact once per mail and only when a rule asks for it: flufl.bounce's
detectors, for instance, run only on mail that a machine sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message
from functools import cached_property

from flufl.bounce import all_failures

from maild.ingest.dsn import (
    BounceReport,
    RecipientStatus,
    ReturnedHeaders,
    find_report_part,
    find_returned_part,
    inline_returned_headers,
    read_recipients,
    returned_headers,
)
from maild.ingest.mime import TextBudget, bounded_copy
from maild.ingest.parse import ParsedMessage
from maild.ingest.ses import SesNotification, read_ses_notification
from maild.ingest.thread import strip_reply_prefixes
from maild.mailids import parse_verp

_DAEMON_NAMES = (
    r"mailer[-_.]?daemon|post_?master|mdaemon|mail[-_.]?delivery[-_.]?system"
    r"|mail[-_.]?delivery[-_.]?subsystem|double[-_]?bounce"
)
_DAEMON = re.compile(rf"^(?:{_DAEMON_NAMES})$", re.IGNORECASE)
_DAEMON_TEXT = re.compile(rf"\b(?:{_DAEMON_NAMES})\b", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status|failure|failed|has failed|problem|notification|report)"
    r"|returned mail|mail delivery|failure notice|non[- ]?delivery|not (?:be )?delivered"
    r"|unzustellbar|nicht zustellbar|returned to sender|unable to deliver|delivery delayed"
    r"|delayed mail|mail system error|permanent error|could not send|rejected|bounced?\b"
    r"|mail failure|delivery error|warning: message|nondeliverable|error sending|errors from"
    r"|user unknown|配信できません|送信できません|エラー",
    re.IGNORECASE,
)
# Subjects only delivery failure notices use; trusted without a mail-system sender when the
# mail also returns a message, and never when a person replied or forwarded (Re:, Fwd:).
_FAILURE_SUBJECT = re.compile(
    r"^(?:undeliver|mail delivery failed|returned mail|delivery status notification"
    r"|failure notice|non[- ]?delivery|delivery failure|mail system error)",
    re.IGNORECASE,
)
# Phrases a mail system's own failure notice opens with, for notices with a reply-like subject.
BOUNCE_TEXT = re.compile(
    r"could not be delivered|delivery (?:has )?failed|undeliverable|no such user|user unknown"
    r"|invalid (?:user|recipient) address|permanent error|was not delivered",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(
    r"delay|warning|temporar|not yet been delivered|will retry", re.IGNORECASE
)
_RECIPIENT_HEADERS = ("to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
# Bounce addresses: ours (bounces+TOKEN@), a list's (-bounces@, old Mailman's -admin@).
_BOUNCES_LOCAL = re.compile(r"^(?:[^@]*-)?bounces(?:[+-][^@]*)?@|^[^@]+-admin@", re.IGNORECASE)
# SES sends its notifications through SNS (sns.amazonaws.com) or as amazonses.com.
_AMAZON_DOMAINS = ("amazonses.com", "amazonaws.com")
# A token starts only where the previous character is a separator (the lookbehind) and its
# local part holds no "@": a run of 200,000 letters is then scanned once, not once per letter.
_ADDRESS_TOKEN = re.compile(r"(?<![^\s<>,;:\"'])[^\s<>,;:\"'@]+@[^\s<>,;:\"']+")
# Where addresses are picked from a header's text, only its first bytes are looked at: a
# recipient header of maild's own mail (a VERP address, X-Failed-Recipients) is short.
_ADDRESS_SPAN = 16 * 1024


def _flufl_budget() -> TextBudget:
    """What flufl.bounce reads of a mail. Its heuristic detectors run some sixty regexes over
    every line (70 µs a line); a failure notice says what failed in its first lines."""
    return TextBudget(chars=64 * 1024, lines=1000)


def address_tokens(text: str) -> list[str]:
    """Address-like tokens (`local@domain`) of the first `_ADDRESS_SPAN` characters of text."""
    return _ADDRESS_TOKEN.findall(text, 0, _ADDRESS_SPAN)


class Evidence:
    """What the rules look at, computed once per mail and only when a rule asks for it."""

    def __init__(
        self, msg: ParsedMessage, envelope_from: str | None, envelope_to: Sequence[str] = ()
    ) -> None:
        self.msg = msg
        self.envelope_from = envelope_from
        self.envelope_to = tuple(envelope_to)

    @cached_property
    def report_part(self) -> Message | None:
        return find_report_part(self.msg.tree)

    @cached_property
    def dsn_recipients(self) -> tuple[RecipientStatus, ...]:
        return read_recipients(self.report_part) if self.report_part is not None else ()

    @cached_property
    def dsn_actions(self) -> frozenset[str]:
        return frozenset(r.action for r in self.dsn_recipients if r.action)

    @cached_property
    def envelope_sender(self) -> str | None:
        """The SMTP MAIL FROM; for mail read from files, the Return-Path delivery recorded."""
        if self.envelope_from is not None:
            return self.envelope_from.strip().strip("<>").lower()
        path = self.msg.header("return-path")
        return path.strip().strip("<>").strip().lower() if path is not None else None

    @cached_property
    def from_daemon(self) -> bool:
        sender = self.msg.from_address
        if sender is not None:
            return bool(_DAEMON.match(sender.rsplit("@", 1)[0]))
        return bool(_DAEMON_TEXT.search(self.msg.header("from") or ""))

    @cached_property
    def flufl(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(temporary, permanent) failures flufl.bounce's detectors find."""
        try:
            temporary, permanent = all_failures(bounded_copy(self.msg.tree, _flufl_budget()))
        # flufl.bounce's heuristics run regexes over hostile text; a detector that trips
        # must not make the mail unprocessable, it only means "no bounce found".
        except Exception:
            return (), ()
        return _addresses(temporary), _addresses(permanent)

    @cached_property
    def sender_is_daemon(self) -> bool:
        """The envelope sender (or, from a file, the Return-Path) is a mailer-daemon or
        postmaster: RFC 3834 §2 asks responders never to answer those."""
        sender = self.envelope_sender
        return bool(sender) and bool(_DAEMON.match(str(sender).rsplit("@", 1)[0]))

    @cached_property
    def arrived_as_ndr(self) -> bool:
        """Came the way non-delivery reports come (DESIGN §2): with the null envelope sender
        or a mail system's; read from a file, with `Return-Path: <>` or, with no Return-Path
        at all, from a mailer-daemon. SES notifications come from Amazon's own senders. A
        person's mail never does, whatever it says or attaches: a customer can quote our
        Message-ID and VERP address (they are in every mail we sent them), so the look of an
        NDR must not let their mail change a ticket, nor hide it from the agents. (Both
        marks can be forged too; what protects a ticket is that a trusted bounce must also
        name one of our mails and fail for whom it went to: see `maild.ingest.apply`.)"""
        sender = self.envelope_sender
        if sender == "" or self.sender_is_daemon:
            return True
        if self.envelope_from is None and (self.from_daemon or self._from_is_null):
            return True
        senders = (sender or "", self.msg.from_address or "")
        return self.ses is not None and any(map(_from_amazon, senders))

    @property
    def _from_is_null(self) -> bool:
        return (self.msg.header("from") or "").strip() == "<>"

    @cached_property
    def may_be_ndr(self) -> bool:
        """Whether the bounce rules look at the mail at all: it arrived as an NDR, or it was
        sent to a bounce address (ours or a list's; broken gateways answer those with their
        own sender). Such a mail is a bounce, never a ticket, but only one that arrived as an
        NDR may change a ticket."""
        return self.arrived_as_ndr or self.addressed_to_bounces

    @cached_property
    def from_mail_system(self) -> bool:
        """MAIL FROM:<>, or a daemon/postmaster in From or in the envelope sender."""
        envelope = self.envelope_sender
        return envelope == "" or self.from_daemon or bool(_DAEMON_TEXT.search(envelope or ""))

    @cached_property
    def bounce_subject(self) -> bool:
        return bool(_BOUNCE_SUBJECT.search(self.msg.subject))

    @cached_property
    def failure_subject(self) -> bool:
        subject = self.msg.subject.strip()
        return strip_reply_prefixes(subject) == subject and bool(_FAILURE_SUBJECT.match(subject))

    @cached_property
    def returns_a_message(self) -> bool:
        return find_returned_part(self.msg.tree, self.report_part) is not None

    @cached_property
    def recipients(self) -> tuple[str, ...]:
        """Where the mail was delivered: RCPT TO when known, then To and delivery headers."""
        found = list(self.envelope_to)
        for name in _RECIPIENT_HEADERS:
            for value in self.msg.header_values(name):
                found.extend(address_tokens(value))
        return tuple(a.strip("<>") for a in found)

    @cached_property
    def addressed_to_bounces(self) -> bool:
        """Sent to a bounce address (our VERP `bounces+TOKEN@`, a list's `-bounces@`): only
        mail systems answer the envelope sender, people answer From or Reply-To."""
        return any(_BOUNCES_LOCAL.match(address) for address in self.recipients)

    @cached_property
    def looks_automatic(self) -> bool:
        """Sent by a machine: the gate for heuristic bounce detection, so a customer quoting
        an error message in a normal mail does not become a bounce."""
        marks = ("auto-submitted", "precedence", "x-failed-recipients")
        return (
            self.from_mail_system
            or self.addressed_to_bounces
            or self.failure_subject
            or any(self.msg.header(name) is not None for name in marks)
        )

    @cached_property
    def ses(self) -> SesNotification | None:
        return read_ses_notification(self.msg)


def _from_amazon(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in _AMAZON_DOMAINS)


def _addresses(found: frozenset[bytes] | frozenset[str]) -> tuple[str, ...]:
    out = (a.decode("utf-8", "replace") if isinstance(a, bytes) else a for a in found)
    return tuple(sorted({a.strip().strip("<>").lower() for a in out if a}))


def bounce_report(ev: Evidence, rule: str) -> BounceReport:
    """The per-recipient findings and the returned original of a mail classified bounce."""
    recipients, detector = _bounce_recipients(ev, rule)
    failed = _addresses_with_action(recipients, "failed")
    delayed = _addresses_with_action(recipients, "delayed")
    original = _original_headers(ev)
    # Without recipient details, only a subject saying "delayed"/"warning" makes it no failure.
    is_failure = bool(failed) if recipients else not _DELAY_SUBJECT.search(ev.msg.subject)
    return BounceReport(
        recipients,
        failed,
        delayed,
        is_failure,
        original.message_id,
        original.subject,
        _verp_token(ev, original),
        detector,
        ev.arrived_as_ndr,
    )


def _addresses_with_action(recipients: tuple[RecipientStatus, ...], action: str) -> tuple[str, ...]:
    """Final and original addresses (RFC 3464 §2.3.1: the original is what we sent to)."""
    found = (a for r in recipients if r.action == action for a in (r.address, r.original_address))
    return tuple(dict.fromkeys(a for a in found if a))


def _bounce_recipients(ev: Evidence, rule: str) -> tuple[tuple[RecipientStatus, ...], str]:
    if rule in ("dsn-failure", "dsn-delayed"):
        return ev.dsn_recipients, "rfc3464"
    if rule == "ses-bounce" and ev.ses is not None:
        return ev.ses.recipients, "amazon-ses"
    exim = [
        a.lower() for v in ev.msg.header_values("x-failed-recipients") for a in address_tokens(v)
    ]
    if exim:
        return tuple(
            RecipientStatus(a, "failed", "") for a in dict.fromkeys(exim)
        ), "x-failed-recipients"
    temporary, permanent = ev.flufl
    found = [RecipientStatus(a, "failed", "") for a in permanent]
    found += [RecipientStatus(a, "delayed", "") for a in temporary if a not in permanent]
    return tuple(found), ("flufl.bounce" if found else "heuristic")


def _original_headers(ev: Evidence) -> ReturnedHeaders:
    part = find_returned_part(ev.msg.tree, ev.report_part)
    if part is not None:
        found = returned_headers(part)
        if found.message_id or found.subject:
            return found
    return inline_returned_headers(ev.msg.text)


def _verp_token(ev: Evidence, original: ReturnedHeaders) -> str | None:
    """DESIGN §2: the VERP address the bounce was sent to (or the returned Return-Path)."""
    candidates = list(ev.recipients)
    if original.return_path:
        candidates.extend(address_tokens(original.return_path))
    tokens = (parse_verp(candidate) for candidate in candidates)
    return next((token for token in tokens if token), None)
