"""Address lists as an agent types them: `;` or `,` between addresses (seed: "separate email
addresses with a semi-colon"), each address parsed strictly. A separator inside quotes, angle
brackets or a comment belongs to the address (`"Doe, Jane" <jane@x>`, `"a,b"@x`), so a quoted
local part with a comma stays one recipient."""

from __future__ import annotations

from maild.addresses import parse_address
from maild.errors import InvalidRequest

MAX_RECIPIENTS = 100


def split_addresses(text: str, what: str) -> tuple[str, ...]:
    """The addresses of `text`, lower-cased, in order, each once; "" gives ()."""
    for char, name in (("\r", "CR"), ("\n", "LF"), ("\x00", "NUL")):
        if char in text:
            raise InvalidRequest(f"{what} must be one line (it contains {name})")
    found: list[str] = []
    for piece in _pieces(text):
        address = parse_address(piece, f"{what} address")
        if address not in found:
            found.append(address)
    if len(found) > MAX_RECIPIENTS:
        raise InvalidRequest(f"{what}: at most {MAX_RECIPIENTS} addresses, got {len(found)}")
    return tuple(found)


def _pieces(text: str) -> list[str]:
    """Split at `,` and `;` outside quoted strings, `<...>` and `(...)`; one pass, no regex."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = {"(": 0, "<": 0}
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"' and not depth["("]:
            quoted = not quoted
        elif not quoted and char in "(<":
            depth[char] += 1
        elif not quoted and char in ")>":
            opening = "(" if char == ")" else "<"
            depth[opening] = max(0, depth[opening] - 1)
        elif not quoted and char in ",;" and not any(depth.values()):
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]
