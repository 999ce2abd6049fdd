"""The secrets an IMAP login needs, read when they are needed and never kept in the config:
a password from an environment variable or a file (read at every login, so a rotated password
is picked up), or an OAuth 2.0 access token from a file or a command's output (kept between
logins and read again when the server refuses it: access tokens expire within the hour, and
whatever refreshes them — a sidecar, a cron job, a helper like `oauth2l` — writes or prints the
new one)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from maild.errors import CredentialsError
from maild.settings import ImapAccount

TOKEN_COMMAND_SECONDS = 30.0
_MAX_SECRET_BYTES = 64 * 1024  # tokens are a few KB; a larger file is not one


def read_password(account: ImapAccount) -> str:
    if account.password_env:
        value = os.environ.get(account.password_env, "")
        if not value:
            raise CredentialsError(f"environment variable {account.password_env} is not set")
        return value
    # Only the line ending goes: spaces may belong to the password.
    return _read_file(account.password_file, "password").rstrip("\r\n")


class AccessToken:
    """The account's XOAUTH2 access token: read once, kept, read again on `refresh()`."""

    def __init__(self, account: ImapAccount) -> None:
        self._account = account
        self._token: str | None = None

    async def current(self) -> str:
        if self._token is None:
            self._token = await self._read()
        return self._token

    async def refresh(self) -> str:
        self._token = await self._read()
        return self._token

    async def _read(self) -> str:
        if self._account.token_command:
            token = await _run_token_command(self._account.token_command)
        else:
            token = await asyncio.to_thread(_read_file, self._account.token_file, "token")
        return _checked_token(token.strip())


def _read_file(path: str, what: str) -> str:
    try:
        data = Path(path).read_bytes()[: _MAX_SECRET_BYTES + 1]
    except OSError as exc:
        raise CredentialsError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    if len(data) > _MAX_SECRET_BYTES:
        raise CredentialsError(f"the {what} file {path} is larger than any {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialsError(f"the {what} file {path} is not UTF-8 text") from exc


async def _run_token_command(argv: tuple[str, ...]) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise CredentialsError(f"cannot run token command {argv[0]}: {exc.strerror}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), TOKEN_COMMAND_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise CredentialsError(
            f"token command {argv[0]} did not finish within {TOKEN_COMMAND_SECONDS:.0f}s"
        ) from None
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        detail = f": {said[-1][:200]}" if said else ""
        raise CredentialsError(f"token command {argv[0]} exited with {process.returncode}{detail}")
    return out[:_MAX_SECRET_BYTES].decode("ascii", "replace")


def _checked_token(token: str) -> str:
    # The token goes inside the SASL string `user=..\x01auth=Bearer TOKEN\x01\x01`: only
    # printable ASCII can be sent, and a control character would end the field.
    if not token:
        raise CredentialsError("the access token is empty")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise CredentialsError("the access token is not one word of printable ASCII")
    return token
