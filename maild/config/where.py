"""Where a configuration value came from, so every mistake names its file (or environment
variable) and dotted key, e.g. `maild.toml: groups[0].members[1].mode: ...`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from maild.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class At:
    """Where a value came from: the file (or env var naming it) and its dotted key."""

    source: str
    key: str = ""
    origins: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def child(self, name: str) -> At:
        return dataclasses.replace(self, key=f"{self.key}.{name}" if self.key else name)

    def item(self, index: int) -> At:
        return dataclasses.replace(self, key=f"{self.key}[{index}]")

    def under(self, *path: str | int) -> At:
        """`at.under(0, "members", 1)` is `at.item(0).child("members").item(1)`."""
        at = self
        for part in path:
            at = at.item(part) if isinstance(part, int) else at.child(part)
        return at

    def error(self, reason: str) -> ConfigError:
        return ConfigError(self.origins.get(self.key, self.source), self.key or "(file)", reason)
