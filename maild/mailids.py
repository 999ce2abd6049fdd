"""maild's own identifiers, the one definition shared by outbound (which makes them) and ingest
(which reads them back from replies and bounces):
- Message-ID `<TOKEN.NUMBER@domain>`, TOKEN 20 lower-case hex characters (unguessable),
  NUMBER the ticket number, e.g. `<3f2a...9c.SUP-000123@example.com>`;
- VERP envelope sender `bounces+TOKEN@domain` (DESIGN §2: correlating a bounce).
"""

from __future__ import annotations

import re
import secrets

_TOKEN = r"[0-9a-f]{20}"
# RFC 5322 §3.6.4: id-left is dot-atom-text; the ticket number must fit in it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_NUMBER_TEXT = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_MAILD_ID = re.compile(rf"^<?({_TOKEN})\.({_NUMBER_TEXT.pattern})@([^<>@\s]+)>?$")
_VERP = re.compile(rf"^<?bounces\+({_TOKEN})@[^<>@\s]+>?$", re.IGNORECASE)


def new_token() -> str:
    """An unguessable token (80 bits) for one outgoing mail."""
    return secrets.token_hex(10)


def make_message_id(token: str, number: str, domain: str) -> str:
    """The Message-ID header value of an outbound mail of ticket `number`."""
    if not re.fullmatch(_TOKEN, token):
        raise ValueError(f"token must be 20 lower-case hex characters, not {token!r}")
    if not _NUMBER_TEXT.fullmatch(number) or not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        raise ValueError(f"{number!r}@{domain!r} cannot form a Message-ID")
    return f"<{token}.{number}@{domain}>"


def parse_message_id(mid: str) -> tuple[str, str] | None:
    """(token, number) of a Message-ID maild generated; None for any other id."""
    match = _MAILD_ID.match(mid.strip())
    return (match.group(1), match.group(2)) if match else None


def verp_address(token: str, domain: str) -> str:
    """The envelope sender of an outbound mail: bounces come back to it."""
    if not re.fullmatch(_TOKEN, token):
        raise ValueError(f"token must be 20 lower-case hex characters, not {token!r}")
    return f"bounces+{token}@{domain}"


def parse_verp(address: str) -> str | None:
    """The token of a VERP address (`bounces+TOKEN@domain`), else None."""
    match = _VERP.match(address.strip())
    return match.group(1).lower() if match else None
