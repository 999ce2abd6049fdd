"""SMTP intake throughput: maild's listener against a bare aiosmtpd server, in the same run.

Each figure is messages per second that got `250` after a durable commit: for maild, the spool
commit (SQLite, WAL, synchronous=FULL; group commit across sessions); for the baseline, an
aiosmtpd server whose handler appends the message to a file and fsyncs it. Both servers run in
their own process; the same `smtplib` clients send the same mails over 1 and 4 connections.
The pipeline worker is not running (processing is `bench/ingest.py`'s figure); the last row is
the whole `maild serve`, worker included, for comparison. Peak RSS is the server process's.
Target (issue 8): at least 0.6x the bare rate at 4 connections. The bare server's fsync rate
swings from run to run (634 to 1,247 msg/s within minutes here), so bare and listener are
measured in alternating rounds and the ratio is the median of the rounds' ratios.

    .venv/bin/python bench/smtp.py [N] [ROUNDS]     # default 1000 3
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from processes import free_port, peak_rss_mb, wait_for  # bench/processes.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUPPORT = "support@example.com"
CONFIG = """
[database]
url = "sqlite:///{db}"
[smtp]
listen = "127.0.0.1:{port}"
[tickets]
default_department = "Support"
[[departments]]
name = "Support"
addresses = ["support@example.com"]
[[groups]]
name = "Tier 1"
department = "Support"
members = [{{ agent = "alice" }}]
[[agents]]
name = "alice"
"""


def message(n: int) -> bytes:
    body = "".join(f"Line {i} of a customer's description of the problem.\r\n" for i in range(30))
    return (
        f"From: Customer {n % 97} <c{n % 97}@customer.example>\r\nTo: {SUPPORT}\r\n"
        f"Subject: Cannot log in ({n})\r\nMessage-ID: <bench-{n}-{time.time_ns()}@x.example>\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\n{body}"
    ).encode()


# --- servers (each runs in its own process: `bench/smtp.py --serve KIND ...`) ---------------


class AppendWithFsync:
    """The baseline handler: append the message to a file and fsync before answering."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - open for the server's lifetime

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.file.write(envelope.original_content)  # type: ignore[attr-defined]
        self.file.flush()
        os.fsync(self.file.fileno())
        return "250 OK"


def serve_bare(path: str, port: int) -> None:
    from aiosmtpd.smtp import SMTP

    async def main() -> None:
        handler = AppendWithFsync(path)
        loop = asyncio.get_running_loop()
        factory = lambda: SMTP(handler, hostname="bench")  # noqa: E731
        server = await loop.create_server(factory, "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


def serve_listener(config: str) -> None:
    """maild's SMTP listener and intake without the pipeline worker."""
    from maild.config import load_settings
    from maild.daemon import mail_listeners
    from maild.ingest.worker import Doorbell
    from maild.runtime import open_store

    settings = load_settings(config, environ={})
    store = open_store(settings, initialise=True)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await mail_listeners(settings, store, stop, doorbell=Doorbell())

    asyncio.run(main())


# --- the client -----------------------------------------------------------------------------


def send(port: int, mails: list[bytes], connections: int) -> float:
    """Messages per second: `mails` split over `connections` parallel smtplib sessions."""
    shares = [mails[i::connections] for i in range(connections)]
    errors: list[BaseException] = []

    def one(share: list[bytes]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.ehlo("bench.example")
                for raw in share:
                    client.sendmail("customer@customer.example", [SUPPORT], raw)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(share,)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(mails) / elapsed


def measure(name: str, command: list[str], port: int, count: int) -> dict[int, float]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, process)
        send(port, [message(-1 - n) for n in range(50)], 2)  # warm up
        rates = {c: send(port, [message(n) for n in range(count)], c) for c in (1, 4)}
        rss = peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print(f"{name:<34} {rates[1]:>9.0f} {rates[4]:>9.0f} {rss:>9.0f}", flush=True)
    return rates


def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        here = [sys.executable, __file__]
        print(f"{count} messages of ~2 KB per run; messages/s with 250 after a durable commit")
        print(f"{'server':<34} {'1 conn':>9} {'4 conns':>9} {'RSS MB':>9}")
        ratios: dict[int, list[float]] = {1: [], 4: []}
        for round_ in range(rounds):
            port = free_port()
            bare = measure("aiosmtpd + append + fsync", [*here, "--serve", "bare",
                           f"{directory}/bare{round_}.mbox", str(port)], port, count)  # fmt: skip
            port = free_port()
            config = Path(directory) / f"listener{round_}.toml"
            config.write_text(CONFIG.format(db=f"{directory}/listener{round_}.db", port=port))
            command = [*here, "--serve", "listener", str(config)]
            listener = measure("maild listener (spool commit)", command, port, count)
            for connections in ratios:
                ratios[connections].append(listener[connections] / bare[connections])
        port = free_port()
        config = Path(directory) / "serve.toml"
        config.write_text(CONFIG.format(db=f"{directory}/serve.db", port=port))
        subprocess.run([sys.executable, "-m", "maild.cli", "--config", str(config), "init"],
                       check=True, capture_output=True)  # fmt: skip
        command = [sys.executable, "-m", "maild.cli", "--config", str(config), "serve"]
        measure("maild serve (worker processing too)", command, port, count)
        for connections, found in ratios.items():
            each = ", ".join(f"{ratio:.2f}" for ratio in found)
            print(
                f"listener / bare at {connections} connection(s): median "
                f"{statistics.median(found):.2f}x (rounds: {each})"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        if sys.argv[2] == "bare":
            serve_bare(sys.argv[3], int(sys.argv[4]))
        else:
            serve_listener(sys.argv[3])
    else:
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        )
