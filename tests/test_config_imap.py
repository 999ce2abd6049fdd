"""`[[imap]]` accounts in the config file: what they accept, their defaults, and how each
mistake names the file, the key and what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maild.settings import AfterIngest, AfterKind, ImapAuth, ImapSecurity
from tests.test_config import ORGANISATION, assert_names, load, mistake, write

ACCOUNT = """
[[imap]]
name = "support"
host = "imap.example.com"
user = "support@example.com"
password_env = "SUPPORT_IMAP_PASSWORD"
"""


def test_an_account_gets_tls_on_993_the_inbox_and_seen_by_default(tmp_path: Path) -> None:
    (account,) = load(tmp_path, ORGANISATION + ACCOUNT).imap
    assert account.security is ImapSecurity.TLS and account.server_port == 993
    assert account.auth is ImapAuth.PASSWORD and account.password_env == "SUPPORT_IMAP_PASSWORD"
    assert account.folder == "INBOX" and account.department == ""
    assert account.after_ingest == AfterIngest(AfterKind.SEEN)
    assert account.poll_seconds == 60 and account.timeout_seconds == 60


def test_several_accounts_with_xoauth2_starttls_and_move(tmp_path: Path) -> None:
    text = (
        ORGANISATION
        + ACCOUNT
        + """
[[imap]]
name = "sales"
host = "outlook.office365.com"
security = "starttls"
user = "sales@example.com"
auth = "xoauth2"
token_command = ["/usr/local/bin/m365-token", "sales"]
folder = "Posteingang/Anfragen"
department = "Sales"
after = "move:Erledigt"
"""
    )
    support, sales = load(tmp_path, text).imap
    assert support.name == "support"
    assert sales.server_port == 143 and sales.auth is ImapAuth.XOAUTH2
    assert sales.token_command == ("/usr/local/bin/m365-token", "sales")
    assert sales.after_ingest == AfterIngest(AfterKind.MOVE, "Erledigt")
    assert sales.department == "Sales"


def _with(**keys: object) -> str:
    """The account above with `keys` added or (None) removed."""
    lines = [line for line in ACCOUNT.splitlines() if line.split(" =")[0] not in keys]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items() if value is not None]
    return ORGANISATION + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("keys", "key", "words"),
    [
        ({"host": None}, "imap[0].host", ["missing"]),
        ({"port": 70000}, "imap[0].port", ["65535"]),
        ({"security": "ssl"}, "imap[0].security", ["tls", "starttls", "none"]),
        ({"security": "none"}, "imap[0].security", ["unencrypted", "imap.example.com"]),
        ({"password_file": "/etc/maild/pw"}, "imap[0].password_file", ["exactly one"]),
        ({"password_env": None}, "imap[0].auth", ["password_env or password_file"]),
        ({"password_env": "not a name"}, "imap[0].password_env", ["environment variable"]),
        ({"token_file": "/run/token"}, "imap[0].token_file", ["not used"]),
        ({"auth": "xoauth2"}, "imap[0].password_env", ["not used"]),
        ({"after": "archive"}, "imap[0].after", ["seen, delete, move:FOLDER"]),
        ({"after": "move:"}, "imap[0].after", ["move:FOLDER"]),
        ({"after": "move:INBOX"}, "imap[0].after", ["the folder it reads"]),
        ({"folder": "In\nbox"}, "imap[0].folder", ["control character"]),
        ({"department": "Billing"}, "imap[0].department", ["'Billing' is not a department"]),
        ({"poll_seconds": 0}, "imap[0].poll_seconds", ["at least 1"]),
        (
            {"token_command": [], "auth": "xoauth2", "password_env": None},
            "imap[0].auth",
            ["token_file or token_command"],
        ),
    ],
)
def test_account_mistakes_name_the_key_and_the_fix(
    tmp_path: Path, keys: dict[str, object], key: str, words: list[str]
) -> None:
    path = write(tmp_path, _with(**keys))
    assert_names(mistake(tmp_path, _with(**keys)), path, key, *words)


def test_plaintext_is_allowed_to_a_server_on_this_machine(tmp_path: Path) -> None:
    (account,) = load(tmp_path, _with(host="127.0.0.1", security="none")).imap
    assert account.security is ImapSecurity.NONE and account.server_port == 143


def test_two_accounts_with_one_name_or_one_folder_are_mistakes(tmp_path: Path) -> None:
    twice = ORGANISATION + ACCOUNT + ACCOUNT
    path = write(tmp_path, twice)
    assert_names(mistake(tmp_path, twice), path, "imap[1].name", "already used at imap[0]")
    renamed = twice.replace('name = "support"', 'name = "other"', 1)
    assert_names(mistake(tmp_path, renamed), path, "imap[1].folder", "same folder")
