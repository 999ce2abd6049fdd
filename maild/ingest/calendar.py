"""A meeting request's calendar (RFC 5545/5546) as a few lines for the ticket text.

icalendar reads it: line unfolding, text escapes, quoted parameters (`CN="Müller, Hans"`) and
Outlook's VTIMEZONE blocks with Windows zone names are what a hand-written reader gets wrong.
It parses the whole calendar into objects, about 1.5 s per MB, so only a calendar of the size
real invitations have (a few KB, tens with an HTML description) is read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from icalendar import Calendar

MAX_CALENDAR_BYTES = 256 * 1024
_TITLES = {
    "REQUEST": "Meeting request",
    "CANCEL": "Meeting cancelled",
    "REPLY": "Meeting reply",
    "COUNTER": "Meeting counter-proposal",
    "PUBLISH": "Calendar event",
}
_FIELD_CHARS = 300  # of a summary, place or name in the note


def calendar_note(data: bytes) -> str:
    """Summary, time, place and organiser of the calendar's first event; ValueError when it
    cannot be read (too large, malformed, no event)."""
    if len(data) > MAX_CALENDAR_BYTES:
        raise ValueError(f"calendar is {len(data)} bytes, over the {MAX_CALENDAR_BYTES} read")
    try:
        calendar = Calendar.from_ical(data.decode("utf-8", "replace"))
        events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        lines = _event_lines(str(calendar.get("method", "")).upper(), events[0]) if events else []
    # A third-party parser on hostile text (ValueError, RecursionError, KeyError on a broken
    # zone...); its message would quote the hostile line, so only the kind is kept.
    except Exception as exc:
        raise ValueError(f"calendar could not be read ({type(exc).__name__})") from exc
    if not events:
        raise ValueError("calendar holds no event")
    if len(events) > 1:
        lines.append(f"(and {len(events) - 1} more events in the calendar)")
    return "\n".join(lines)


def _event_lines(method: str, event: Any) -> list[str]:
    title = _TITLES.get(method, "Calendar event")
    lines = [f"{title}: {_text(event.get('summary')) or '(no title)'}"]
    when = _when(event)
    if when:
        lines.append(f"When: {when}")
    place = _text(event.get("location"))
    if place:
        lines.append(f"Where: {place}")
    organiser = _person(event.get("organizer"))
    if organiser:
        lines.append(f"Organiser: {organiser}")
    return lines


def _text(value: Any) -> str:
    text = " ".join(str(value or "").split())
    return text[:_FIELD_CHARS]


def _person(value: Any) -> str:
    if value is None:
        return ""
    address = str(value)
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    name = _text(value.params.get("CN", "")) if hasattr(value, "params") else ""
    address = _text(address)
    return f"{name} <{address}>" if name and name != address else address


def _when(event: Any) -> str:
    start = event.get("dtstart")
    if start is None:
        return ""
    begin = start.dt
    end = event.get("dtend").dt if event.get("dtend") is not None else None
    if not isinstance(begin, datetime):  # a DATE: an all-day event
        last = f" to {end:%a %d %b %Y}" if isinstance(end, date) and (end - begin).days > 1 else ""
        return f"{begin:%a %d %b %Y}{last} (all day)"
    span = f"{begin:%a %d %b %Y %H:%M}"
    if isinstance(end, datetime):
        span += f"–{end:%H:%M}" if end.date() == begin.date() else f" – {end:%a %d %b %Y %H:%M}"
    return f"{span} ({_zone(start, begin)})"


def _zone(start: Any, begin: datetime) -> str:
    """The zone as the calendar names it, and the time in UTC, for agents elsewhere."""
    if begin.tzinfo is None:
        return "floating local time"
    offset = begin.utcoffset()
    if offset is not None and offset.total_seconds() == 0 and "TZID" not in start.params:
        return "UTC"
    name = _text(start.params.get("TZID", "")) or str(begin.tzname() or "")
    return f"{name}; {begin.astimezone(UTC):%H:%M} UTC"
