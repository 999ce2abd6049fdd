"""Ticket views, search, detail, downloads and everyday changes through HTTP."""

from __future__ import annotations

import email

import pytest

from tests.api.conftest import Api, mail
from tests.conftest import FIXTURES

SCRIPTED = '<p onclick="steal()">Hello<script>alert(1)</script></p><img src="x" onerror="y()">'


def _numbers(page: dict) -> list[str]:  # type: ignore[type-arg]
    return [t["number"] for t in page["items"]]


def test_views_are_paged_sorted_searched_and_say_the_total(api: Api) -> None:
    first = api.receive(mail("Printer on fire"))
    second = api.receive(mail("Scanner jammed"))
    third = api.receive(mail("Fax smoking"))
    api.ok("root", "PATCH", f"/tickets/{second}", json={"priority": "urgent"})
    page = api.ok(
        "alice",
        "GET",
        "/tickets",
        params={"view": "queue", "sort": "priority", "order": "desc", "limit": 2},
    )
    assert page["total"] == 3 and page["limit"] == 2 and _numbers(page)[0] == second
    rest = api.ok(
        "alice",
        "GET",
        "/tickets",
        params={"view": "queue", "sort": "priority", "order": "desc", "limit": 2, "offset": 2},
    )
    assert len(rest["items"]) == 1 and rest["total"] == 3
    found = api.ok("alice", "GET", "/tickets", params={"q": "JAMMED"})
    assert _numbers(found) == [second] and found["total"] == 1
    api.ok("alice", "POST", f"/tickets/{first}/take")
    mine = api.ok("alice", "GET", "/tickets", params={"view": "mine_active"})
    assert _numbers(mine) == [first] and mine["items"][0]["agent"] == "alice"
    filtered = api.ok("root", "GET", "/tickets", params={"group": "Tier 1", "agent": "alice"})
    assert _numbers(filtered) == [first]
    recent = api.ok("alice", "GET", "/tickets", params={"view": "recent"})
    assert first in _numbers(recent)
    api.ok("root", "DELETE", f"/tickets/{third}")
    assert _numbers(api.ok("root", "GET", "/tickets", params={"view": "deleted"})) == [third]
    assert third not in _numbers(api.ok("root", "GET", "/tickets"))


