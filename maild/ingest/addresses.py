"""Address headers of incoming mail: decoded (raw 8-bit, folding) and then parsed strictly by
`maild.addresses`, the one parser every layer shares."""

from __future__ import annotations

from maild.addresses import Mailbox, parse_mailbox_list
from maild.ingest.charsets import decode_surrogates, unfold

__all__ = ["Mailbox", "parse_mailboxes"]


def parse_mailboxes(value: str | None) -> tuple[tuple[Mailbox, ...], bool]:
    """The mailboxes of an address header, and whether the header was read unambiguously.

    An ambiguous header (any invalid-header defect, or a mailbox without a domain) gives ().
    """
    if not value:
        return (), True
    return parse_mailbox_list(unfold(decode_surrogates(value)))
