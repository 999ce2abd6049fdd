"""Who may see and do what (seed 002): a test per rule, through HTTP."""

from __future__ import annotations

from tests.api.conftest import Api, mail


def _error(response: object) -> dict[str, object]:
    return response.json()["error"]  # type: ignore[attr-defined, no-any-return]


def test_missing_or_wrong_token_is_401_with_a_json_error(api: Api) -> None:
    missing = api.call(None, "GET", "/tickets")
    wrong = api.client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert _error(response)["code"] == "unauthorized"
        assert "maild agent token" in str(_error(response)["message"])


def test_revoked_token_gets_401(api: Api) -> None:
    assert api.get("alice", "/agents/me").status_code == 200
    assert api.ok("root", "DELETE", "/agents/alice/tokens") == {"revoked": 1}
    assert api.get("alice", "/agents/me").status_code == 401


def test_agent_cannot_see_another_groups_ticket_and_learns_nothing(api: Api) -> None:
    sales = api.receive(mail("Quote please", to="sales@acme.test"), rcpt="sales@acme.test")
    hidden = api.get("alice", f"/tickets/{sales}")
    unknown = api.get("alice", "/tickets/SUP-999999")
    assert hidden.status_code == unknown.status_code == 404
    assert _error(hidden)["message"] == str(_error(unknown)["message"]).replace("SUP-999999", sales)
    assert api.get("bob", f"/tickets/{sales}").status_code == 200  # Desk's own queue
    listed = api.ok("alice", "GET", "/tickets", params={"view": "all"})
    assert sales not in [t["number"] for t in listed["items"]]
    refused = api.post("alice", f"/tickets/{sales}/comments", json={"body": "mine now"})
    assert refused.status_code == 404


def test_agent_sees_own_tickets_and_what_is_transferred_to_them(api: Api) -> None:
    number = api.receive(mail())
    assert api.get("carl", f"/tickets/{number}").status_code == 404  # Tier 2 only
    api.ok("alice", "POST", f"/tickets/{number}/take")
    api.ok(
        "alice", "POST", f"/tickets/{number}/transfer", json={"group": "Tier 2", "agent": "carl"}
    )
    assert api.get("carl", f"/tickets/{number}").status_code == 200
    # seed "Recently Transferred": the agent it left still finds it there
    moved = api.ok("alice", "GET", "/tickets", params={"view": "recently_transferred"})
    assert [t["number"] for t in moved["items"]] == [number]


def test_agent_cannot_delete_a_manager_can_and_an_agent_cannot_undelete(api: Api) -> None:
    number = api.receive(mail())
    refused = api.call("alice", "DELETE", f"/tickets/{number}")
    assert refused.status_code == 403 and _error(refused)["code"] == "forbidden"
    # the role is refused before any lookup: a number that names nothing gets the same answer
    assert api.call("alice", "DELETE", "/tickets/SUP-424242").status_code == 403
    deleted = api.ok("mia", "DELETE", f"/tickets/{number}")
    assert deleted["status"] == "closed_locked" and deleted["deleted_at"]
    assert api.post("alice", f"/tickets/{number}/undelete").status_code == 403
    restored = api.ok("mia", "POST", f"/tickets/{number}/undelete")
    assert restored["deleted_at"] is None and restored["status"] == "closed_locked"


def test_manager_sees_their_departments_tickets_but_not_others(api: Api) -> None:
    support = api.receive(mail())
    api.ok("root", "POST", f"/tickets/{support}/transfer", json={"group": "Tier 2"})
    sales = api.receive(mail("Quote", to="sales@acme.test"), rcpt="sales@acme.test")
    # mia belongs to Tier 1 only, yet sees Tier 2: both are groups of Support
    assert api.get("mia", f"/tickets/{support}").status_code == 200
    assert api.get("mia", f"/tickets/{sales}").status_code == 404
    assert api.call("mia", "DELETE", f"/tickets/{sales}").status_code == 404


def test_admin_sees_everything_and_alone_reads_raw_html(api: Api) -> None:
    sales = api.receive(
        mail("Quote", to="sales@acme.test", html="<p>hi</p>"), rcpt="sales@acme.test"
    )
    assert api.get("root", f"/tickets/{sales}").status_code == 200
    refused = api.get("bob", f"/tickets/{sales}", params={"raw_html": "true"})
    assert refused.status_code == 403
    assert api.get("root", f"/tickets/{sales}", params={"raw_html": "true"}).status_code == 200


def test_only_admins_change_the_organisation(api: Api) -> None:
    for who in ("alice", "mia"):
        response = api.post(who, "/brands", json={"name": "Other"})
        assert response.status_code == 403
        assert "admin" in str(_error(response)["message"])
    assert api.get("alice", "/brands").status_code == 200  # reading is for everyone
    assert api.get("mia", "/audit").status_code == 403


def test_transfer_is_allowed_to_agents(api: Api) -> None:
    number = api.receive(mail())
    moved = api.ok("alice", "POST", f"/tickets/{number}/transfer", json={"group": "Desk"})
    assert moved["group"] == "Desk" and moved["department"] == "Sales"
