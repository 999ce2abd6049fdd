"""normal, auto_reply or bounce — and why (DESIGN §2). Pure: a ParsedMessage in, a value out.

Rules are small named objects in Mailman's style; the first that hits decides, and its name is
the reason recorded. Bounce rules come first, because bounces also carry every automatic-mail
mark (empty envelope sender, mailer-daemon, Auto-Submitted) and must not be mistaken for them.
Then the two questions DESIGN §2 keeps apart: rules of kind `auto_reply` find machine-made
mail (it changes no ticket status, and is never answered); rules of kind `normal` find a
person's mail that must not be answered (a reply through a mailing list re-opens its ticket
like any reply). The vendor headers and subject prefixes are tables in `automatic`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from maild.ingest import automatic
from maild.ingest.dsn import BounceReport, RecipientStatus
from maild.ingest.evidence import BOUNCE_TEXT, Evidence, bounce_report
from maild.ingest.mime import walk
from maild.ingest.parse import ParsedMessage
from maild.values import Kind

__all__ = [
    "MAILING_LIST",
    "RULES",
    "BounceReport",
    "Classification",
    "RecipientStatus",
    "Rule",
    "classify",
]

_SUCCESS = frozenset({"delivered", "relayed", "expanded"})


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str  # name of the rule that hit ("no-rule" for normal mail)
    # DESIGN §2's two questions. May the department's autoresponder answer it? Does it change
    # the status of the ticket it joins as a customer's reply does? (Bounces change status by
    # their own rule, DESIGN §1: only a failure report of our mail re-activates.)
    may_autorespond: bool = True
    changes_status: bool = True
    bounce: BounceReport | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    kind: Kind
    check: Callable[[Evidence], bool]


def _header_is(name: str, pattern: str) -> Callable[[Evidence], bool]:
    regex = re.compile(pattern, re.IGNORECASE)
    return lambda ev: any(regex.search(v) for v in ev.msg.header_values(name))


def _has_header(*names: str) -> Callable[[Evidence], bool]:
    return lambda ev: any(ev.msg.header(name) is not None for name in names)


def _is_feedback_report(ev: Evidence) -> bool:
    for part, _depth in walk(ev.msg.tree):
        if part.get_content_type() == "message/feedback-report":
            return True
        report_type = str(part.get_param("report-type", "")).lower()
        if part.get_content_type() == "multipart/report" and report_type == "feedback-report":
            return True
    return False


def _is_heuristic_bounce(ev: Evidence) -> bool:
    if ev.from_mail_system:
        return ev.bounce_subject or bool(BOUNCE_TEXT.search(ev.msg.text[:4000]))
    return ev.failure_subject and ev.returns_a_message


_PRECEDENCE_LIST = _header_is("precedence", r"^\s*list\b")
MAILING_LIST = "mailing-list"  # the rule's name: apply keeps a list's addresses off the ticket
NOREPLY_SENDER = "noreply-sender"  # apply answers a Reply-To that is the requester all the same

RULES: tuple[Rule, ...] = (
    Rule(
        "dsn-failure",
        "RFC 3464 report with a recipient whose Action is failed",
        Kind.BOUNCE,
        lambda ev: "failed" in ev.dsn_actions,
    ),
    Rule(
        "dsn-delayed",
        "RFC 3464 report saying delivery is delayed (not a failure)",
        Kind.BOUNCE,
        lambda ev: "delayed" in ev.dsn_actions,
    ),
    Rule(
        "arf-feedback-report",
        "RFC 5965 abuse/feedback report",
        Kind.AUTO_REPLY,
        _is_feedback_report,
    ),
    Rule(
        "dsn-success",
        "RFC 3464 report of successful delivery (delivered/relayed/expanded)",
        Kind.AUTO_REPLY,
        lambda ev: bool(ev.dsn_actions & _SUCCESS),
    ),
    Rule(
        "x-failed-recipients",
        "Exim's X-Failed-Recipients header",
        Kind.BOUNCE,
        _has_header("x-failed-recipients"),
    ),
    Rule(
        "flufl-bounce",
        "non-standard bounce recognised by flufl.bounce",
        Kind.BOUNCE,
        lambda ev: ev.looks_automatic and any(ev.flufl),
    ),
    Rule(
        "dsn-unreadable",
        "RFC 3464 report whose recipient fields could not be read",
        Kind.BOUNCE,
        lambda ev: ev.report_part is not None and not ev.dsn_actions,
    ),
    Rule(
        "ses-bounce",
        "Amazon SES bounce notification (JSON via SNS)",
        Kind.BOUNCE,
        lambda ev: ev.ses is not None and ev.ses.kind == "Bounce",
    ),
    Rule(
        "ses-notification",
        "Amazon SES delivery or complaint notification",
        Kind.AUTO_REPLY,
        lambda ev: ev.ses is not None,
    ),
    Rule(
        "bounce-heuristic",
        "failure notice from a mail system, or with the message returned",
        Kind.BOUNCE,
        _is_heuristic_bounce,
    ),
    Rule(
        "jmrp-complaint",
        "Microsoft JMRP complaint (Hotmail/Outlook.com feedback loop)",
        Kind.AUTO_REPLY,
        _header_is("subject", r"^\s*complaint about message from "),
    ),
    # RFC 3834 §5: Auto-Submitted other than "no" marks automatic mail.
    Rule(
        "auto-submitted",
        "Auto-Submitted is not 'no' (RFC 3834)",
        Kind.AUTO_REPLY,
        _header_is("auto-submitted", r"^\s*(?!no\b)\S"),
    ),
    Rule(
        "precedence",
        "Precedence bulk, junk or auto_reply: mass or automatic mail",
        Kind.AUTO_REPLY,
        _header_is("precedence", r"^\s*(?:bulk|junk|auto_reply)\b"),
    ),
    Rule(
        "vendor-autoreply",
        "a mail system's own out-of-office or autoresponder header (automatic.HEADER_MARKS)",
        Kind.AUTO_REPLY,
        lambda ev: automatic.header_mark(ev.msg.headers) is not None,
    ),
    Rule(
        "autoreply-subject",
        "subject opens with an auto-reply prefix (automatic.SUBJECT_PREFIXES)",
        Kind.AUTO_REPLY,
        lambda ev: automatic.autoreply_subject(ev.msg.subject),
    ),
    # RFC 3834 §2 / RFC 5321 §4.5.5: MAIL FROM:<> is used by automatic mail only.
    Rule(
        "empty-envelope-sender",
        "sent with MAIL FROM:<>",
        Kind.AUTO_REPLY,
        lambda ev: ev.envelope_sender == "",
    ),
    Rule(
        "daemon-sender",
        "sent by mailer-daemon or postmaster (From, envelope sender or Return-Path)",
        Kind.AUTO_REPLY,
        lambda ev: ev.from_daemon or ev.sender_is_daemon,
    ),
    # A person may have written these: they change status like any mail, unanswered.
    Rule(
        MAILING_LIST,
        "mailing-list mail (List-Id / List-Unsubscribe, RFC 2369/2919; Precedence: list)",
        Kind.NORMAL,
        lambda ev: _has_header("list-id", "list-unsubscribe")(ev) or _PRECEDENCE_LIST(ev),
    ),
    Rule(
        "x-auto-response-suppress",
        "sender asks not to be auto-answered (Exchange)",
        Kind.NORMAL,
        _header_is("x-auto-response-suppress", r"^\s*(?!none\b)\S"),
    ),
    Rule(
        NOREPLY_SENDER,
        "sent from a no-reply address: nobody reads an answer",
        Kind.NORMAL,
        lambda ev: automatic.is_noreply(ev.msg.from_address),
    ),
)


def classify(
    msg: ParsedMessage, envelope_from: str | None, envelope_to: Sequence[str] = ()
) -> Classification:
    """Classify a mail. `envelope_from` "" means MAIL FROM:<>, None means unknown (a file);
    `envelope_to` (the RCPT TO addresses, when known) may carry a VERP token."""
    evidence = Evidence(msg, envelope_from, envelope_to)
    for rule in RULES:
        if rule.kind is Kind.BOUNCE and not evidence.may_be_ndr:
            continue  # DESIGN §2: a person's mail is a person's, however much it looks an NDR
        if rule.check(evidence):
            bounce = bounce_report(evidence, rule.name) if rule.kind is Kind.BOUNCE else None
            return Classification(
                rule.kind,
                rule.name,
                may_autorespond=False,
                changes_status=rule.kind is Kind.NORMAL,
                bounce=bounce,
            )
    return Classification(Kind.NORMAL, "no-rule")