def test_totals_beyond_the_bound_are_a_lower_bound_unless_asked_exact(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subject in ("Printer on fire", "Scanner jammed", "Fax smoking"):
        api.receive(mail(subject))
    monkeypatch.setattr("maild.api.tickets.COUNT_UP_TO", 2)
    for path in ("/tickets", "/tickets/search"):
        bounded = api.ok("root", "GET", path, params={"limit": 1})
        assert (bounded["total"], bounded["total_exact"], len(bounded["items"])) == (2, False, 1)
        exact = api.ok("root", "GET", path, params={"limit": 1, "exact_total": "true"})
        assert (exact["total"], exact["total_exact"]) == (3, True)
    monkeypatch.setattr("maild.api.tickets.COUNT_UP_TO", 3)
    assert api.ok("root", "GET", "/tickets")["total_exact"] is True


def test_unknown_filter_names_the_field(api: Api) -> None:
    response = api.get("root", "/tickets", params={"group": "Tier 9"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "group"
    assert "Tier 9" in response.json()["error"]["message"]
    bad_view = api.get("root", "/tickets", params={"view": "everything"})
    assert bad_view.status_code == 422 and bad_view.json()["error"]["field"] == "view"


def test_advanced_search_combines_criteria_and_pages(api: Api) -> None:
    a = api.receive(mail("Invoice missing", sender="dave@example.com"))
    b = api.receive(mail("Invoice wrong", sender="erin@example.com"))
    api.receive(mail("Hello", sender="erin@example.com"))
    api.ok(
        "root",
        "POST",
        "/custom-fields",
        json={"name": "Plan", "type": "choice", "choices": ["gold", "free"]},
    )
    api.ok("root", "PUT", f"/tickets/{b}/fields", json={"values": {"Plan": "gold"}})
    both = api.ok("alice", "GET", "/tickets/search", params={"text": "invoice"})
    assert both["total"] == 2 and _numbers(both) == [b, a]  # newest first
    erin = api.ok("alice", "GET", "/tickets/search", params={"text": "invoice", "email": "erin"})
    assert _numbers(erin) == [b]
    gold = api.ok(
        "alice", "GET", "/tickets/search", params={"field": "Plan", "field_value": "gold"}
    )
    assert _numbers(gold) == [b]
    page = api.ok(
        "alice", "GET", "/tickets/search", params={"order": "oldest", "limit": 1, "offset": 1}
    )
    assert page["total"] == 3 and _numbers(page) == [b]
    api.ok("root", "POST", "/tickets/merge", json={"primary": b, "others": [a]})
    merged = api.ok("alice", "GET", "/tickets/search", params={"number": a.lower()})
    assert _numbers(merged) == [b]
    naive = api.get("alice", "/tickets/search", params={"created_from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "created_from"


def test_detail_has_everything_and_html_is_sanitised(api: Api) -> None:
    raw = mail("Broken", html=SCRIPTED, attachment=("report.pdf", "application/pdf", b"%PDF-1"))
    number = api.receive(raw)
    other = api.receive(mail("Also broken"))
    api.ok("alice", "POST", f"/tickets/{number}/comments", json={"body": "Looking"})
    api.ok("alice", "POST", f"/tickets/{number}/time-logs", json={"minutes": 15, "note": "call"})
    api.ok("alice", "POST", f"/tickets/{number}/related", json={"number": other})
    detail = api.ok("alice", "GET", f"/tickets/{number}")
    (message,) = detail["messages"]
    assert message["from"] == "carol@example.com" and "please help" in message["text"]
    assert "<script" not in message["html"] and "onclick" not in message["html"]
    assert "onerror" not in message["html"] and "Hello" in message["html"]
    (attachment,) = detail["attachments"]
    assert attachment["filename"] == "report.pdf" and attachment["size"] == 6
    assert [c["body"] for c in detail["comments"]] == ["Looking"]
    assert detail["time_logs"][0]["minutes"] == 15 and detail["time_logs"][0]["agent"] == "alice"
    assert [r["number"] for r in detail["related"]] == [other]
    assert {"created", "comment", "time_log", "related"} <= {h["action"] for h in detail["history"]}
    assert detail["participants"][0]["address"] == "carol@example.com"
    raw_html = api.ok("root", "GET", f"/tickets/{number}", params={"raw_html": "true"})
    assert "<script>" in raw_html["messages"][0]["html"]


def test_attachment_and_raw_message_download_as_attachments(api: Api) -> None:
    raw = mail("Logs", attachment=("app log.txt", "text/plain", b"line 1\n"))
    number = api.receive(raw)
    detail = api.ok("alice", "GET", f"/tickets/{number}")
    attachment = detail["attachments"][0]
    response = api.client.get(attachment["url"], headers=_auth(api, "alice"))
    assert response.status_code == 200 and response.content == b"line 1\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "app%20log.txt" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    message = api.client.get(detail["messages"][0]["raw_url"], headers=_auth(api, "alice"))
    assert message.status_code == 200 and message.content == raw
    assert message.headers["content-type"] == "message/rfc822"
    assert message.headers["content-disposition"].startswith("attachment;")
    assert api.get("bob", f"/tickets/{number}/attachments/{attachment['id']}").status_code == 404
    assert api.get("alice", f"/tickets/{number}/attachments/999999").status_code == 404


def test_hostile_content_type_is_served_as_opaque_bytes(api: Api) -> None:
    raw = mail("Evil", attachment=("x.html", "text/html", b"<script>1</script>"))
    raw = raw.replace(b"Content-Type: text/html", b'Content-Type: text/html;x="\\"<a>"')
    number = api.receive(raw)
    attachment = api.ok("alice", "GET", f"/tickets/{number}")["attachments"][0]
    response = api.client.get(attachment["url"], headers=_auth(api, "alice"))
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


def _auth(api: Api, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[who]}"}


def test_patch_changes_status_priority_pin_subject_and_email(api: Api) -> None:
    number = api.receive(mail())
    api.ok("alice", "POST", f"/tickets/{number}/take")
    changed = api.ok(
        "alice",
        "PATCH",
        f"/tickets/{number}",
        json={
            "priority": "high",
            "pinned": True,
            "subject": "Printer fixed?",
            "email": "Carol <carol@newmail.example>",
            "status": "waiting",
        },
    )
    assert changed["priority"] == "high" and changed["pinned"] is True
    assert changed["subject"] == "Printer fixed?" and changed["status"] == "waiting"
    assert changed["requester"] == "carol@newmail.example"
    history = api.ok("alice", "GET", f"/tickets/{number}")["history"]
    assert {"priority", "pin", "subject", "email", "status"} <= {h["action"] for h in history}
    bad = api.call("alice", "PATCH", f"/tickets/{number}", json={"email": "not an address"})
    assert bad.status_code == 422 and "name@example.com" in bad.json()["error"]["message"]
    two_lines = api.call("alice", "PATCH", f"/tickets/{number}", json={"subject": "a\nb"})
    assert two_lines.status_code == 422 and two_lines.json()["error"]["field"] == "subject"
    queued = api.receive(mail("Other"))
    refused = api.call("alice", "PATCH", f"/tickets/{queued}", json={"pinned": True})
    assert refused.status_code == 409 and "queue" in refused.json()["error"]["message"]


def test_a_forwarded_mail_downloads_as_an_eml_that_opens_as_mail(api: Api) -> None:
    # Issue 13 item 8: Gmail's forward as attachment, openable by the agent's mail client.
    raw = (FIXTURES / "gmail-forward-as-attachment.eml").read_bytes()
    number = api.receive(raw.replace(b"To: support@example.com", b"To: support@acme.test"))
    detail = api.ok("alice", "GET", f"/tickets/{number}")
    assert "Tracking number" not in detail["messages"][0]["text"]
    (attachment,) = detail["attachments"]
    assert attachment["filename"] == "Your order 4711 has shipped.eml"
    response = api.client.get(attachment["url"], headers=_auth(api, "alice"))
    assert response.headers["content-type"].startswith("message/rfc822")
    forwarded = email.message_from_bytes(response.content)
    assert forwarded["Message-ID"] == "<order-4711-shipped@shop.example>"
    assert forwarded.get_content_type() == "multipart/alternative"
