"""Plain text for an HTML-only mail, so search, previews and replies have text to quote."""

from __future__ import annotations

from inscriptis import get_text
from lxml.etree import LxmlError


def html_to_text(html: str, warnings: list[str]) -> str:
    """The text inscriptis renders from `html`; "" (and a warning) when lxml cannot read it."""
    if not html.strip():
        return ""
    try:
        return get_text(html).strip()
    except (LxmlError, ValueError) as exc:
        warnings.append(f"HTML body could not be converted to text ({type(exc).__name__})")
        return ""
