"""Helpers shared by tests that drive maild through its config file and CLI."""

from __future__ import annotations

import random
import socket
import tempfile
from pathlib import Path

from maild.config import load_settings
from maild.settings import Settings

DESK = """
[database]
url = "{url}"

[smtp]
listen = "{smtp_listen}"

[api]
listen = "{api_listen}"

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
    # `maild serve` runs the SMTP listener and the API: on free ports, never on a default
    # another test (or another run on this machine) may hold.
    desk = DESK.format(
        url=url,
        max_message_bytes=max_message_bytes,
        smtp_listen=free_listen(),
        api_listen=free_listen(),
    )
    path.write_text(desk)
    return path


def desk_settings(url: str) -> Settings:
    """The settings of `write_config`'s support desk, loaded as maild loads its file."""
    with tempfile.TemporaryDirectory() as directory:
        return load_settings(str(write_config(Path(directory), url)), environ={})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for a server a test starts.

    Picked below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel hands
    out for `bind(0)` is also what it hands to the next outgoing connection (a database
    client, a relay), which can take it between our probe and the server's bind.
    """
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def free_listen() -> str:
    """`127.0.0.1:PORT` with a port nobody listens on right now (for servers a test starts)."""
    return f"127.0.0.1:{free_port()}"
