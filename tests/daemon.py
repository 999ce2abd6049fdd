"""`maild serve` in a subprocess, for tests that drive the daemon as an admin runs it.

    from tests.daemon import MaildProcess, free_port
    from tests.support import write_config

    config = write_config(tmp_path, db_url)              # maild init is run for you
    with MaildProcess.start(config, tmp_path, smtp_port=free_port()) as daemon:
        client = daemon.smtp()                           # smtplib.SMTP to its listener
        ...
    # leaving the block sends SIGTERM and asserts exit code 0

`start` runs `maild init` (schema and config), then `maild serve` with the config file and
environment overrides: `[smtp] listen` on the given port (`smtp_port=None` disables SMTP),
`[api] listen` on a free port unless `env` names one, any `env` you add, and returns once
every port in `ready_ports` (the SMTP port included) accepts connections. The daemon's log
(stderr) goes to `<directory>/serve-N.log` (never a pipe: a full pipe would stall the daemon);
`log()` reads it and is shown when the daemon fails to start. `kill()` sends SIGKILL (for
crash tests), `stop()` SIGTERM and returns the exit code. Nothing is left running.
"""

from __future__ import annotations

import itertools
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port

__all__ = ["MaildProcess", "clean_env", "free_port", "maild_command", "serving"]

START_TIMEOUT = 60.0
_RUNS = itertools.count(1)


def maild_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "maild.cli", "--config", str(config), *args]


def clean_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The test's environment without MAILD_ settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILD_")}
    return env | dict(extra)


@dataclass
class MaildProcess:
    process: subprocess.Popen[bytes]
    config: Path
    log_path: Path
    smtp_port: int | None

    @classmethod
    def start(
        cls,
        config: Path,
        directory: Path,
        smtp_port: int | None,
        env: Mapping[str, str] = {},
        ready_ports: Sequence[int] = (),
        init: bool = True,
    ) -> MaildProcess:
        overrides = dict(env)
        if smtp_port is None:
            overrides.setdefault("MAILD_SMTP_ENABLED", "false")
        else:
            overrides.setdefault("MAILD_SMTP_LISTEN", f"127.0.0.1:{smtp_port}")
        if init:
            done = subprocess.run(
                maild_command(config, "init"), env=clean_env(overrides), capture_output=True,
                timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr.decode()
        daemon = cls.spawn(config, directory, smtp_port, overrides)
        ports = [*ready_ports, *([smtp_port] if smtp_port is not None else [])]
        daemon.wait_ready(ports)
        return daemon

    @classmethod
    def spawn(
        cls, config: Path, directory: Path, smtp_port: int | None, env: Mapping[str, str]
    ) -> MaildProcess:
        """`maild serve` started, not waited for (see `wait_ready`)."""
        # The API runs too, as it does for an admin; on a port of its own, so that two daemons
        # (or a daemon beside another test's) never collide on the config's port.
        env = {"MAILD_API_LISTEN": f"127.0.0.1:{free_port()}", **env}
        log_path = directory / f"serve-{next(_RUNS)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                maild_command(config, "serve"), env=clean_env(env), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        return cls(process, config, log_path, smtp_port)

    def wait_ready(self, ports: Sequence[int]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for port in ports:
            while not _accepts(port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(f"maild serve did not start:\n{self.log()}")
                time.sleep(0.05)

    def smtp(self, timeout: float = 30.0) -> smtplib.SMTP:
        assert self.smtp_port is not None, "started without SMTP"
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code (SIGKILL and an error if it does not exit in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"maild serve ignored SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def __enter__(self) -> MaildProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.kill()
            return
        code = self.stop()
        assert code == 0, f"maild serve exited {code}:\n{self.log()}"


@contextmanager
def serving(config: Path, directory: Path, **options: object) -> Iterator[MaildProcess]:
    """`MaildProcess.start(...)` as a context: stopped (SIGTERM, exit 0 checked) at the end."""
    with MaildProcess.start(config, directory, **options) as daemon:  # type: ignore[arg-type]
        yield daemon


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
