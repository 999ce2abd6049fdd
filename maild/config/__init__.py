"""Loading the configuration: one TOML file plus `MAILD_<SECTION>_<KEY>` overrides -> `Settings`.

The schema is `maild.settings` (frozen dataclasses). This package reads the file (`files`),
merges the environment (`env`), converts every value by its type hint (`convert`) and checks
what types cannot say (`checks`). Every mistake raises `ConfigError` with the file (or
environment variable), the dotted key (`groups[0].members[1].mode`) and what to fix. Relative
SQLite paths in `database.url` are resolved against the current directory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from maild.config.checks import check_references
from maild.config.convert import build
from maild.config.env import apply_env
from maild.config.files import DEFAULT_PATH, absolute_sqlite, find_file, read_toml
from maild.config.where import At
from maild.settings import Settings

__all__ = ["DEFAULT_PATH", "load_settings"]


def load_settings(path: str | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read, override from the environment, validate; raise `ConfigError` on any mistake."""
    source, file = find_file(path, environ)
    data = read_toml(file, source) if file is not None else {}
    at = At(source, origins=apply_env(data, environ))
    settings = build(Settings, data, at)
    check_references(settings, at)
    database = dataclasses.replace(settings.database, url=absolute_sqlite(settings.database.url))
    return dataclasses.replace(settings, source=source, database=database)
