"""The spool keeps the envelope as it came: every recipient whole, whatever its characters."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from maild.ingest.pipeline import Pipeline
from maild.ingest.spool import Arrival, Envelope, message_key
from maild.store.db import Store, alembic_config, upgrade_schema
from maild.store.models import Inbound, Raw
from maild.values import Outcome
from tests.ingest.test_pipeline import _request, pipeline  # noqa: F401 - fixture

QUOTED = '"doe, john"@customer.example'


def test_a_quoted_recipient_with_a_comma_stays_one_recipient(pipeline: Pipeline) -> None:  # noqa: F811
    envelope = Envelope("carol@customer.example", (QUOTED, "support@example.com"))
    spooled = pipeline.receive(_request(1), "smtp", envelope)
    with pipeline.store.transaction() as session:
        row = session.get(Inbound, spooled.inbound_id)
        assert row is not None
        assert row.rcpt_to == [QUOTED, "support@example.com"]
    (result,) = pipeline.process([spooled.inbound_id])
    assert result.outcome is Outcome.NEW_TICKET


def test_rows_spooled_before_the_list_are_split_as_they_were_read(
    store: Store, now: datetime
) -> None:
    config = alembic_config(store.engine)
    command.downgrade(config, "0002")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO raw (id, sha256, size, data, compressed) "
                "VALUES (1, 'x', 1, :data, :no)"
            ),
            {"data": b"x", "no": False},
        )
        conn.execute(
            sa.text(
                "INSERT INTO inbound (source, envelope_from, envelope_to, message_key, sha256,"
                " raw_id, state, attempts, last_error, outcome, received_at) VALUES ('smtp',"
                " '', 'a@example.com,b@example.com', '', 'x', 1, 'received', 0, '', '', :at)"
            ),
            {"at": now.replace(tzinfo=None)},
        )
    upgrade_schema(store)
    with store.sessions() as session:
        assert session.scalars(sa.select(Inbound.rcpt_to)).one() == [
            "a@example.com",
            "b@example.com",
        ]


def test_the_message_key_is_the_first_message_id_field_whole() -> None:
    folded = b"Subject: hi\r\nMessage-ID:\r\n <a@b.example>\r\nmessage-id: <b@b.example>\r\n\r\n"
    assert message_key(folded) == "<a@b.example>"
    bare_cr = b"From: x@y.example\rMessage-Id: <mac@b.example>\r\rbody\r"
    assert message_key(bare_cr) == "<mac@b.example>"
    assert message_key(b"Subject: hi\r\n\r\nMessage-ID: <in-body@b.example>\r\n") == ""
    assert message_key(b"X-Message-ID: <no@b.example>\r\n\r\n") == ""
    odd = b"Message-ID: <\x00caf\xc3\xa9@b.example>\r\n\r\n"
    assert message_key(odd) == "<caf\ufffd\ufffd@b.example>"


def test_a_huge_message_id_line_is_read_only_as_far_as_the_key_goes() -> None:
    raw = b"Message-ID: <" + b"a" * 500_000 + b"@b.example>\r\nSubject: hi\r\n\r\nbody\r\n"
    assert message_key(raw) == "<" + "a" * 997


def test_a_group_spools_each_mail_once_and_names_every_earlier_copy(
    pipeline: Pipeline,  # noqa: F811
) -> None:
    envelope = Envelope("carol@customer.example", ("support@example.com",))
    earlier = pipeline.receive(_request(1), "smtp", envelope)
    other_message_id = _request(2).replace(b"<req-2-x@", b"<req-2-y@")
    group = [_request(2), _request(1), _request(2), _request(3), other_message_id]
    spooled = pipeline.receive_many([Arrival(raw, "smtp", envelope) for raw in group])
    new_2, again_1, again_2, new_3, other_id = spooled
    assert [s.duplicate for s in spooled] == [False, True, True, False, False]
    assert again_1.inbound_id == earlier.inbound_id and again_2.inbound_id == new_2.inbound_id
    assert len({new_2.inbound_id, new_3.inbound_id, other_id.inbound_id, earlier.inbound_id}) == 4
    with pipeline.store.sessions() as session:
        rows = {row.id: row for row in session.scalars(sa.select(Inbound))}
        assert len(rows) == 4
        for entry, raw in zip(spooled, group, strict=True):
            assert session.get(Raw, rows[entry.inbound_id].raw_id).data == raw  # type: ignore[union-attr]
            assert rows[entry.inbound_id].message_key == message_key(raw)
        assert session.scalar(sa.select(sa.func.count()).select_from(Raw)) == 4
