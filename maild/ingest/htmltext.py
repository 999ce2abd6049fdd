"""Plain text for an HTML-only mail, so search, previews and replies have text to quote.

inscriptis renders layout well (tables, lists, indentation) but builds an lxml tree and a
canvas: a 5 MB HTML mail cost 90x its size and 3 s per MB (issue 12). HTML past
`_INSCRIPTIS_BYTES` is streamed through lxml's parser instead, keeping only the text and a line
break per block element: linear time, memory of the text only.
"""

from __future__ import annotations

from inscriptis import get_text
from lxml.etree import HTMLParser, LxmlError

_INSCRIPTIS_BYTES = 256 * 1024
_FEED_CHARS = 64 * 1024
# Elements that end a line of text, and those whose content is not text at all.
_BLOCK_NAMES = (
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form"
    " h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tr ul"
)
_BLOCKS = frozenset(_BLOCK_NAMES.split())
_HIDDEN = frozenset({"script", "style", "head", "title", "template"})


def html_to_text(html: str, warnings: list[str]) -> str:
    """The text of `html`; "" (and a warning) when lxml cannot read it."""
    if not html.strip():
        return ""
    try:
        if len(html) <= _INSCRIPTIS_BYTES:
            return get_text(html).strip()
        return _streamed_text(html)
    except (LxmlError, ValueError) as exc:
        warnings.append(f"HTML body could not be converted to text ({type(exc).__name__})")
        return ""


class _TextTarget:
    """An lxml parser target that keeps text, one line per block element, nothing else."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.words: list[str] = []
        self.hidden = 0

    def start(self, tag: str, attrib: object) -> None:
        self._element(tag, 1)

    def end(self, tag: str) -> None:
        self._element(tag, -1)

    def _element(self, tag: str, step: int) -> None:
        name = tag.lower() if isinstance(tag, str) else ""
        if name in _HIDDEN:
            self.hidden = max(self.hidden + step, 0)
        elif name in _BLOCKS:
            self._break()
        elif name == "td" or name == "th":
            self.words.append(" ")

    def data(self, text: str) -> None:
        if not self.hidden:
            self.words.append(text)

    def _break(self) -> None:
        line = " ".join("".join(self.words).split())
        if line:
            self.lines.append(line)
        self.words.clear()

    def close(self) -> str:
        self._break()
        return "\n".join(self.lines)


def _streamed_text(html: str) -> str:
    target = _TextTarget()
    parser = HTMLParser(target=target, recover=True)
    for start in range(0, len(html), _FEED_CHARS):
        parser.feed(html[start : start + _FEED_CHARS])
    return str(parser.close())
