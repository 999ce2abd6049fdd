"""Environment overrides: `MAILD_<SECTION>_<KEY>` for every scalar of a singleton section, so one
file serves several environments. Values are converted and checked like the file's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from maild.config.convert import field_types, is_enum, unwrap_optional
from maild.config.where import At
from maild.settings import Settings

ENV_PREFIX = "MAILD_"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _sections() -> dict[str, type]:
    """The singleton sections ([database], [smtp], ...): the Settings fields that are tables."""
    fields = field_types(Settings).items()
    return {k: t for k, t in fields if isinstance(t, type) and dataclasses.is_dataclass(t)}


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge MAILD_<SECTION>_<KEY> into `data`; return which keys came from which variable.

    Variables whose <SECTION> is not a section (MAILD_CONFIG, MAILD_TEST_POSTGRES_URL) are not
    settings; a known section with an unknown key is a typo and fails like one in the file."""
    origins: dict[str, str] = {}
    sections = _sections()
    for name in sorted(environ):
        rest = name[len(ENV_PREFIX) :].lower() if name.startswith(ENV_PREFIX) else ""
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            continue
        key = rest[len(section) + 1 :]
        at = At(name, f"{section}.{key}")
        fields = field_types(sections[section])
        if key not in fields:
            known = ", ".join(f"{ENV_PREFIX}{section}_{k}".upper() for k in fields)
            raise at.error(f"unknown setting; [{section}] can be overridden by: {known}")
        table = data.setdefault(section, {})
        if isinstance(table, dict):  # otherwise build reports the malformed section
            table[key] = _parse_text(fields[key], environ[name], at)
            origins[at.key] = name
    return origins


def _parse_text(tp: Any, text: str, at: At) -> Any:
    """An environment variable's text as the TOML value it stands for."""
    base, optional = unwrap_optional(tp)
    if optional and text == "":
        return None
    if base is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise at.error(f"expected true or false, got {text!r}")
        return text.lower() in _TRUE
    if base is int:
        try:
            return int(text)
        except ValueError:
            raise at.error(f"expected an integer, got {text!r}") from None
    if base is str or is_enum(base):
        return text
    raise at.error("cannot be set from the environment; set it in the config file")
