"""A real Dovecot for the IMAP tests, started once per test session on loopback ports, with a
temporary mail directory (recipe: ../shared/notes/dovecot-in-tests.md).

It listens twice: plain IMAP (offering STARTTLS) and implicit TLS, with a certificate from a
throw-away CA (trustme). User `tester` logs in with the password `secret`, or with XOAUTH2:
Dovecot's `oauth2` passdb asks the token-introspection endpoint served here (RFC 7662), which
accepts the tokens a test allows.
"""

from __future__ import annotations

import imaplib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from tests.support import free_port

USER, PASSWORD = "tester", "secret"
MISSING = (
    "Dovecot (dovecot-imapd) is not installed: `make test` installs it when run as root "
    "(apt-get install dovecot-imapd)"
)


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
    )


class Introspection:
    """The OAuth 2.0 token-introspection endpoint Dovecot asks (introspection_mode = post)."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.asked: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                owner.asked.append(token)
                active = token in owner.accepted
                answer = {"active": True, "username": USER} if active else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dovecot:
    def __init__(self, root: Path, introspection: Introspection, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.introspection = introspection
        self.port = free_port()
        self.tls_port = free_port()
        self.ca_file = root / "ca.pem"
        self.config = root / "dovecot.conf"

    def start(self) -> None:
        self._write_files()
        subprocess.run([self.binary, "-c", str(self.config)], check=True, timeout=30)
        deadline = time.monotonic() + 30
        while not (_accepts(self.port) and _accepts(self.tls_port)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot did not start; see {self.root / 'dovecot.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        subprocess.run([self.binary, "-c", str(self.config), "stop"], check=False, timeout=30)

    def log(self) -> str:
        return (self.root / "dovecot.log").read_text(errors="replace")

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        """A plain imaplib session as `tester`: the tests' own view of the mailbox."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        imap.login(USER, PASSWORD)
        try:
            yield imap
        finally:
            imap.logout()

    def _write_files(self) -> None:
        import trustme

        user = pwd.getpwnam("dovecot")
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, user.pw_uid, user.pw_gid)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(self.root / "key.pem"))
        (self.root / "cert.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        entry = f"{USER}:{{PLAIN}}{PASSWORD}:{user.pw_uid}:{user.pw_gid}::{mail}/{USER}::\n"
        (self.root / "passwd").write_text(entry)
        (self.root / "oauth2.conf").write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.introspection.url}\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        self.config.write_text(CONFIG.format(root=self.root, port=self.port, tls=self.tls_port))


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_dovecot(binary: str) -> tuple[Dovecot, Introspection]:
    # Not under pytest's tmp_path: its parents are closed to the `dovecot` user that reads
    # the mail, and Dovecot's sockets need a short path.
    root = Path(tempfile.mkdtemp(prefix="maild-dovecot-"))
    root.chmod(0o755)
    introspection = Introspection()
    dovecot = Dovecot(root, introspection, binary)
    try:
        dovecot.start()
    except BaseException:
        introspection.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return dovecot, introspection


def stop_dovecot(dovecot: Dovecot, introspection: Introspection) -> None:
    dovecot.stop()
    introspection.close()
    shutil.rmtree(dovecot.root, ignore_errors=True)


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls}
  }}
}}
# No growing delay after failed logins from 127.0.0.1 (the tests fail logins on purpose).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {root}/passwd
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {root}/oauth2.conf
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
"""
