"""Logging in to a real Dovecot: passwords from a variable or a file, implicit TLS and
STARTTLS with the certificate checked, and XOAUTH2 against Dovecot's `oauth2` passdb, which asks
a token-introspection endpoint served by the test (an expired token is read again)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

from maild.ingest.imap import Pacing
from maild.store.db import Store
from maild.store.models import Inbound
from tests.ingest.imap.dovecot import Dovecot
from tests.ingest.imap.helpers import (
    Folder,
    count,
    desk,
    imap_account,
    poll_until,
    provision,
    request,
    serve_imap,
    tickets,
)

pytestmark = pytest.mark.xdist_group("dovecot")
FAST = Pacing(backoff_first_seconds=0.01, backoff_max_seconds=0.05)


def _seen(folder: Folder, expected: int = 1) -> bool:
    flags = folder.flags()
    return len(flags) == expected and all(r"\Seen" in f for f in flags.values())


def test_implicit_tls_checks_the_certificate_and_logs_in(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("tls-1"))
    account = imap_account(
        dovecot, folder, security="tls", port=dovecot.tls_port, ca_file=str(dovecot.ca_file)
    )
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)

    serve_imap(settings, store, until=lambda: _seen(folder))

    assert tickets(store) == [("Help with tls-1", "Support")]


def test_starttls_upgrades_before_the_password_from_a_file_is_sent(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("starttls-1"))
    secret = tmp_path / "imap-password"
    secret.write_text("secret\n")
    account = imap_account(
        dovecot,
        folder,
        security="starttls",
        ca_file=str(dovecot.ca_file),
        password_env=None,
        password_file=str(secret),
    )
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)
    encrypted_logins = _tls_logins(dovecot)

    serve_imap(settings, store, until=lambda: _seen(folder))

    assert tickets(store) == [("Help with starttls-1", "Support")]
    assert _tls_logins(dovecot) > encrypted_logins  # the tests' own client logs in plain


def _tls_logins(dovecot: Dovecot) -> int:
    return sum(", TLS" in line for line in dovecot.log().splitlines() if "Login: " in line)


def test_an_untrusted_certificate_is_a_logged_failure_and_no_login(
    tmp_path: Path,
    db_url: str,
    store: Store,
    dovecot: Dovecot,
    folder: Folder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder.append(request("untrusted-1"))
    # No ca_file: the system's CAs do not know the test's CA.
    account = imap_account(dovecot, folder, security="tls", port=dovecot.tls_port)
    _, settings = desk(tmp_path, db_url, account)

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        poll_until(settings.imap[0], store, lambda: len(_failures(caplog)) >= 2, FAST)

    assert all("CERTIFICATE_VERIFY_FAILED" in line for line in _failures(caplog))
    assert count(store, Inbound) == 0
    assert r"\Seen" not in folder.flags()[1]


def test_a_refused_password_is_one_log_line_per_attempt(
    tmp_path: Path,
    db_url: str,
    store: Store,
    dovecot: Dovecot,
    folder: Folder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILD_TEST_IMAP_PASSWORD", "wrong")
    _, settings = desk(tmp_path, db_url, imap_account(dovecot, folder))

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        poll_until(settings.imap[0], store, lambda: len(_failures(caplog)) >= 3, FAST)

    lines = _failures(caplog)
    assert all("refused the password of 'tester'" in line for line in lines)
    assert all("wrong" not in line for line in lines)


def test_xoauth2_logs_in_with_the_access_token_from_a_file(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    token = f"token-{secrets.token_hex(8)}"
    dovecot.introspection.accepted.add(token)
    token_file = tmp_path / "access-token"
    token_file.write_text(token + "\n")
    folder.append(request("xoauth2-file"))
    account = imap_account(
        dovecot, folder, auth="xoauth2", password_env=None, token_file=str(token_file)
    )
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)

    serve_imap(settings, store, until=lambda: _seen(folder))

    assert tickets(store) == [("Help with xoauth2-file", "Support")]
    assert token in dovecot.introspection.asked


def test_a_refused_token_is_read_again_and_the_new_one_logs_in(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    """The token command prints an expired token first (as a cache would), the fresh one when
    run again; Dovecot's introspection refuses the first."""
    stale, fresh = f"stale-{secrets.token_hex(8)}", f"fresh-{secrets.token_hex(8)}"
    dovecot.introspection.accepted.add(fresh)
    runs = tmp_path / "runs"
    script = tmp_path / "print-token.py"
    script.write_text(
        "import sys, pathlib\n"
        "runs = pathlib.Path(sys.argv[1])\n"
        "n = len(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text('x' * (n + 1))\n"
        f"print({stale!r} if n == 0 else {fresh!r})\n"
    )
    folder.append(request("xoauth2-refresh"))
    command = [sys.executable, str(script), str(runs)]
    account = imap_account(
        dovecot, folder, auth="xoauth2", password_env=None, token_command=command
    )
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)

    serve_imap(settings, store, until=lambda: _seen(folder))

    assert tickets(store) == [("Help with xoauth2-refresh", "Support")]
    ours = [t for t in dovecot.introspection.asked if t in (stale, fresh)]
    assert ours == [stale, fresh]
    assert runs.read_text() == "xx"  # read once, and once more after the refusal


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]
