"""Log output of `maild serve`: one line per event, as text or as JSON for log shippers.

A record may carry structured fields as `extra={"fields": {...}}` (the pipeline worker's
line per received mail does); the JSON format writes them as keys of the object.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from maild.settings import LogFormat, LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_daemon_logging(settings: LogSettings, stream: Any = None) -> None:
    """Send every log record at `settings.level` or above to stderr in `settings.format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level.value.upper())
    # aiosmtpd logs every command of every session at INFO: only wanted when debugging.
    debugging = settings.level.value == "debug"
    logging.getLogger("mail.log").setLevel(logging.DEBUG if debugging else logging.WARNING)
    logging.getLogger("mailparser").setLevel(logging.ERROR)
