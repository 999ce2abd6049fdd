"""Input types every request shares. Text is refused when a database could not store it (NUL,
lone surrogates) and bounded; times must say their zone and are kept in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictBool, StrictInt


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


def _iso(value: object) -> object:
    """Times are ISO 8601 text (pydantic would also take a number as a Unix time)."""
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}[T ]", value):
        raise ValueError("must be an ISO 8601 time with a zone, e.g. 2026-03-01T09:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 time with a zone, e.g. 2026-03-01T09:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


# A name of a department, group, agent, brand, field: one line, as stored (200 characters max).
Name = Annotated[
    str, Field(min_length=1, max_length=100), AfterValidator(_storable), AfterValidator(_one_line)
]
LongName = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_storable), AfterValidator(_one_line)
]
# A display name (a brand's From name): one line, as stored.
ShortLine = Annotated[
    str, Field(max_length=200), AfterValidator(_storable), AfterValidator(_one_line)
]
Line = Annotated[str, Field(max_length=998), AfterValidator(_storable), AfterValidator(_one_line)]
Text = Annotated[str, Field(max_length=1_000_000), AfterValidator(_storable)]
Number = Annotated[
    str, Field(min_length=1, max_length=50), AfterValidator(_storable), AfterValidator(_one_line)
]
Address = Annotated[
    str, Field(max_length=320), AfterValidator(_storable), AfterValidator(_one_line)
]
UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso), AfterValidator(_utc)]
# JSON bodies take true/false and whole numbers only (no 0/1 for booleans, no "5" for 5).
Flag = StrictBool
Minutes = Annotated[StrictInt, Field(ge=1, le=10_000_000)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
