"""Issue 11, "Done when", end to end: `maild serve` in a subprocess with a real aiosmtpd sink as
its relay, driven only as a customer's MTA (SMTP) and an agent (HTTP API) drive it.

mail over SMTP -> ticket queued -> the agent logs in and receives it by round robin -> replies
with Cc and a subject override -> the sink receives it -> the customer's answer arrives over
SMTP and threads -> the agent closes and locks -> a bounce of the reply (a DSN to its VERP
address, null sender) re-activates it (seed: "If the ticket message is bounced, the ticket
will return to active status").
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.daemon import MaildProcess, clean_env, free_port, maild_command
from tests.outbound.conftest import Received, Sink
from tests.support import write_config

pytestmark = pytest.mark.slow  # starts `maild serve` in a subprocess
SUPPORT = "support@example.com"
CAROL = "carol@customer.example"
DAVE = "dave@customer.example"
T = TypeVar("T")


@pytest.fixture
def relay() -> Iterator[Sink]:
    sink = Sink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


def _until(probe: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    """The first truthy answer of `probe`; bounds a hang on a loaded machine, times nothing."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _token(config: Path, agent: str) -> str:
    done = subprocess.run(
        maild_command(config, "agent", "token", agent), env=clean_env(), capture_output=True,
        timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.decode().strip()


def _first_mail() -> bytes:
    return (
        f"From: Carol <{CAROL}>\r\nTo: {SUPPORT}\r\nSubject: Printer on fire\r\n"
        "Message-ID: <e2e-1@customer.example>\r\n\r\nIt smokes. Please help.\r\n"
    ).encode()


def _answer(number: str, subject: str, replied_id: str) -> bytes:
    # No ticket tag needed: In-Reply-To names our Message-ID; the subject keeps it anyway.
    return (
        f"From: Carol <{CAROL}>\r\nTo: {SUPPORT}\r\nSubject: Re: {subject}\r\n"
        f"In-Reply-To: {replied_id}\r\nReferences: {replied_id}\r\n"
        "Message-ID: <e2e-2@customer.example>\r\n\r\nThanks, it works now.\r\n"
    ).encode()


def _dsn(reply: Received, failed: str) -> bytes:
    """What a remote MTA sends back for `reply`: RFC 3464, to its VERP envelope sender."""
    headers = reply.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    boundary = "e2e-dsn-boundary"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        f"To: {reply.mail_from}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <e2e-dsn@mx.customer.example>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be "
        f"delivered.\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: User unknown\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def test_mail_reply_answer_close_and_bounce_through_smtp_and_the_api(
    tmp_path: Path, db_url: str, relay: Sink
) -> None:
    config = write_config(tmp_path, db_url)
    api_port = free_port()
    env = {
        "MAILD_API_LISTEN": f"127.0.0.1:{api_port}",
        "MAILD_OUTBOUND_RELAY": relay.relay,
        "MAILD_OUTBOUND_RELAY_SECURITY": "none",
        "MAILD_OUTBOUND_POLL_MS": "200",
    }
    with MaildProcess.start(
        config, tmp_path, smtp_port=free_port(), env=env, ready_ports=[api_port]
    ) as daemon:
        headers = {"Authorization": f"Bearer {_token(config, 'alice')}"}
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}/api/v1", headers=headers, timeout=60
        )

        def ok(method: str, path: str, **kw: Any) -> Any:
            response = api.request(method, path, **kw)
            assert response.status_code < 300, (path, response.text)
            return response.json()

        def ticket() -> Any:
            return ok("GET", f"/tickets/{number}")

        # 1. The customer's mail over SMTP; nobody is logged in: it waits in Tier 1's queue.
        with daemon.smtp() as mta:
            mta.sendmail(CAROL, [SUPPORT], _first_mail())
        queued = _until(lambda: ok("GET", "/tickets", params={"view": "queue"})["items"], "queue")
        assert [t["agent"] for t in queued] == [None]
        number = queued[0]["number"]

        # 2. alice logs in and round robin hands her the ticket.
        ok("POST", "/agents/me/login")
        mine = ok("GET", "/tickets", params={"view": "mine_active"})["items"]
        assert [t["number"] for t in mine] == [number]

        # 3. She replies with a Cc and a subject of its own; the sink receives it.
        sent = ok(
            "POST",
            f"/tickets/{number}/reply",
            json={"body": "Unplug it now.", "cc": DAVE, "subject": "Your printer"},
        )
        assert sent["ticket"]["status"] == "waiting"

        def delivered() -> Received | None:
            found = [r for r in relay.received if r.message["Message-ID"] == sent["message_id"]]
            return found[0] if found else None

        reply = _until(delivered, "the reply at the relay")
        assert sorted(reply.rcpt_tos) == [CAROL, DAVE]
        assert reply.mail_from.startswith("bounces+") and reply.mail_from.endswith("@example.com")
        out = reply.message
        assert (out["To"], out["Cc"]) == (CAROL, DAVE)
        assert out["Subject"] == f"[#{number}] Your printer"
        assert out["In-Reply-To"] == "<e2e-1@customer.example>"

        # 4. Carol's answer threads into the ticket, which becomes active again.
        with daemon.smtp() as mta:
            mta.sendmail(CAROL, [SUPPORT], _answer(number, out["Subject"], sent["message_id"]))
        answered = _until(
            lambda: (t := ticket())["message_count"] == 4 and t, "the answer on the ticket"
        )  # first mail, autoresponse, reply, answer
        assert answered["status"] == "active" and answered["agent"] == "alice"
        # The count and the messages are one snapshot (a reader on PostgreSQL once saw 4 and 3).
        ids = [m["message_id"] for m in answered["messages"]]
        assert len(ids) == 4 and ids[-1] == "<e2e-2@customer.example>", ids
        assert ok("GET", "/tickets", params={"view": "all"})["total"] == 1

        # 5. alice closes and locks it.
        locked = ok("PATCH", f"/tickets/{number}", json={"status": "closed_locked"})
        assert locked["status"] == "closed_locked"

        # 6. The reply bounces for Carol: a DSN from the null sender to its VERP address.
        with daemon.smtp() as mta:
            mta.sendmail("", [reply.mail_from], _dsn(reply, CAROL))
        reopened = _until(lambda: (t := ticket())["status"] == "active" and t, "re-activation")
        bounce = [h for h in reopened["history"] if h["action"] == "bounce"]
        assert [(h["from"], h["to"]) for h in bounce] == [("closed_locked", "active")]
        assert ok("GET", "/tickets", params={"view": "all"})["total"] == 1  # no new ticket
        api.close()
