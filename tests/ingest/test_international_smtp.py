"""The SMTP listener and international addresses (issue 13 item 1): a department address on an
IDN domain is one address whatever spelling the sending MTA uses in RCPT TO (A-labels or UTF-8
with SMTPUTF8), and an RFC 6531 mail from a UTF-8 local part is taken and stored in Unicode."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import Ticket
from tests.ingest.mailserver import MailServer, running, server_settings

MAIL = (
    "From: José Núñez <josé.núñez@correo.ejemplo.es>\r\nTo: support@bücher.example\r\n"
    "Subject: Pedido\r\nMessage-ID: <eai-1@correo.ejemplo.es>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nEl pedido no ha llegado.\r\n"
).encode()


@pytest.fixture
def server(store: Store, db_url: str, tmp_path: Path) -> Iterator[MailServer]:
    settings = server_settings(db_url, tmp_path)
    support = dataclasses.replace(settings.departments[0], addresses=("support@bücher.example",))
    settings = dataclasses.replace(settings, departments=(support,))
    with running(settings, store, worker=True) as server:
        yield server


def test_an_idn_department_address_is_accepted_in_either_spelling(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("mta.example")
        assert "smtputf8" in client.esmtp_features
        client.mail("josé.núñez@correo.ejemplo.es", ["SMTPUTF8"])
        assert client.rcpt("Support@XN--BCHER-KVA.example")[0] == 250
        assert client.rcpt("support@bücher.example")[0] == 250
        assert client.data(MAIL)[0] == 250


def test_an_rfc_6531_mail_opens_a_ticket_for_the_utf8_sender(
    server: MailServer, store: Store
) -> None:
    with server.smtp() as client:
        refused = client.sendmail(
            "josé.núñez@correo.ejemplo.es", ["support@xn--bcher-kva.example"], MAIL,
            mail_options=["SMTPUTF8"],
        )  # fmt: skip
    assert refused == {}
    server.wait_processed(1)
    with store.sessions() as session:
        (ticket,) = session.scalars(sa.select(Ticket))
        assert ticket.requester == "josé.núñez@correo.ejemplo.es"
