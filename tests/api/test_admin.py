"""The organisation through HTTP: departments, groups and members, brands, canned replies,
custom fields; every change audited and in force at once, without a restart."""

from __future__ import annotations

from tests.api.conftest import Api, mail


def test_department_changes_apply_to_the_next_mail_at_once(api: Api) -> None:
    api.ok("root", "POST", "/brands", json={"name": "Globex", "from_name": "Globex Help"})
    made = api.ok(
        "root",
        "POST",
        "/departments",
        json={
            "name": "Billing",
            "brand": "Globex",
            "addresses": ["Billing@Acme.test"],
            "autoresponder_body": "Ticket {{ ticket.number }} is open.",
            "auto_close_after_minutes": 1440,
        },
    )
    assert made["addresses"] == ["billing@acme.test"] and made["default_group"] is None
    api.ok("root", "POST", "/groups", json={"name": "Invoices", "department": "Billing"})
    assert api.ok("root", "GET", "/departments/Billing")["default_group"] == "Invoices"
    number = api.receive(mail(to="billing@acme.test"), rcpt="billing@acme.test")
    detail = api.ok("root", "GET", f"/tickets/{number}")
    assert (detail["department"], detail["group"], detail["brand"]) == (
        "Billing",
        "Invoices",
        "Globex",
    )
    assert detail["message_count"] == 2  # the autoresponse went to the outbox with it
    clash = api.call(
        "root", "PATCH", "/departments/Sales", json={"addresses": ["billing@acme.test"]}
    )
    assert clash.status_code == 409 and "Billing" in clash.json()["error"]["message"]
    never = api.ok("root", "PATCH", "/departments/Billing", json={"auto_close_after_minutes": None})
    assert never["auto_close_after_minutes"] is None
    busy = api.call("root", "DELETE", "/departments/Billing")
    assert busy.status_code == 409 and "groups" in busy.json()["error"]["message"]
    pages = api.ok("alice", "GET", "/departments", params={"limit": 1, "offset": 1})
    assert pages["total"] == 3 and [d["name"] for d in pages["items"]] == ["Sales"]
    api.ok("root", "POST", "/departments", json={"name": "Empty"})
    api.ok("root", "DELETE", "/departments/Empty")
    assert api.get("root", "/departments/Empty").status_code == 404


def test_autoresponder_templates_are_checked_and_previewed(api: Api) -> None:
    broken = api.call(
        "root", "PATCH", "/departments/Support", json={"autoresponder_body": "Hi {{ ticket.number"}
    )
    assert broken.status_code == 422 and "Jinja2" in broken.json()["error"]["message"]
    preview = api.ok(
        "alice",
        "POST",
        "/departments/Support/autoresponder/preview",
        json={
            "subject": "We got {{ ticket.subject }}",
            "body": "Ticket {{ ticket.number }}",
            "html": "<p>{{ ticket.subject }}</p>",
            "ticket_subject": "<b>Help</b>",
        },
    )
    assert preview["subject"] == "[#SUP-000123] We got <b>Help</b>"
    assert preview["text"] == "Ticket SUP-000123"
    assert preview["html"] == "<p>&lt;b&gt;Help&lt;/b&gt;</p>"  # values escaped in HTML
    failing = api.call(
        "alice", "POST", "/departments/Support/autoresponder/preview", json={"body": "{{ 1 / 0 }}"}
    )
    assert failing.status_code == 422 and "rendered" in failing.json()["error"]["message"]
    undefined = api.call(
        "alice",
        "POST",
        "/departments/Support/autoresponder/preview",
        json={"body": "{{ nothing.here }}"},
    )
    assert undefined.status_code == 422


