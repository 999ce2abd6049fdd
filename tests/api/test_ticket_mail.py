"""Mail an agent sends through HTTP: reply with every option, the draft, forward, resend and
new tickets. What is queued is read back from the outbox as the relay will get it (the
delivery itself is the outbound tests' and the end-to-end test's)."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from maild.store.models import CannedReply, Outbox
from tests.api.conftest import Api, mail


def _queued(api: Api) -> list[Outbox]:
    with api.store.sessions() as session:
        rows = session.scalars(sa.select(Outbox).order_by(Outbox.id)).all()
        session.expunge_all()
        return list(rows)


def _parsed(row: Outbox) -> EmailMessage:
    parsed = message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _taken(api: Api, subject: str = "Printer on fire", **kw: Any) -> str:
    number = api.receive(mail(subject, **kw))
    api.ok("alice", "POST", f"/tickets/{number}/take")
    return number


def _message_ids(api: Api, who: str, number: str, direction: str) -> list[int]:
    detail = api.ok(who, "GET", f"/tickets/{number}")
    return [m["id"] for m in detail["messages"] if m["direction"] == direction]


def test_reply_goes_to_the_requester_and_marks_the_ticket_waiting(api: Api) -> None:
    number = _taken(api, message_id="<first@example.com>")
    sent = api.ok("alice", "POST", f"/tickets/{number}/reply", json={"body": "Unplug it."})
    assert sent["ticket"]["status"] == "waiting" and sent["outbox"] > 0
    (row,) = _queued(api)
    out = _parsed(row)
    assert out["Message-ID"] == sent["message_id"]
    assert out["To"] == "carol@example.com" and row.recipients == ["carol@example.com"]
    assert out["Subject"] == f"[#{number}] Printer on fire"
    assert out["In-Reply-To"] == "<first@example.com>"
    assert "Unplug it." in out.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    detail = api.ok("alice", "GET", f"/tickets/{number}")
    assert [m["direction"] for m in detail["messages"]] == ["in", "out"]


def test_reply_with_every_option(api: Api) -> None:
    number = _taken(api, message_id="<first@example.com>")
    first = _message_ids(api, "alice", number, "in")[0]
    api.receive(
        mail(
            f"Re: [#{number}] more",
            to="support@acme.test, dave@example.com",
            message_id="<second@example.com>",
        )
    )
    with api.store.transaction() as session:
        session.add(
            CannedReply(name="Toner", body="Have you tried new toner, {{ ticket.requester }}?")
        )
    sent = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/reply",
        json={
            "body": "Or call us.",
            "to": "Carol <carol@example.com>",
            "cc": "erin@example.com; frank@example.com",
            "bcc": "boss@acme.test",
            "subject": "About your printer",
            "reply_all": True,
            "canned": "Toner",
            "message": first,
            "attachments": [
                {"filename": "guide.pdf", "content_type": "application/pdf", "data": _b64(b"%PDF")}
            ],
            "status": "closed",
        },
    )
    assert sent["ticket"]["status"] == "closed"
    assert sent["ticket"]["subject"] == "Printer on fire"  # the override is for one mail
    (row,) = _queued(api)
    out = _parsed(row)
    assert out["Subject"] == f"[#{number}] About your printer"
    assert out["In-Reply-To"] == "<first@example.com>"  # the message named, not the newest
    assert "dave@example.com" not in row.recipients  # only in the newest mail's To
    assert "Bcc" not in out and "boss@acme.test" in row.recipients
    assert out["Cc"] == "erin@example.com, frank@example.com"
    text = out.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("new toner, carol@example.com?") < text.index("Or call us.")
    (attachment,) = out.iter_attachments()
    assert attachment.get_filename() == "guide.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF"


def test_reply_all_adds_the_answered_mails_recipients_minus_our_own(api: Api) -> None:
    number = _taken(api, to="support@acme.test, dave@example.com")
    api.ok("alice", "POST", f"/tickets/{number}/reply", json={"body": "Hi", "reply_all": True})
    (row,) = _queued(api)
    assert sorted(row.recipients) == ["carol@example.com", "dave@example.com"]


def test_reply_sends_and_schedules_a_follow_up_or_transfers(api: Api) -> None:
    number = _taken(api)
    at = "2099-01-01T09:00:00Z"
    later = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/reply",
        json={"body": "I'll call you", "follow_up": {"at": at, "note": "Call Carol"}},
    )
    assert later["ticket"]["status"] == "waiting" and later["ticket"]["followup_at"]
    assert api.ok("alice", "GET", f"/tickets/{number}")["follow_up"]["agent"] == "alice"
    moved = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/reply",
        json={"body": "Carl will help", "transfer": {"group": "Tier 2", "agent": "carl"}},
    )
    assert moved["ticket"]["group"] == "Tier 2" and moved["ticket"]["agent"] == "carl"
    both = api.post(
        "carl",
        f"/tickets/{number}/reply",
        json={"body": "x", "follow_up": {"at": at}, "transfer": {"group": "Tier 1"}},
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "transfer"
    unknown = api.post(
        "carl", f"/tickets/{number}/reply", json={"body": "x", "transfer": {"group": "Nowhere"}}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "transfer.group"
    assert len(_queued(api)) == 2


def test_agent_cannot_send_mail_on_a_ticket_they_cannot_see(api: Api) -> None:
    sales = api.receive(mail("Quote please", to="sales@acme.test"), rcpt="sales@acme.test")
    message = _message_ids(api, "bob", sales, "in")[0]
    body = {"body": "mine now", "to": "x@example.com"}
    for method, path, payload in (
        ("POST", f"/tickets/{sales}/reply", body),
        ("GET", f"/tickets/{sales}/draft", None),
        ("PUT", f"/tickets/{sales}/draft", body),
        ("DELETE", f"/tickets/{sales}/draft", None),
        ("POST", f"/tickets/{sales}/messages/{message}/forward", {"to": "x@example.com"}),
        ("POST", f"/tickets/{sales}/messages/{message}/resend", {}),
    ):
        refused = api.call("alice", method, path, json=payload)
        assert refused.status_code == 404, (method, path)
        assert "that you can see" in refused.json()["error"]["message"]
    assert _queued(api) == []
    assert api.get("bob", f"/tickets/{sales}/draft").status_code == 404  # none was saved


HEADER_INJECTION = [
    ({"subject": "hi\r\nBcc: victim@evil.example"}, "subject"),
    ({"to": "Eve\r\nBcc: victim@evil.example <eve@x.example>"}, "to"),
    ({"cc": "carol@example.com\nBcc: victim@evil.example"}, "cc"),
    ({"bcc": "carol@example.com\rX: y"}, "bcc"),
    ({"to": "eve@x.example>, Bcc: victim@evil.example"}, "to"),
    ({"cc": "carol@example.com\x00"}, "cc"),
    (
        {"attachments": [{"filename": "a.txt\r\nBcc: victim@evil.example", "data": "eA=="}]},
        "attachments.0.filename",
    ),
    (
        {
            "attachments": [
                {"filename": "a.txt", "content_type": "text/plain\r\nBcc: v@e.example", "data": ""}
            ]
        },
        "attachments.0.content_type",
    ),
]


@pytest.mark.parametrize(("change", "field"), HEADER_INJECTION)
def test_header_injection_is_refused_naming_the_field_and_nothing_is_queued(
    api: Api, change: dict[str, Any], field: str
) -> None:
    number = _taken(api)
    message = _message_ids(api, "alice", number, "in")[0]
    new = {"group": "Tier 1", "customer": "dave@example.com", "subject": "s", "body": "b"}
    # Each endpoint that takes the field; a new ticket's To is its `customer`.
    attempts = [(f"/tickets/{number}/reply", {"body": "x", "status": "closed", **change})]
    if "subject" not in change:
        forward = {"to": "dave@example.com", **change}
        attempts.append((f"/tickets/{number}/messages/{message}/forward", forward))
    if "to" in change:
        attempts.append(("/tickets", {**new, "customer": change["to"]}))
        attempts.append((f"/tickets/{number}/messages/{message}/resend", change))
    else:
        attempts.append(("/tickets", {**new, **change}))
    for path, payload in attempts:
        refused = api.post("alice", path, json=payload)
        assert refused.status_code == 422, (path, refused.text)
        expected = "customer" if path == "/tickets" and field == "to" else field
        assert refused.json()["error"]["field"] == expected, path
    assert _queued(api) == []
    detail = api.ok("alice", "GET", f"/tickets/{number}")
    assert detail["status"] == "active" and len(detail["messages"]) == 1


def test_empty_reply_unknown_canned_and_bad_attachments_name_their_field(api: Api) -> None:
    number = _taken(api)

    def field_of(payload: dict[str, Any]) -> str:
        refused = api.post("alice", f"/tickets/{number}/reply", json=payload)
        assert refused.status_code == 422, refused.text
        return str(refused.json()["error"]["field"])

    assert field_of({"body": "  "}) == "body"
    assert field_of({"body": "x", "canned": "Nope"}) == "canned"
    assert field_of({"body": "x", "attachments": [{"filename": "a", "data": "!!"}]}) == (
        "attachments.0.data"
    )
    big = _b64(b"x" * (api.settings.outbound.max_attachment_bytes + 1))
    assert field_of({"body": "x", "attachments": [{"filename": "a", "data": big}]}) == (
        "attachments.0.data"
    )
    assert field_of(
        {"body": "x", "follow_up": {"at": "2099-01-01T00:00Z"}, "status": "closed"}
    ) == ("status")
    assert (
        api.post(
            "alice", f"/tickets/{number}/reply", json={"body": "x", "message": 999999}
        ).status_code
        == 404
    )
    assert _queued(api) == []


def test_one_draft_per_ticket_replaced_by_saving_and_cleared_by_sending(api: Api) -> None:
    number = _taken(api)
    path = f"/tickets/{number}/draft"
    assert api.get("alice", path).status_code == 404
    first = {"body": "Dear Carol", "to": "carol@example.com; half typed", "subject": "Printer"}
    assert api.ok("alice", "PUT", path, json=first)["to"] == "carol@example.com; half typed"
    api.ok("alice", "PUT", path, json={"body": "Dear Carol, again"})
    draft = api.ok("alice", "GET", path)
    assert draft == {"body": "Dear Carol, again", "to": "", "cc": "", "bcc": "", "subject": ""}
    history = api.ok("alice", "GET", f"/tickets/{number}")["history"]
    assert [h["action"] for h in history].count("draft_saved") == 2
    api.ok("alice", "POST", f"/tickets/{number}/reply", json={"body": draft["body"]})
    assert api.get("alice", path).status_code == 404
    api.ok("alice", "PUT", path, json={"body": "next"})
    assert api.call("alice", "DELETE", path).status_code == 204
    assert api.get("alice", path).status_code == 404
    injected = api.call("alice", "PUT", path, json={"body": "x", "subject": "a\r\nb"})
    assert injected.status_code == 422 and injected.json()["error"]["field"] == "subject"


def test_forward_sends_the_message_with_its_attachments(api: Api) -> None:
    number = _taken(api, attachment=("photo.png", "image/png", b"\x89PNG"))
    message = _message_ids(api, "alice", number, "in")[0]
    sent = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/messages/{message}/forward",
        json={
            "to": "vendor@example.net",
            "cc": "erin@example.com",
            "note": "See the photo",
            "attachments": [{"filename": "log.txt", "content_type": "text/plain", "data": "bG9n"}],
        },
    )
    assert sent["ticket"]["status"] == "active"  # forwarding does not mark the ticket
    (row,) = _queued(api)
    out = _parsed(row)
    assert out["To"] == "vendor@example.net" and out["Cc"] == "erin@example.com"
    assert out["Subject"] == f"[#{number}] Fwd: Printer on fire"
    names = [(a.get_filename(), a.get_payload(decode=True)) for a in out.iter_attachments()]
    assert names == [("photo.png", b"\x89PNG"), ("log.txt", b"log")]
    assert "See the photo" in out.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    other = _taken(api, "Another")
    foreign = _message_ids(api, "alice", other, "in")[0]
    wrong = api.post(
        "alice", f"/tickets/{number}/messages/{foreign}/forward", json={"to": "v@example.net"}
    )
    assert wrong.status_code == 404 and "no message" in wrong.json()["error"]["message"]
    missing = api.post("alice", f"/tickets/{number}/messages/{message}/forward", json={})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "to"


def test_resend_sends_an_outgoing_message_again(api: Api) -> None:
    number = _taken(api)
    sent = api.ok("alice", "POST", f"/tickets/{number}/reply", json={"body": "Try this"})
    outgoing = _message_ids(api, "alice", number, "out")[0]
    again = api.ok("alice", "POST", f"/tickets/{number}/messages/{outgoing}/resend")
    assert again["message_id"] == sent["message_id"]
    elsewhere = api.ok(
        "alice",
        "POST",
        f"/tickets/{number}/messages/{outgoing}/resend",
        json={"to": "carol.home@example.org"},
    )
    first, plain, redirected = _queued(api)
    assert plain.recipients == first.recipients == ["carol@example.com"]
    assert redirected.recipients == ["carol.home@example.org"]
    assert _parsed(redirected)["Resent-To"] == "carol.home@example.org"
    assert _parsed(redirected)["Message-ID"] == sent["message_id"] == elsewhere["message_id"]
    incoming = _message_ids(api, "alice", number, "in")[0]
    refused = api.post("alice", f"/tickets/{number}/messages/{incoming}/resend", json={})
    assert refused.status_code == 409 and "outgoing" in refused.json()["error"]["message"]
    assert len(_queued(api)) == 3


def test_new_outgoing_ticket_mails_the_customer_and_applies_the_mark(api: Api) -> None:
    created = api.call(
        "alice",
        "POST",
        "/tickets",
        json={
            "group": "Tier 1",
            "customer": "dave@example.com",
            "subject": "Your quote",
            "body": "Here it is.",
            "cc": "erin@example.com",
            "agent": "alice",
            "priority": "high",
            "attachments": [{"filename": "quote.pdf", "data": "JVBERg=="}],
            "status": "closed",
        },
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert (ticket["status"], ticket["agent"], ticket["priority"]) == ("closed", "alice", "high")
    assert ticket["requester"] == "dave@example.com"
    (row,) = _queued(api)
    out = _parsed(row)
    assert out["To"] == "dave@example.com" and out["Cc"] == "erin@example.com"
    assert out["Subject"] == f"[#{ticket['number']}] Your quote"
    assert [a.get_filename() for a in out.iter_attachments()] == ["quote.pdf"]


def test_new_incoming_ticket_is_written_as_the_customer_and_autoresponded(api: Api) -> None:
    api.ok("root", "PATCH", "/departments/Support", json={"autoresponder_body": "Got it"})
    created = api.ok(
        "mia",
        "POST",
        "/tickets",
        json={
            "group": "Tier 1",
            "customer": "Gina <gina@example.com>",
            "subject": "Called about invoices",
            "body": "She cannot find March.",
            "incoming": True,
        },
    )
    assert created["status"] == "active" and created["agent"] is None  # nobody logged in: queue
    detail = api.ok("mia", "GET", f"/tickets/{created['number']}")
    asked, answered = detail["messages"]
    assert asked["direction"] == "in" and asked["from"] == "gina@example.com"
    assert asked["text"] == "She cannot find March." and answered["direction"] == "out"
    (row,) = _queued(api)
    assert row.purpose == "autoresponse" and row.recipients == ["gina@example.com"]


def test_new_ticket_refusals_name_their_field(api: Api) -> None:
    base = {"group": "Tier 1", "customer": "dave@example.com", "subject": "s", "body": "b"}

    def field_of(change: dict[str, Any]) -> str:
        refused = api.post("alice", "/tickets", json={**base, **change})
        assert refused.status_code == 422, refused.text
        return str(refused.json()["error"]["field"])

    assert field_of({"customer": "dave@example.com; erin@example.com"}) == "customer"
    assert field_of({"customer": "not an address"}) == "customer"
    assert field_of({"group": "Nowhere"}) == "group"
    assert field_of({"agent": "nobody"}) == "agent"
    assert field_of({"subject": "  "}) == "subject"
    assert field_of({"incoming": True, "status": "closed"}) == "incoming"
    assert api.call(None, "POST", "/tickets", json=base).status_code == 401
    assert _queued(api) == []
