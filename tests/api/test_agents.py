"""Agents through HTTP: logging in and out and availability drive routing; admins manage
agents and their tokens."""

from __future__ import annotations

from tests.api.conftest import Api, mail


def test_log_in_receives_the_queue_and_log_out_hands_tickets_off(api: Api) -> None:
    number = api.receive(mail())
    me = api.ok("alice", "GET", "/agents/me")
    assert me["logged_in"] is False and me["memberships"][0]["group"] == "Tier 1"
    api.ok("alice", "POST", "/agents/me/login")
    assert api.ok("alice", "GET", f"/tickets/{number}")["agent"] == "alice"  # the queue drained
    handed = api.ok("alice", "POST", "/agents/me/logout")
    assert handed == {"handed_off": 1}
    assert api.ok("root", "GET", f"/tickets/{number}")["agent"] is None  # back in the queue


def test_availability_and_receiving_per_group_drive_round_robin(api: Api) -> None:
    api.ok("alice", "POST", "/agents/me/login")
    away = api.ok(
        "alice",
        "PUT",
        "/agents/me/availability",
        json={"available": False, "receiving": {"Tier 1": False}},
    )
    assert away["available"] is False and away["memberships"][0]["receiving"] is False
    number = api.receive(mail())
    assert api.ok("alice", "GET", f"/tickets/{number}")["agent"] is None
    api.ok("alice", "PUT", "/agents/me/availability", json={"available": True})
    assert api.ok("alice", "GET", f"/tickets/{number}")["agent"] is None  # still not receiving
    api.ok("alice", "PUT", "/agents/me/availability", json={"receiving": {"Tier 1": True}})
    assert api.ok("alice", "GET", f"/tickets/{number}")["agent"] == "alice"
    stranger = api.call(
        "alice", "PUT", "/agents/me/availability", json={"receiving": {"Desk": True}}
    )
    assert stranger.status_code == 404 and "not a member" in stranger.json()["error"]["message"]
    unknown = api.call("alice", "PUT", "/agents/me/availability", json={"receiving": {"X": True}})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "receiving.X"


def test_admin_manages_agents_and_their_tokens(api: Api) -> None:
    created = api.ok("root", "POST", "/agents", json={"name": "dana", "email": "dana@acme.test"})
    assert created["role"] == "agent" and created["memberships"] == []
    listed = api.ok("alice", "GET", "/agents", params={"limit": 2})
    assert listed["total"] == 6 and len(listed["items"]) == 2
    token = api.ok("root", "POST", "/agents/dana/tokens")["token"]
    as_dana = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/agents/me", headers=as_dana).json()["name"] == "dana"
    promoted = api.ok("root", "PATCH", "/agents/dana", json={"role": "manager", "name": "dana2"})
    assert promoted["role"] == "manager" and promoted["name"] == "dana2"
    assert api.ok("root", "GET", "/agents/dana2")["email"] == "dana@acme.test"
    bad = api.call("root", "PATCH", "/agents/dana2", json={"email": "dana at acme"})
    assert bad.status_code == 422
    taken = api.call("root", "POST", "/agents", json={"name": "alice"})
    assert taken.status_code == 409 and "already exists" in taken.json()["error"]["message"]
    api.ok("root", "DELETE", "/agents/dana2")
    tokens = api.ok("root", "GET", "/audit", params={"entity": "api_token"})["items"]
    assert [(e["action"], e["key"]) for e in tokens] == [("created", "dana")]
    assert api.client.get("/api/v1/agents/me", headers=as_dana).status_code == 401
    assert api.get("root", "/agents/dana2").status_code == 404


def test_an_admin_cannot_lock_themselves_out_and_busy_agents_stay(api: Api) -> None:
    demote = api.call("root", "PATCH", "/agents/root", json={"role": "agent"})
    assert demote.status_code == 409 and "another admin" in demote.json()["error"]["message"]
    assert api.call("root", "DELETE", "/agents/root").status_code == 409
    number = api.receive(mail())
    api.ok("alice", "POST", f"/tickets/{number}/take")
    busy = api.call("root", "DELETE", "/agents/alice")
    assert busy.status_code == 409 and "holds tickets" in busy.json()["error"]["message"]
