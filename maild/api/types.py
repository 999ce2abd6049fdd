"""Input types every request shares. Text is refused when a database could not store it (NUL,
lone surrogates) and bounded; times must say their zone and are kept in UTC."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
)

from maild.addresses import parse_address
from maild.errors import InvalidRequest
from maild.outbound.recipients import split_addresses

# RFC 6838 type/subtype (lower case). Anything else is refused from a client and served as
# opaque bytes when it came with a mail: it ends up in a Content-Type header.
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
MAX_UPLOAD_BASE64 = 40_000_000  # characters: 30 MB decoded; [outbound] limits it further


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


def _address_list(value: str, info: ValidationInfo) -> str:
    """Typed addresses (`;` or `,` between them), checked by the parser the mail will use, so
    a bad one is refused naming its field. The text is kept as typed: the core parses it."""
    try:
        split_addresses(value, info.field_name or "address list")
    except InvalidRequest as exc:
        raise ValueError(str(exc)) from None
    return value


def _one_address(value: str, info: ValidationInfo) -> str:
    try:
        parse_address(value, info.field_name or "address")
    except InvalidRequest as exc:
        raise ValueError(str(exc)) from None
    return value


def _media_type(value: str) -> str:
    lowered = value.strip().lower()
    if not MEDIA_TYPE.fullmatch(lowered):
        raise ValueError("must be a media type such as application/pdf (RFC 6838)")
    return lowered


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be base64 text (RFC 4648)")
    if len(value) > MAX_UPLOAD_BASE64:
        raise ValueError(f"is longer than {MAX_UPLOAD_BASE64} characters")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 text (RFC 4648), e.g. aGVsbG8=") from None


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
RowRef = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]  # the id of a row (a message, ...)
# Addresses as an agent types them: `;` or `,` between them (seed: "separate email addresses
# with a semi-colon"), each parsed strictly; "" = none (or the default).
AddressList = Annotated[
    str,
    Field(max_length=32_000),
    AfterValidator(_storable),
    AfterValidator(_one_line),
    AfterValidator(_address_list),
]
# One mailbox (`Name <name@example.com>` or `name@example.com`), parsed strictly.
MailAddress = Annotated[
    str,
    Field(min_length=1, max_length=998),
    AfterValidator(_storable),
    AfterValidator(_one_line),
    AfterValidator(_one_address),
]
MediaType = Annotated[
    str,
    Field(max_length=129, examples=["application/pdf"]),
    AfterValidator(_one_line),
    AfterValidator(_media_type),
]
Base64Data = Annotated[
    bytes,
    BeforeValidator(_base64),
    WithJsonSchema(
        {"type": "string", "format": "byte", "description": "the bytes, base64 (RFC 4648)"}
    ),
]
