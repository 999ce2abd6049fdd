"""What the CLI prints, made safe for an admin's terminal (issue 12 item 7).

Subjects, names and bodies come from mail: a raw ESC, BEL or CR in one is an OSC 8 link, a
title change or a wiped line in the terminal that lists it. Every value the CLI prints leaves
through here, which shows controls as escapes instead of sending them: C0 and C1 controls, DEL,
and the bidirectional overrides that reorder what a line appears to say.
"""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_LAYOUT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# JSON already escapes C0 controls; these are what `ensure_ascii=False` lets through.
_JSON_UNESCAPED = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_line(text: object) -> str:
    """One line for the terminal: every control, tab and line break included, escaped."""
    return _CONTROLS.sub(_escape, str(text))


def terminal_text(text: object) -> str:
    """Multi-line text for the terminal: line breaks and tabs kept, other controls escaped."""
    return _CONTROLS_BUT_LAYOUT.sub(_escape, str(text))


def json_line(value: Any) -> str:
    """`value` as one line of JSON, non-ASCII kept readable but no control left raw."""
    return _JSON_UNESCAPED.sub(_json_escape, json.dumps(value, ensure_ascii=False))
