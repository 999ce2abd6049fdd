"""addresses compared in one normal form: IDN domains stored in U-labels

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:40:00

Issue 13: maild now stores and compares every address in `maild.addresses.normal_form`, where
`xn--bcher-kva.example` is `bücher.example`. The addresses that are compared (participants,
requesters, department addresses, agents' addresses, the autoresponse log) were stored with
A-labels when a mail spelled them so; they are rewritten, so a customer who wrote in punycode
before is still a participant when the next mail arrives in UTF-8. Messages keep their addresses
as they were read (a record of the mail). No schema change; downgrade leaves the rows as they are.
"""

from alembic import op
import sqlalchemy as sa

# The definition of the form itself: a copy here could drift from what maild compares with.
from maild.addresses import normal_form


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# (table, column, the columns that must stay unique together with it)
_COLUMNS = (
    ("participant", "address", ("ticket_id", "role")),
    ("department_address", "address", ()),
    ("ticket", "requester", None),
    ("agent", "email", None),
    ("autoresponse_log", "sender", None),
)


def upgrade() -> None:
    connection = op.get_bind()
    for table, column, unique_with in _COLUMNS:
        _rewrite(connection, table, column, unique_with)


def _rewrite(
    connection: sa.Connection, table: str, column: str, unique_with: tuple[str, ...] | None
) -> None:
    keys = unique_with or ()
    rows = connection.execute(
        sa.text(f"SELECT id, {', '.join((column, *keys))} FROM {table} WHERE {column} LIKE :a"),
        {"a": "%xn--%"},
    )
    for row in list(rows):
        new = normal_form(row[1])
        if new == row[1]:
            continue
        if unique_with is not None and _taken(connection, table, column, keys, row, new):
            connection.execute(sa.text(f"DELETE FROM {table} WHERE id = :i"), {"i": row[0]})
            continue
        connection.execute(
            sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :i"), {"v": new, "i": row[0]}
        )


def _taken(
    connection: sa.Connection,
    table: str,
    column: str,
    keys: tuple[str, ...],
    row: sa.Row,
    new: str,
) -> bool:
    """True when the new spelling is already there: the old row is then a duplicate."""
    same = " AND ".join(f"{key} = :k{index}" for index, key in enumerate(keys))
    where = f"{column} = :v" + (f" AND {same}" if same else "")
    values = {"v": new, **{f"k{index}": row[2 + index] for index in range(len(keys))}}
    found = connection.execute(sa.text(f"SELECT 1 FROM {table} WHERE {where}"), values)
    return found.first() is not None


def downgrade() -> None:
    pass
