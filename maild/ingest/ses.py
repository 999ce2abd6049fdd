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
_RECIPIENTS = re.compile(r'\\?"bouncedRecipients\\?"\s*:\s*\[(.*?)\]', re.DOTALL)
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
    kind = _TYPE.search(msg.text)
    if kind is None:
        return None
    listed = _RECIPIENTS.search(msg.text)
    bounce_type = _BOUNCE_TYPE.search(msg.text)
    # SES: "Permanent" bounces will not be retried; "Transient" ones may still be delivered.
    action = "delayed" if bounce_type and bounce_type.group(1) == "Transient" else "failed"
    addresses = _ADDRESS.findall(listed.group(1)) if listed else []
    return SesNotification(
        kind.group(1),
        tuple(RecipientStatus(a.lower(), action, "") for a in dict.fromkeys(addresses)),
    )
