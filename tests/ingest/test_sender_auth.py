"""Who really wrote it (issue 12 item 6): SPF, DKIM and DMARC checked against a real DNS server
on loopback, the verdict kept and shown, and acted on: an agent's forged mail does not append,
and a DMARC-failing new ticket gets no autoresponse."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
import sqlalchemy as sa

from maild.cli import main
from maild.export import ticket_detail
from maild.ingest.authdns import SenderCheck
from maild.ingest.authn import AuthResult, Method, Peer, SenderAuth
from maild.ingest.inspect import inspect_message
from maild.settings import AuthSettings, Settings
from maild.store.db import Store
from maild.store.models import History, Inbound, Message, Outbox, Ticket
from maild.values import Direction, Outcome
from tests.dnsserver import DkimKey, Dns, dkim_key, dns_server, txt
from tests.ingest.mailserver import MailServer, running, server_settings
from tests.outbound.conftest import NEW_REQUEST, Desk, make_desk
from tests.support import write_config

SUPPORT = "support@example.com"
AGENT = "alice@staff.example"  # an agent of group Tier 1, whose tickets SUP-… are


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    return dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture
def dns(key: DkimKey) -> Iterator[Dns]:
    records = {
        # pass: the customer's MTA is 127.0.0.1, and the domain says p=none
        "customer.example": [txt("v=spf1 ip4:127.0.0.1 -all")],
        "_dmarc.customer.example": [txt("v=DMARC1; p=none")],
        # the staff's mail leaves from 192.0.2.10 and is DKIM-signed; anything else is forged
        "staff.example": [txt("v=spf1 ip4:192.0.2.10 -all")],
        "sel._domainkey.staff.example": [txt(key.record)],
        "_dmarc.staff.example": [txt("v=DMARC1; p=reject")],
        # fail: a domain whose mail never comes from here
        "bank.example": [txt("v=spf1 ip4:198.51.100.7 -all")],
        "_dmarc.bank.example": [txt("v=DMARC1; p=quarantine; adkim=s")],
        # SPF that needs more than RFC 7208's 10 lookups
        **{
            f"l{n}.loop.example": [txt(f"v=spf1 include:l{n + 1}.loop.example -all")]
            for n in range(15)
        },  # fmt: skip
        # none: nobody.example publishes nothing
    }
    with dns_server(records) as server:
        yield server


def checker(dns: Dns, timeout: int = 2) -> SenderCheck:
    return SenderCheck(auth_settings(dns, timeout))


def auth_settings(dns: Dns, timeout: int = 2) -> AuthSettings:
    return AuthSettings(
        check_dns=True, nameserver=dns.nameserver, port=dns.port, timeout_seconds=timeout
    )


def mail(sender: str, subject: str = "Printer on fire", n: int = 1) -> bytes:
    return (
        f"From: Somebody <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <auth-{n}-{abs(hash(sender))}@client.example>\r\n"
        f"Date: Wed, 02 Dec 2026 09:00:00 +0000\r\n\r\nPlease help.\r\n"
    ).encode()


def signed(raw: bytes, key: DkimKey, domain: str = "staff.example") -> bytes:
    headers = [b"from", b"to", b"subject", b"message-id", b"date"]
    return dkim.sign(raw, b"sel", domain.encode(), key.private_pem, include_headers=headers) + raw


# --- the verdicts, over DNS -----------------------------------------------------------------


def test_spf_and_dmarc_pass_for_a_domain_sending_from_its_own_ip(dns: Dns) -> None:
    peer = Peer("127.0.0.1", "mx.customer.example", "carol@customer.example")
    auth = checker(dns).check(mail("carol@customer.example"), peer)
    assert (auth.spf, auth.dkim, auth.dmarc) == (AuthResult.PASS, AuthResult.NONE, AuthResult.PASS)
    assert auth.aligned and auth.vouches_for("carol@customer.example") and not auth.unverified
    assert auth.method is Method.SMTP and auth.policy == "none"


def test_a_valid_dkim_signature_passes_dmarc_though_spf_fails(dns: Dns, key: DkimKey) -> None:
    peer = Peer("127.0.0.1", "laptop.example", AGENT)
    auth = checker(dns).check(signed(mail(AGENT), key), peer)
    assert (auth.spf, auth.dkim, auth.dmarc) == (AuthResult.FAIL, AuthResult.PASS, AuthResult.PASS)
    assert auth.dkim_domains == ("staff.example",) and auth.vouches_for(AGENT)


def test_forged_from_fails_dmarc(dns: Dns, key: DkimKey) -> None:
    forged = signed(mail(AGENT), key).replace(b"Please help.", b"Please pay.")
    auth = checker(dns).check(forged, Peer("127.0.0.1", "evil.example", AGENT))
    assert (auth.spf, auth.dkim, auth.dmarc) == (AuthResult.FAIL, AuthResult.FAIL, AuthResult.FAIL)
    assert auth.unverified and not auth.vouches_for(AGENT) and auth.policy == "reject"


def test_a_domain_without_records_is_none_and_unproven(dns: Dns) -> None:
    auth = checker(dns).check(mail("x@nobody.example"), Peer("127.0.0.1", "h", "x@nobody.example"))
    assert (auth.spf, auth.dkim, auth.dmarc) == (AuthResult.NONE, AuthResult.NONE, AuthResult.NONE)
    assert not auth.aligned and not auth.unverified


def test_spf_stops_at_the_ten_lookup_limit(dns: Dns) -> None:
    peer = Peer("127.0.0.1", "h", "x@l0.loop.example")
    auth = checker(dns).check(mail("x@l0.loop.example"), peer)
    assert auth.spf is AuthResult.PERMERROR  # RFC 7208 §4.6.4
    assert sum("loop.example TXT" in q and "_dmarc" not in q for q in dns.zone.asked) <= 11


def test_a_dns_server_that_never_answers_gives_temperror_within_the_timeouts() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives queries, answers none
        settings = AuthSettings(nameserver="127.0.0.1", port=silent.getsockname()[1],
                                timeout_seconds=1)  # fmt: skip
        started = time.monotonic()
        auth = SenderCheck(settings).check(
            mail("carol@customer.example"), Peer("127.0.0.1", "h", "carol@customer.example")
        )
    assert time.monotonic() - started < 8  # SPF's 2 s budget, then DMARC's 1 s lookups
    assert auth.spf is AuthResult.TEMPERROR and auth.dmarc is AuthResult.TEMPERROR
    assert not auth.unverified


# --- acting on them: mail over SMTP to the listener and the pipeline worker ------------------


@pytest.fixture
def desk(store: Store, db_url: str, tmp_path: Path, dns: Dns) -> Iterator[MailServer]:
    settings = server_settings(db_url, tmp_path)
    agents = tuple(
        dataclasses.replace(a, email=AGENT) if a.name == "alice" else a for a in settings.agents
    )
    settings = dataclasses.replace(settings, agents=agents, auth=auth_settings(dns))
    with running(settings, store, worker=True) as server:
        yield server


def send(server: MailServer, raw: bytes, mail_from: str, helo: str = "client.example") -> Inbound:
    count = len(server.rows())
    with server.smtp() as client:
        client.ehlo(helo)
        assert client.sendmail(mail_from, [SUPPORT], raw) == {}
    return server.wait_processed(count + 1)[-1]


def _ticket(server: MailServer, number: str) -> tuple[Ticket, list[Message]]:
    with server.store.sessions() as session:
        ticket = session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()
        query = sa.select(Message).where(
            Message.ticket_id == ticket.id, Message.direction == Direction.IN
        )
        return ticket, list(session.scalars(query.order_by(Message.id)))


def _autoresponses(server: MailServer) -> list[Outbox]:
    with server.store.sessions() as session:
        return list(session.scalars(sa.select(Outbox).where(Outbox.purpose == "autoresponse")))


def _notes(server: MailServer, ticket: Ticket, action: str) -> list[str]:
    with server.store.sessions() as session:
        query = sa.select(History.detail).where(
            History.ticket_id == ticket.id, History.action == action
        )
        return list(session.scalars(query))


def test_the_verdict_is_kept_with_the_spool_row_the_message_history_and_export(
    desk: MailServer,
) -> None:
    row = send(desk, mail("carol@customer.example"), "carol@customer.example")
    assert row.outcome == Outcome.NEW_TICKET.value
    stored = SenderAuth.from_json(row.sender_auth)
    assert stored is not None and stored.dmarc is AuthResult.PASS and stored.aligned
    ticket, (message,) = _ticket(desk, "SUP-000001")
    assert message.sender_auth == row.sender_auth
    (note,) = _notes(desk, ticket, "sender_auth")
    assert note.startswith("verified: dmarc=pass") and "spf=pass" in note
    with desk.store.sessions() as session:
        detail = ticket_detail(session, session.get(Ticket, ticket.id), datetime.now(UTC))
    incoming = [m for m in detail["messages"] if m["direction"] == "in"]
    assert incoming[0]["sender_auth"]["dmarc"] == "pass"
    assert len(_autoresponses(desk)) == 1


def test_an_agents_forged_mail_does_not_append(desk: MailServer) -> None:
    send(desk, mail("carol@customer.example"), "carol@customer.example")
    # Agent addresses are public and numbers sequential: anyone can write this.
    forged = mail(AGENT, "Re: [#SUP-000001] Printer on fire", n=2)
    row = send(desk, forged, AGENT, helo="evil.example")
    assert row.outcome == Outcome.NEW_TICKET.value
    _, messages = _ticket(desk, "SUP-000001")
    assert len(messages) == 1  # nothing appended to Carol's ticket
    related, (message,) = _ticket(desk, "SUP-000002")
    assert SenderAuth.from_json(message.sender_auth).unverified  # type: ignore[union-attr]
    assert _notes(desk, related, "sender_auth")[0].startswith("unverified: dmarc=fail")
    assert len(_autoresponses(desk)) == 1  # Carol's; none to the forged agent address


def test_an_agents_dkim_signed_mail_appends(desk: MailServer, key: DkimKey) -> None:
    send(desk, mail("carol@customer.example"), "carol@customer.example")
    genuine = signed(mail(AGENT, "Re: [#SUP-000001] Printer on fire", n=3), key)
    row = send(desk, genuine, AGENT, helo="laptop.staff.example")
    assert row.outcome == Outcome.APPENDED.value
    _, messages = _ticket(desk, "SUP-000001")
    assert len(messages) == 2


def test_a_dmarc_failing_new_ticket_is_kept_unverified_without_an_autoresponse(
    desk: MailServer,
) -> None:
    row = send(desk, mail("ceo@bank.example", "Urgent wire transfer"), "ceo@bank.example")
    assert row.outcome == Outcome.NEW_TICKET.value  # still a ticket: nothing is dropped
    ticket, (message,) = _ticket(desk, "SUP-000001")
    assert SenderAuth.from_json(message.sender_auth).unverified  # type: ignore[union-attr]
    assert _autoresponses(desk) == []  # no backscatter to whoever was forged
    (why,) = _notes(desk, ticket, "autoresponse")
    assert "DMARC fails" in why


def test_a_customer_whose_domain_fails_dmarc_is_not_believed_as_a_participant(
    desk: MailServer,
) -> None:
    send(desk, mail("ceo@bank.example", "Invoice"), "ceo@bank.example")
    row = send(desk, mail("ceo@bank.example", "Re: [#SUP-000001] Invoice", n=4), "ceo@bank.example")
    assert row.outcome == Outcome.NEW_TICKET.value


def test_settings_without_checks_judge_smtp_mail_not_checked(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    settings = server_settings(db_url, tmp_path)
    assert settings.auth.check_dns is False  # the default: no resolver is asked
    with running(settings, store, worker=True) as server:
        row = send(server, mail("carol@customer.example"), "carol@customer.example")
    assert row.sender_auth is None and row.outcome == Outcome.NEW_TICKET.value


# --- mail that came another way: a trusted MTA's Authentication-Results ----------------------

STAFF = "alice@example.com"  # alice of the outbound tests' desk
TRUSTED = "mx.example.com"


def _file_desk(store: Store, db_url: str, trusted: str = TRUSTED) -> Desk:
    desk = make_desk(store, db_url, relay="")
    settings = dataclasses.replace(desk.settings, auth=AuthSettings(trusted_authserv_id=trusted))
    return Desk(store, settings)


def _agent_reply(results: str = "", extra: str = "") -> bytes:
    header = f"Authentication-Results: {results}\r\n" if results else ""
    return (
        f"{header}From: Alice <{STAFF}>\r\nTo: support@example.com\r\n"
        f"Subject: Re: [#SUP-000001] Printer on floor 3 is on fire\r\n{extra}"
        f"Message-ID: <reply-{abs(hash(results + extra))}@example.com>\r\n\r\nDone.\r\n"
    ).encode()


PASSED = f"{TRUSTED}; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com;"
PASSED += " dmarc=pass header.from=example.com"


def test_an_agents_mail_imported_without_a_verdict_does_not_append(
    store: Store, db_url: str
) -> None:
    desk = _file_desk(store, db_url)
    desk.ingest(NEW_REQUEST)
    result = desk.ingest(_agent_reply())
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000002")
    assert "agent's address" in result.reason


def test_an_agents_mail_vouched_for_by_the_trusted_mta_appends(store: Store, db_url: str) -> None:
    desk = _file_desk(store, db_url)
    desk.ingest(NEW_REQUEST)
    result = desk.ingest(_agent_reply(PASSED))
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_authentication_results_of_another_authserv_id_count_for_nothing(
    store: Store, db_url: str
) -> None:
    desk = _file_desk(store, db_url)
    desk.ingest(NEW_REQUEST)
    # The sender can write this field: RFC 8601 §5, only the trusted MTA's own fields count.
    result = desk.ingest(_agent_reply(PASSED.replace(TRUSTED, "mx.forger.example")))
    assert result.outcome is Outcome.NEW_TICKET


def test_an_agents_mail_carrying_the_tickets_token_appends_unauthenticated(
    store: Store, db_url: str
) -> None:
    desk = _file_desk(store, db_url)
    desk.ingest(NEW_REQUEST)
    with store.sessions() as session:
        ours = session.scalars(
            sa.select(Message.message_id).where(Message.direction == Direction.OUT)
        ).first()
    result = desk.ingest(_agent_reply(extra=f"In-Reply-To: {ours}\r\n"))
    assert (result.outcome, result.ticket) == (Outcome.APPENDED, "SUP-000001")


def test_a_dmarc_failure_reported_by_the_trusted_mta_gets_no_autoresponse(
    store: Store, db_url: str
) -> None:
    desk = _file_desk(store, db_url)
    failed = f"{TRUSTED}; spf=fail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example"
    raw = NEW_REQUEST.replace(b"carol@customer.example", b"ceo@bank.example")
    result = desk.ingest(f"Authentication-Results: {failed}\n".encode() + raw)
    assert (result.outcome, result.ticket) == (Outcome.NEW_TICKET, "SUP-000001")
    assert [row for row in desk.outbox() if row.purpose == "autoresponse"] == []


def test_inspect_shows_the_trusted_verdict() -> None:
    settings = Settings(auth=AuthSettings(trusted_authserv_id=TRUSTED))
    report = inspect_message(_agent_reply(PASSED), settings)
    auth = report["sender_auth"]
    assert (auth["method"], auth["dmarc"], auth["aligned"]) == ("authres", "pass", True)
    assert auth["summary"].startswith("verified: dmarc=pass header.from=example.com")
    untrusted = inspect_message(_agent_reply(PASSED), Settings())["sender_auth"]
    assert (untrusted["method"], untrusted["aligned"]) == ("none", False)


def test_maild_ingest_inspect_and_ticket_show_report_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'maild.db'}")
    config.write_text(config.read_text() + f'\n[auth]\ntrusted_authserv_id = "{TRUSTED}"\n')
    failed = f"{TRUSTED}; spf=fail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example"
    eml = tmp_path / "forged.eml"
    eml.write_bytes(
        f"Authentication-Results: {failed}\r\n".encode()
        + NEW_REQUEST.replace(b"carol@customer.example", b"ceo@bank.example")
    )
    base = ["--config", str(config)]
    assert main([*base, "init"]) == 0
    assert main([*base, "inspect", "--no-db", str(eml)]) == 0
    assert "sender: unverified: dmarc=fail header.from=bank.example" in capsys.readouterr().out
    assert main([*base, "ingest", "--quiet", str(eml)]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "new_ticket"
    assert main([*base, "ticket", "show", "SUP-000001"]) == 0
    shown = capsys.readouterr().out
    assert "sender_auth: unverified: dmarc=fail header.from=bank.example" in shown
    assert "DMARC fails" not in shown  # the autoresponse note's detail is not printed
    assert main([*base, "ticket", "show", "SUP-000001", "--json"]) == 0
    (message,) = json.loads(capsys.readouterr().out)["messages"]
    assert message["sender_auth"]["dmarc"] == "fail"
    assert message["sender_auth"]["authserv_id"] == TRUSTED
