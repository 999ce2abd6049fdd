"""Optional DKIM signing (RFC 6376) with dkimpy, when `[outbound] dkim_selector` and
`dkim_key_file` are set. Signed at delivery, so a rotated key signs what is still queued."""

from __future__ import annotations

from pathlib import Path

import dkim

from maild.addresses import ascii_domain
from maild.errors import ConfigError
from maild.settings import OutboundSettings

# The headers a reader trusts; signing them makes any change to them break the signature.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"auto-submitted",
)


class DkimSigner:
    def __init__(self, selector: str, domain: str, key: bytes) -> None:
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self.key = key

    def sign(self, raw: bytes) -> bytes:
        """`raw` with a DKIM-Signature header in front."""
        header = dkim.sign(
            raw, self.selector, self.domain, self.key, include_headers=list(SIGNED_HEADERS)
        )
        return header + raw


def build_signer(settings: OutboundSettings) -> DkimSigner | None:
    if not (settings.dkim_selector and settings.dkim_key_file):
        return None
    try:
        key = Path(settings.dkim_key_file).read_bytes()
    except OSError as exc:
        reason = f"cannot read {settings.dkim_key_file}: {exc.strerror}"
        raise ConfigError("[outbound]", "dkim_key_file", reason) from exc
    # d= is a DNS name: an IDN domain signs in its A-labels (RFC 6376 §3.5), and the key's
    # record is looked up there.
    domain = ascii_domain(settings.dkim_domain or settings.domain)
    if domain is None:
        reason = f"{settings.dkim_domain or settings.domain!r} is not a valid domain name"
        raise ConfigError("[outbound]", "dkim_domain", reason)
    if not settings.dkim_selector.isascii():
        reason = f"{settings.dkim_selector!r} is not a DNS label: use ASCII letters and digits"
        raise ConfigError("[outbound]", "dkim_selector", reason)
    signer = DkimSigner(settings.dkim_selector, domain, key)
    try:
        signer.sign(b"From: a@example.com\r\nSubject: key check\r\n\r\nx\r\n")
    except dkim.DKIMException as exc:
        reason = f"{settings.dkim_key_file} is not a usable private key: {exc}"
        raise ConfigError("[outbound]", "dkim_key_file", reason) from exc
    return signer
