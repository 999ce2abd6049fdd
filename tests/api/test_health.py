"""Health and Prometheus metrics: in-process through HTTP, and `maild serve` over a socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from maild.api.app import create_app
from maild.liveness import ServiceBoard, State
from maild.routing import RoundRobin
from maild.scheduler import JOBS
from maild.store.db import Store
from tests.api.conftest import Api, desk_settings, mail
from tests.support import free_listen

ROOT = Path(__file__).resolve().parents[2]
MAILD = ROOT / ".venv" / "bin" / "maild"


def test_health_reports_database_services_and_outbox_backlog(api: Api) -> None:
    api.ok("root", "PATCH", "/departments/Support", json={"autoresponder_body": "Got it"})
    api.receive(mail())  # its autoresponse waits in the outbox
    health = api.client.get("/api/v1/health")  # no token: load balancers ask it
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["database"] == {"ok": True, "error": None}
    assert body["outbox"]["queued"] == 1 and body["outbox"]["oldest_queued_at"]


def test_health_is_503_when_a_service_failed_or_the_database_is_gone(store: Store) -> None:
    board = ServiceBoard()
    board.set("api", State.RUNNING)
    board.set("smtp", State.FAILED, "address in use")
    client = TestClient(create_app(desk_settings(), store, RoundRobin(), board))
    degraded = client.get("/api/v1/health")
    assert degraded.status_code == 503 and degraded.json()["status"] == "degraded"
    assert {"name": "smtp", "state": "failed", "detail": "address in use"} in degraded.json()[
        "services"
    ]
    nowhere = Store.open("postgresql://nobody@127.0.0.1:1/none")
    gone = TestClient(create_app(desk_settings(), nowhere, RoundRobin(), ServiceBoard()))
    response = gone.get("/api/v1/health")
    assert response.status_code == 503 and response.json()["database"]["ok"] is False
    refused = gone.get("/api/v1/tickets", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 503 and "database" in refused.json()["error"]["message"]
    nowhere.close()


def test_metrics_read_counts_from_the_database(api: Api) -> None:
    api.receive(mail("One"))
    api.receive(mail("Two"))
    api.receive(mail("Quote", to="sales@acme.test"), rcpt="sales@acme.test")
    api.get("alice", "/tickets")
    response = api.client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("maild_mails_received_total", (("outcome", "new_ticket"),))] == 3
    assert samples[("maild_queue_length", (("group", "Tier 1"),))] == 2
    assert samples[("maild_queue_length", (("group", "Desk"),))] == 1
    assert samples[("maild_outbox", (("state", "queued"),))] == 0
    latency = [k for k in samples if k[0] == "maild_api_request_duration_seconds_count"]
    assert (
        "maild_api_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/tickets"), ("status", "200")),
    ) in latency


def _get(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_maild_serve_answers_health_over_a_real_socket(db_url: str, tmp_path: Path) -> None:
    listen = free_listen()
    (tmp_path / "maild.toml").write_text(f'[database]\nurl = "{db_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILD_")}
    env |= {
        "MAILD_CONFIG": str(tmp_path / "maild.toml"),
        "MAILD_API_LISTEN": listen,
        "MAILD_SMTP_ENABLED": "false",
    }
    subprocess.run(
        [str(MAILD), "init"], env=env, cwd=tmp_path, check=True, timeout=120, capture_output=True
    )
    process = subprocess.Popen(
        [str(MAILD), "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        status, body = _until_up(f"http://{listen}/api/v1/health", process)
        assert status == 200 and body["status"] == "ok" and body["database"]["ok"]
        assert {"name": "api", "state": "running", "detail": ""} in body["services"]
        assert {"name": "scheduler", "state": "running", "detail": ""} in body["services"]
        # Every job runs once at start; health lists each as it finishes (bounded wait).
        deadline = time.monotonic() + 120
        while len(body["jobs"]) < len(JOBS) and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = _get(f"http://{listen}/api/v1/health")
        assert {job["name"] for job in body["jobs"]} == {job.name for job in JOBS}
        assert all(job["last_ok"] for job in body["jobs"]), body["jobs"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _until_up(url: str, process: subprocess.Popen[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Wait for the daemon to say it serves, then ask until the API answers. Bounded (120 s, for
    a busy machine), and failing early, with what the daemon said, if it died."""
    assert process.stderr is not None
    said = []
    for line in process.stderr:  # ends when the daemon exits
        said.append(line)
        if "serving" in line:
            break
    deadline = time.monotonic() + 120
    while True:
        try:
            return _get(url)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"maild serve did not come up: {''.join(said)}") from None
            time.sleep(0.2)
