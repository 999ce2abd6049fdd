"""Run in a child process by the memory tests: `python -m tests.ingest.peak_rss FILE`.

Prints one JSON object: the process's peak RSS (KB) after imports and a warm-up mail, and after
`maild inspect`'s work on FILE (parse, classify, ticket reference, the JSON report). RSS sees
what tracemalloc does not: lxml's and the C parsers' memory, and freed-but-kept arenas.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from maild.ingest.inspect import inspect_message
from maild.settings import Settings

_WARM_UP = (
    b"From: carol@customer.example\r\nTo: support@example.com\r\nSubject: =?x-0?q?=E9?=\r\n"
    b"Content-Type: text/html\r\n\r\n<p>Hello, my <b>printer</b> is broken.</p>\r\n"
)


def _peak_kb() -> int:
    """VmHWM, this process image's own peak. `getrusage`'s ru_maxrss survives fork and exec:
    in a child of pytest it starts at pytest's own size and would hide the growth."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(path: str) -> None:
    settings = Settings()
    json.dumps(inspect_message(_WARM_UP, settings))  # lazy imports, first-call caches
    before = _peak_kb()
    report = json.dumps(inspect_message(Path(path).read_bytes(), settings))
    after = _peak_kb()
    print(json.dumps({"before_kb": before, "after_kb": after, "report_bytes": len(report)}))


if __name__ == "__main__":
    main(sys.argv[1])
