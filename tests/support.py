"""Helpers shared by tests that drive maild through its config file and CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path

from maild.config import load_settings
from maild.settings import Settings

DESK = """
[database]
url = "{url}"

[tickets]
default_department = "Support"

[ingest]
max_message_bytes = {max_message_bytes}

[[departments]]
name = "Support"
addresses = ["support@example.com"]
autoresponder_body = "Ticket {{{{ ticket.number }}}} is open."

[[groups]]
name = "Tier 1"
department = "Support"
members = [{{ agent = "alice" }}, {{ agent = "bob" }}]

[[agents]]
name = "alice"

[[agents]]
name = "bob"
"""


def write_config(directory: Path, url: str, max_message_bytes: int = 25 * 1024 * 1024) -> Path:
    """A support desk (department Support at support@example.com, also the default; group
    Tier 1 with alice and bob) on the database at `url`, written as `directory/maild.toml`."""
    path = directory / "maild.toml"
    path.write_text(DESK.format(url=url, max_message_bytes=max_message_bytes))
    return path


def desk_settings(url: str) -> Settings:
    """The settings of `write_config`'s support desk, loaded as maild loads its file."""
    with tempfile.TemporaryDirectory() as directory:
        return load_settings(str(write_config(Path(directory), url)), environ={})
