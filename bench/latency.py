"""Autoresponse latency: from the end of a customer's DATA to the autoresponse at the relay.

`maild serve` (SQLite, its SMTP listener, the pipeline worker and the delivery worker) runs in
its own process; this process is both the customer — smtplib clients sending new-ticket mail at
a steady rate over a few connections, each from a sender of its own so that no rate limit
applies — and the relay, an aiosmtpd sink that notes when each autoresponse arrives and which
request it answers (its `In-Reply-To`). The clock starts when the listener's `250` for the DATA
arrives: that is when the customer's MTA considers the mail delivered. Target (issue 9): p99
under 200 ms on SQLite.

    .venv/bin/python bench/latency.py [RATE_PER_SECOND] [SECONDS] [CONNECTIONS]  # 50 60 4
"""

from __future__ import annotations

import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from processes import free_port, peak_rss_mb, wait_for  # bench/processes.py, beside this file

CONFIG = """
[database]
url = "sqlite:///{db}"
[smtp]
listen = "127.0.0.1:{smtp}"
[api]
enabled = false
[outbound]
relay = "127.0.0.1:{relay}"
relay_security = "none"
domain = "example.com"
from_address = "support@example.com"
[tickets]
default_department = "Support"
[[departments]]
name = "Support"
addresses = ["support@example.com"]
autoresponder = true
[[groups]]
name = "Tier 1"
department = "Support"
members = [{{ agent = "alice" }}]
[[agents]]
name = "alice"
"""


class Relay:
    """The relay maild delivers to: arrival time of each autoresponse, by the request's id."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        answers = message_from_bytes(envelope.content).get("In-Reply-To", "").strip()
        with self.lock:
            self.arrived[answers] = at
        return "250 OK"


def request(n: int) -> bytes:
    """Customer n's new request, from a domain of their own: from one shared domain all but
    the autoresponder's per-domain limit (100) would go unanswered."""
    body = "".join(f"Line {i} of a customer's description of the problem.\r\n" for i in range(30))
    return (
        f"From: Customer {n} <c{n}@shop{n}.example>\r\nTo: support@example.com\r\n"
        f"Subject: Cannot log in ({n})\r\nMessage-ID: <lat-{n}@customer.example>\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\n{body}"
    ).encode()


def send(
    port: int, rate: float, seconds: float, connections: int
) -> tuple[dict[str, float], float]:
    """Send at `rate` mails/s for `seconds`; when each got its 250, and the rate reached.

    Open loop, as customers' MTAs are: mail n is due at n / rate whatever became of the ones
    before it. One connection cannot do that (each mail waits for the previous 250), so the
    mails are dealt round to a few connections, as several MTAs would send them."""
    sent: dict[str, float] = {}
    count = int(rate * seconds)
    start = time.perf_counter()

    def connection(first: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for n in range(first, count, connections):
                pause = start + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                client.sendmail(f"c{n}@shop{n}.example", ["support@example.com"], request(n))
                sent[f"<lat-{n}@customer.example>"] = time.perf_counter()

    threads = [threading.Thread(target=connection, args=(k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, count / (time.perf_counter() - start)


def main(rate: float, seconds: float, connections: int) -> None:
    relay_handler = Relay()
    relay = Controller(relay_handler, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            smtp = free_port()
            config = Path(directory) / "maild.toml"
            config.write_text(
                CONFIG.format(db=f"{directory}/maild.db", smtp=smtp, relay=relay.port)
            )
            maild = [sys.executable, "-m", "maild.cli", "--config", str(config)]
            subprocess.run([*maild, "init"], check=True, capture_output=True, cwd=directory)
            daemon = subprocess.Popen(
                [*maild, "serve"], cwd=directory, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                wait_for(smtp, daemon)
                sent, reached = send(smtp, rate, seconds, connections)
                deadline = time.perf_counter() + 60
                while len(relay_handler.arrived) < len(sent) and time.perf_counter() < deadline:
                    time.sleep(0.05)
                rss = peak_rss_mb(daemon.pid)
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
    finally:
        relay.stop()
    with relay_handler.lock:
        latencies = sorted(
            (relay_handler.arrived[key] - at) * 1000
            for key, at in sent.items()
            if key in relay_handler.arrived
        )
    missing = len(sent) - len(latencies)
    print(
        f"{len(sent)} new-ticket mails asked at {rate:g}/s for {seconds:g} s over "
        f"{connections} connections ({reached:.1f}/s reached)"
    )
    if not latencies:
        raise SystemExit("no autoresponse arrived")
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        "end of DATA -> autoresponse at the relay, ms: "
        f"p50 {p50:.0f}  p99 {p99:.0f}  max {latencies[-1]:.0f}"
    )
    print(f"answered {len(latencies)}, missing {missing}; maild serve peak RSS {rss:.0f} MB")
    print("target (issue 9): p99 under 200 ms on SQLite")


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 50.0,
        float(sys.argv[2]) if len(sys.argv) > 2 else 60.0,
        int(sys.argv[3]) if len(sys.argv) > 3 else 4,
    )
