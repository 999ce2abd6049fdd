"""Checks of `[[imap]]` accounts: single values (a folder name, `after`) and the combinations
types cannot say (one source of the password, plaintext only to this machine, a department that
exists)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from maild.config.where import At
from maild.settings import AfterIngest, AfterKind, ImapAccount, ImapAuth, ImapSecurity, Settings

# CR, LF and NUL end an IMAP command line (RFC 3501 §9): a name holding one cannot be sent.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _check_text(what: str) -> Callable[[str, At], None]:
    def check(value: str, at: At) -> None:
        if not value.strip():
            raise at.error(f"must not be empty; give the {what}")
        if _CONTROL.search(value):
            raise at.error(f"{value!r} contains a control character (CR, LF, tab, ...)")

    return check


def _check_host(value: str, at: At) -> None:
    _check_text("server's host name or address")(value, at)
    if any(c.isspace() for c in value):
        raise at.error(f"{value!r} contains white space; give a host name or address")


def _check_port(value: int | None, at: At) -> None:
    if value is not None and value > 65535:
        raise at.error(f"{value} is not a port (1-65535); omit it for 993 (tls) or 143")


def _check_after(value: str, at: At) -> None:
    parsed = AfterIngest.parse(value)
    if parsed is None:
        raise at.error(f"{value!r} is not one of: seen, delete, move:FOLDER (e.g. move:Done)")
    if _CONTROL.search(parsed.folder):
        raise at.error(f"{value!r}: the folder contains a control character")


def _check_env_name(value: str, at: At) -> None:
    if value and not _ENV_NAME.fullmatch(value):
        raise at.error(f"{value!r} is not an environment variable name (e.g. MAILD_IMAP_PASSWORD)")


def _check_command(value: tuple[str, ...], at: At) -> None:
    if value and not value[0].strip():
        raise at.error('the first item must be the program to run, e.g. ["/usr/bin/get-token"]')


FIELD_CHECKS: dict[tuple[type, str], Callable[[Any, At], None]] = {
    (ImapAccount, "host"): _check_host,
    (ImapAccount, "user"): _check_text("user name to log in with"),
    (ImapAccount, "folder"): _check_text("folder to fetch from (e.g. INBOX)"),
    (ImapAccount, "port"): _check_port,
    (ImapAccount, "after"): _check_after,
    (ImapAccount, "password_env"): _check_env_name,
    (ImapAccount, "token_command"): _check_command,
}


def check_imap_accounts(settings: Settings, at: At) -> None:
    departments = {d.name for d in settings.departments}
    mailboxes: dict[tuple[str, int, str, str], int] = {}
    for index, account in enumerate(settings.imap):
        where = at.item(index)
        _check_credentials(account, where)
        _check_plaintext(account, where)
        _check_move_target(account, where)
        if account.department and account.department not in departments:
            names = ", ".join(repr(n) for n in sorted(departments)) or "none is declared"
            reason = f"{account.department!r} is not a department; declared: {names}"
            raise where.child("department").error(reason)
        key = (account.host.lower(), account.server_port, account.user, account.folder)
        if key in mailboxes:
            reason = f"the same folder of the same mailbox as imap[{mailboxes[key]}]"
            raise where.child("folder").error(reason)
        mailboxes[key] = index


def _check_credentials(account: ImapAccount, at: At) -> None:
    """Exactly one source for the secret the chosen `auth` needs, and none for the other."""
    password = {"password_env": account.password_env, "password_file": account.password_file}
    token = {"token_file": account.token_file, "token_command": account.token_command}
    needed, unused = (password, token) if account.auth is ImapAuth.PASSWORD else (token, password)
    given = [key for key, value in needed.items() if value]
    for key, value in unused.items():
        if value:
            raise at.child(key).error(f"is not used with auth = {account.auth.value!r}")
    if len(given) != 1:
        choices = " or ".join(needed)
        what = "both are set" if given else "neither is set"
        raise at.child(given[-1] if given else "auth").error(
            f"auth = {account.auth.value!r} needs exactly one of {choices}; {what}"
        )


def _check_plaintext(account: ImapAccount, at: At) -> None:
    # Without TLS the password (or token) crosses the network in the clear.
    if account.security is ImapSecurity.NONE and not _is_loopback(account.host):
        raise at.child("security").error(
            f"'none' sends the password unencrypted; allowed only for a server on this machine "
            f"(127.0.0.1, ::1, localhost), not {account.host!r}: use tls or starttls"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_move_target(account: ImapAccount, at: At) -> None:
    after = AfterIngest.parse(account.after)
    if after is not None and after.kind is AfterKind.MOVE and after.folder == account.folder:
        raise at.child("after").error(f"moves mail into {account.folder!r}, the folder it reads")
