"""Mail HTML as the API returns it: sanitised with nh3 (Ammonia), so a console can show it
without running a sender's scripts, styles that overlay the page, or event handlers. Every
mail is hostile, including our own (DESIGN: "Text that leaves maild is re-checked at the exit")."""

from __future__ import annotations

import nh3


def safe_html(html: str) -> str:
    if not html:
        return ""
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")
