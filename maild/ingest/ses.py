"""Amazon SES notifications delivered by mail through SNS: JSON instead of an RFC 3464 report.

A maild installation sending through SES may subscribe an address to its bounce topic; the
notification names the bounced recipients. The JSON is read with patterns rather than
`json.loads`: SNS nests it as an escaped string, and mail transport often wraps its lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maild.ingest.dsn import RecipientStatus
from maild.ingest.parse import ParsedMessage

_SNS_SENDER = "@sns.amazonaws.com"
_TYPE = re.compile(r'\\?"(?:notificationType|eventType)\\?"\s*:\s*\\?"(\w+)')
_BOUNCE_TYPE = re.compile(r'\\?"bounceType\\?"\s*:\s*\\?"(\w+)')
# Only the list's opening is a regex; its end is the next "]", found once. A lazy `(.*?)\]`
# rescanned the body for each of 10,000 unclosed lists.
_RECIPIENTS = re.compile(r'\\?"bouncedRecipients\\?"\s*:\s*\[')
# A notification is a few KB of JSON; the patterns look at the body's first bytes only.
_NOTIFICATION_SPAN = 64 * 1024
_ADDRESS = re.compile(r'\\?"emailAddress\\?"\s*:\s*\\?"([^"\\\s]+)')


@dataclass(frozen=True)
class SesNotification:
    kind: str  # Bounce | Complaint | Delivery
    recipients: tuple[RecipientStatus, ...]


def read_ses_notification(msg: ParsedMessage) -> SesNotification | None:
    """The SES notification a mail from SNS carries, or None for any other mail."""
    sns = msg.header("x-amz-sns-message-id") is not None
    if not sns and not (msg.from_address or "").endswith(_SNS_SENDER):
        return None
    text = msg.text[:_NOTIFICATION_SPAN]
    kind = _TYPE.search(text)
    if kind is None:
        return None
    bounce_type = _BOUNCE_TYPE.search(text)
    # SES: "Permanent" bounces will not be retried; "Transient" ones may still be delivered.
    action = "delayed" if bounce_type and bounce_type.group(1) == "Transient" else "failed"
    addresses = _ADDRESS.findall(_recipient_list(text))
    return SesNotification(
        kind.group(1),
        tuple(RecipientStatus(a.lower(), action, "") for a in dict.fromkeys(addresses)),
    )


def _recipient_list(text: str) -> str:
    """The text of the first `bouncedRecipients` list; "" when there is none."""
    opening = _RECIPIENTS.search(text)
    if opening is None:
        return ""
    closing = text.find("]", opening.end())
    return text[opening.end() : closing] if closing >= 0 else ""
