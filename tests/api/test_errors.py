"""Every error is JSON `{"error": {"code", "message", "field"}}` with an actionable message."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, mail


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("GET", "/tickets?limit=0", None, 422, "limit"),
        ("GET", "/tickets?sort=colour", None, 422, "sort"),
        ("POST", "/tickets/merge", {"primary": "A"}, 422, "others"),
        ("POST", "/brands", {"name": "x\u0000y"}, 422, "name"),
        ("POST", "/brands", {"name": "ok", "colour": "red"}, 422, "colour"),
        ("PUT", "/tickets/SUP-1/follow-up", {"at": "tomorrow"}, 422, "at"),
        ("GET", "/nothing/here", None, 404, None),
        ("PUT", "/tickets", None, 405, None),
    ],
)
def test_errors_are_json_and_name_the_field(
    api: Api, method: str, path: str, payload: object, status: int, field: str | None
) -> None:
    response = api.call("root", method, path, json=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    assert error["field"] == field


def test_follow_up_time_without_a_zone_is_refused_with_the_reason(api: Api) -> None:
    number = api.receive(mail())
    response = api.call(
        "root", "PUT", f"/tickets/{number}/follow-up", json={"at": "2030-01-01T09:00:00"}
    )
    assert response.status_code == 422
    assert "timezone" in response.json()["error"]["message"]


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/tickets/{number}/transfer" in spec["paths"]
    assert api.client.get("/api/v1/docs").status_code == 200


def test_every_endpoint_runs_in_the_thread_pool(api: Api) -> None:
    """Endpoints are plain functions, which FastAPI runs in its thread pool: their synchronous
    database work never blocks the event loop the mail listeners share."""
    import inspect

    from fastapi.routing import APIRoute

    def routes(items: list) -> list[APIRoute]:  # type: ignore[type-arg]
        found: list[APIRoute] = []
        for item in items:
            if isinstance(item, APIRoute):
                found.append(item)
            found += routes(getattr(getattr(item, "original_router", None), "routes", []))
        return found

    endpoints = routes(api.client.app.routes)  # type: ignore[attr-defined]
    assert len(endpoints) >= 55
    assert [r.path for r in endpoints if inspect.iscoroutinefunction(r.endpoint)] == []
