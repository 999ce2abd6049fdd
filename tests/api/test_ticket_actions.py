"""Working tickets through HTTP: comments, transfer, follow-up, take, merge, fields, time logs,
related tickets and the bulk forms. The rules are the core's; these show the API reaches them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api, mail


def test_comment_and_resolution(api: Api) -> None:
    number = api.receive(mail())
    note = api.ok("alice", "POST", f"/tickets/{number}/comments", json={"body": "Asked Bob"})
    assert note["kind"] == "comment" and note["agent"] == "alice"
    done = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/comments",
        json={"body": "Replaced toner", "kind": "resolution"},
    )
    assert done["kind"] == "resolution"
    empty = api.post("alice", f"/tickets/{number}/comments", json={"body": ""})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "body"


def test_transfer_to_an_agent_and_to_auto_assign(api: Api) -> None:
    number = api.receive(mail())
    moved = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/transfer",
        json={
            "group": "Tier 2",
            "agent": "carl",
            "priority": "high",
            "pin": True,
            "comment": "Carl knows printers",
        },
    )
    assert (moved["group"], moved["agent"], moved["priority"], moved["pinned"]) == (
        "Tier 2",
        "carl",
        "high",
        True,
    )
    detail = api.ok("carl", "GET", f"/tickets/{number}")
    assert detail["comments"][0]["body"] == "Carl knows printers"
    auto = api.ok("carl", "POST", f"/tickets/{number}/transfer", json={"group": "Tier 1"})
    assert auto["agent"] is None  # nobody in Tier 1 is logged in: the queue
    unknown = api.post("carl", f"/tickets/{number}/transfer", json={"group": "Nowhere"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "group"
    stranger = api.post(
        "root", f"/tickets/{number}/transfer", json={"group": "Desk", "agent": "alice"}
    )
    assert stranger.status_code == 422 and "not a member" in stranger.json()["error"]["message"]


def test_follow_up_goes_to_the_caller_by_default_and_removal_restores_status(api: Api) -> None:
    number = api.receive(mail())
    api.ok("alice", "POST", f"/tickets/{number}/take")
    at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    waiting = api.ok(
        "alice", "PUT", f"/tickets/{number}/follow-up", json={"at": at, "note": "Call"}
    )
    assert waiting["status"] == "waiting" and waiting["followup_at"]
    follow_up = api.ok("alice", "GET", f"/tickets/{number}")["follow_up"]
    assert follow_up["agent"] == "alice" and follow_up["group"] == "Tier 1"
    assert follow_up["note"] == "Call" and follow_up["previous_status"] == "active"
    mine = api.ok("alice", "GET", "/tickets", params={"view": "follow_ups"})
    assert [t["number"] for t in mine["items"]] == [number]
    api.ok("alice", "PUT", f"/tickets/{number}/follow-up", json={"at": at, "agent": None})
    assert api.ok("alice", "GET", f"/tickets/{number}")["follow_up"]["agent"] is None
    restored = api.ok("alice", "DELETE", f"/tickets/{number}/follow-up")
    assert restored["status"] == "active" and restored["followup_at"] is None
    past = api.call(
        "alice", "PUT", f"/tickets/{number}/follow-up", json={"at": "2020-01-01T00:00Z"}
    )
    assert past.status_code == 422 and "future" in past.json()["error"]["message"]
    again = api.call("alice", "DELETE", f"/tickets/{number}/follow-up")
    assert again.status_code == 409


def test_take_from_the_queue(api: Api) -> None:
    number = api.receive(mail())
    taken = api.ok("mia", "POST", f"/tickets/{number}/take")
    assert taken["agent"] == "mia"
    twice = api.post("mia", f"/tickets/{number}/take")
    assert twice.status_code == 409 and "already" in twice.json()["error"]["message"]
    # alice no longer sees it: it left the queue for mia
    assert api.post("alice", f"/tickets/{number}/take").status_code == 404


def test_merge_keeps_the_primary_and_forwards_the_others(api: Api) -> None:
    primary, other = api.receive(mail("One")), api.receive(mail("Two"))
    merged = api.ok("alice", "POST", "/tickets/merge", json={"primary": primary, "others": [other]})
    assert merged["number"] == primary and merged["message_count"] == 2
    via_old = api.ok("alice", "GET", f"/tickets/{other}")
    assert via_old["number"] == primary and via_old["merged"] == [other]
    itself = api.post("alice", "/tickets/merge", json={"primary": primary, "others": [primary]})
    assert itself.status_code == 422
    too_many = api.post("alice", "/tickets/merge", json={"primary": primary, "others": ["X"] * 10})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "others"


def test_custom_fields_and_time_logs(api: Api) -> None:
    number = api.receive(mail())
    api.ok("root", "POST", "/custom-fields", json={"name": "Seats", "type": "number"})
    api.ok("root", "POST", "/custom-fields", json={"name": "Renewal", "type": "date"})
    values = api.ok(
        "alice",
        "PUT",
        f"/tickets/{number}/fields",
        json={"values": {"Seats": "12.0", "Renewal": "2027-01-31"}},
    )
    assert values == {"Renewal": "2027-01-31", "Seats": "12"}
    cleared = api.ok("alice", "PUT", f"/tickets/{number}/fields", json={"values": {"Seats": ""}})
    assert cleared == {"Renewal": "2027-01-31"}
    wrong = api.call("alice", "PUT", f"/tickets/{number}/fields", json={"values": {"Seats": "x"}})
    assert wrong.status_code == 422 and "number" in wrong.json()["error"]["message"]
    unknown = api.call("alice", "PUT", f"/tickets/{number}/fields", json={"values": {"Nope": "1"}})
    assert unknown.status_code == 404
    log = api.ok("alice", "POST", f"/tickets/{number}/time-logs", json={"minutes": 30})
    assert log["minutes"] == 30
    zero = api.post("alice", f"/tickets/{number}/time-logs", json={"minutes": 0})
    assert zero.status_code == 422 and zero.json()["error"]["field"] == "minutes"


def test_bulk_changes_each_ticket_alone_and_reports_each(api: Api) -> None:
    a, b = api.receive(mail("A")), api.receive(mail("B"))
    sales = api.receive(mail("S", to="sales@acme.test"), rcpt="sales@acme.test")
    for number in (a, b):
        api.ok("alice", "POST", f"/tickets/{number}/take")
    closed = api.ok(
        "alice",
        "POST",
        "/tickets/bulk",
        json={"numbers": [a, b, sales], "change": {"action": "status", "status": "closed"}},
    )
    assert closed["changed"] == 2
    assert [r["ok"] for r in closed["results"]] == [True, True, False]
    assert "no ticket" in closed["results"][2]["error"]  # alice may not see Sales' ticket
    urgent = api.ok(
        "alice",
        "POST",
        "/tickets/bulk",
        json={"numbers": [a], "change": {"action": "priority", "priority": "urgent"}},
    )
    assert urgent["changed"] == 1
    pin = api.ok(
        "alice",
        "POST",
        "/tickets/bulk",
        json={"numbers": [a], "change": {"action": "pin", "pinned": True}},
    )
    assert pin["changed"] == 1
    moved = api.ok(
        "alice",
        "POST",
        "/tickets/bulk",
        json={"numbers": [a, b], "change": {"action": "transfer", "transfer": {"group": "Tier 2"}}},
    )
    assert moved["changed"] == 2
    delete = {"numbers": [a, b], "change": {"action": "delete"}}
    assert api.post("alice", "/tickets/bulk", json=delete).status_code == 403
    assert api.ok("mia", "POST", "/tickets/bulk", json=delete)["changed"] == 2
    unknown = api.post("mia", "/tickets/bulk", json={"numbers": [a], "change": {"action": "x"}})
    assert unknown.status_code == 422
