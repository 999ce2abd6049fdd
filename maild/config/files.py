"""Finding and reading the config file: `--config FILE`, else `$MAILD_CONFIG`, else
`./maild.toml`, else the built-in defaults."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from maild.errors import ConfigError

DEFAULT_PATH = "maild.toml"
ENV_CONFIG = "MAILD_CONFIG"
DEFAULTS_SOURCE = "<defaults>"


def find_file(path: str | None, environ: Mapping[str, str]) -> tuple[str, Path | None]:
    if path is not None:
        return path, _existing(path, "--config")
    named = environ.get(ENV_CONFIG, "")
    if named:
        return named, _existing(named, ENV_CONFIG)
    default = Path(DEFAULT_PATH)
    return (DEFAULT_PATH, default) if default.is_file() else (DEFAULTS_SOURCE, None)


def _existing(path: str, named_by: str) -> Path:
    if Path(path).exists():
        return Path(path)
    raise ConfigError(path, named_by, "no such file; check the path (or omit it for defaults)")


def read_toml(file: Path, source: str) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", f"not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "(file)", "not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(source, "(file)", f"cannot read it: {exc.strerror}") from exc


def absolute_sqlite(url: str) -> str:
    """`sqlite:///var/maild.db` means var/maild.db under the current directory; pin it now so
    that the database does not move if the process changes directory later."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path.cwd() / database)).render_as_string(False)