def test_groups_members_and_rebalancing(api: Api) -> None:
    group = api.ok(
        "root",
        "PATCH",
        "/groups/Tier 1",
        json={
            "rebalance": True,
            "rebalance_times": ["06:00", "18:30"],
            "queue_alert_after_minutes": 30,
        },
    )
    assert group["rebalance_times"] == ["06:00", "18:30"]
    bad = api.call("root", "PATCH", "/groups/Tier 1", json={"rebalance_times": ["25:00"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("rebalance_times")
    first, second = api.receive(mail("One")), api.receive(mail("Two"))
    api.ok("alice", "POST", "/agents/me/login")  # alice gets both queued tickets
    api.ok("carl", "POST", "/agents/me/login")
    joined = api.ok("root", "PUT", "/groups/Tier 1/members/carl", json={"max_tickets": 5})
    assert {m["agent"]: m["max_tickets"] for m in joined["members"]}["carl"] == 5
    moves = api.ok("mia", "POST", "/groups/Tier 1/rebalance")["moves"]
    assert len(moves) == 1 and moves[0]["to_agent"] == "carl"
    assert moves[0]["ticket"] in (first, second)
    assert api.post("alice", "/groups/Tier 1/rebalance").status_code == 403
    left = api.ok("root", "DELETE", "/groups/Tier 1/members/carl")
    assert "carl" not in [m["agent"] for m in left["members"]]
    assert api.call("root", "DELETE", "/groups/Tier 1/members/carl").status_code == 404
    busy = api.call("root", "DELETE", "/groups/Tier 1")
    assert busy.status_code == 409 and "tickets" in busy.json()["error"]["message"]
    api.ok("root", "POST", "/groups", json={"name": "Spare", "department": "Support"})
    assert api.ok("alice", "GET", "/groups/Spare")["department"] == "Support"
    api.ok("root", "DELETE", "/groups/Spare")
    assert api.get("alice", "/groups/Spare").status_code == 404
    queue = api.ok("alice", "GET", "/groups")["items"]
    assert {g["name"]: g["queue_length"] for g in queue}["Tier 1"] == 0


def test_new_member_who_is_logged_in_drains_the_queue(api: Api) -> None:
    number = api.receive(mail("Quote", to="sales@acme.test"), rcpt="sales@acme.test")
    api.ok("carl", "POST", "/agents/me/login")
    api.ok("root", "PUT", "/groups/Desk/members/carl", json={"mode": "primary"})
    assert api.ok("root", "GET", f"/tickets/{number}")["agent"] == "carl"


def test_brands_canned_replies_and_custom_fields(api: Api) -> None:
    api.ok("root", "POST", "/brands", json={"name": "Initech", "signature": "-- Initech"})
    assert api.ok("root", "PATCH", "/brands/Initech", json={"from_name": "IT"})["from_name"] == "IT"
    in_use = api.call("root", "DELETE", "/brands/Acme")
    assert in_use.status_code == 409
    api.ok("root", "DELETE", "/brands/Initech")
    api.ok("root", "POST", "/canned-replies", json={"name": "Thanks", "body": "Thank you!"})
    assert api.ok("alice", "GET", "/canned-replies/Thanks")["body"] == "Thank you!"
    api.ok("root", "PATCH", "/canned-replies/Thanks", json={"subject": "Re: thanks"})
    assert api.ok("alice", "GET", "/canned-replies")["total"] == 1
    api.ok("root", "DELETE", "/canned-replies/Thanks")
    assert api.get("alice", "/canned-replies/Thanks").status_code == 404
    field = api.ok(
        "root",
        "POST",
        "/custom-fields",
        json={"name": "Tier", "type": "choice", "choices": ["gold", "silver"]},
    )
    assert field["choices"] == ["gold", "silver"]
    no_choices = api.call("root", "POST", "/custom-fields", json={"name": "X", "type": "choice"})
    assert no_choices.status_code == 422
    number = api.receive(mail())
    api.ok("alice", "PUT", f"/tickets/{number}/fields", json={"values": {"Tier": "gold"}})
    retype = api.call("root", "PATCH", "/custom-fields/Tier", json={"type": "number"})
    assert retype.status_code == 409
    api.ok("root", "PATCH", "/custom-fields/Tier", json={"name": "Level"})
    assert api.ok("alice", "GET", f"/tickets/{number}")["fields"] == {"Level": "gold"}
    api.ok("root", "DELETE", "/custom-fields/Level")
    assert api.ok("alice", "GET", "/custom-fields")["total"] == 0


def test_audit_history_says_who_when_before_and_after(api: Api) -> None:
    api.ok("root", "POST", "/canned-replies", json={"name": "Hi", "body": "Hello"})
    api.ok("root", "PATCH", "/canned-replies/Hi", json={"body": "Hello there"})
    api.ok("root", "PATCH", "/canned-replies/Hi", json={"body": "Hello there"})  # no change
    api.ok("root", "DELETE", "/canned-replies/Hi")
    api.ok("root", "PUT", "/groups/Desk/members/alice", json={})
    page = api.ok("root", "GET", "/audit", params={"entity": "canned_reply"})
    assert page["total"] == 3
    deleted, updated, created = page["items"]
    assert (created["action"], created["actor"], created["before"]) == ("created", "root", None)
    assert updated["before"]["body"] == "Hello" and updated["after"]["body"] == "Hello there"
    assert deleted["action"] == "deleted" and deleted["after"] is None
    assert created["at"] <= updated["at"] <= deleted["at"]
    member = api.ok("root", "GET", "/audit", params={"entity": "membership"})["items"][0]
    assert member["key"] == "Desk/alice" and member["after"]["mode"] == "primary"


def test_raising_a_members_max_tickets_drains_the_queue(api: Api) -> None:
    api.ok("root", "PUT", "/groups/Desk/members/bob", json={"max_tickets": 0})
    api.ok("bob", "POST", "/agents/me/login")
    number = api.receive(mail("Quote", to="sales@acme.test"), rcpt="sales@acme.test")
    assert api.ok("root", "GET", f"/tickets/{number}")["agent"] is None
    api.ok("root", "PUT", "/groups/Desk/members/bob", json={"max_tickets": 3})
    assert api.ok("root", "GET", f"/tickets/{number}")["agent"] == "bob"


def test_reply_to_as_requester_is_a_department_setting(api: Api) -> None:
    form = mail(sender="Shop <wordpress@shop.test>").replace(
        b"\nSubject:", b"\nReply-To: dave@customer.test\nSubject:", 1
    )
    assert api.ok("root", "GET", "/departments/Support")["reply_to_is_requester"] is True
    first = api.receive(form)
    assert api.ok("alice", "GET", f"/tickets/{first}")["requester"] == "dave@customer.test"
    off = api.ok("root", "PATCH", "/departments/Support", json={"reply_to_is_requester": False})
    assert off["reply_to_is_requester"] is False
    second = api.receive(form.replace(b"Printer on fire", b"Printer still on fire"))
    assert api.ok("alice", "GET", f"/tickets/{second}")["requester"] == "wordpress@shop.test"
