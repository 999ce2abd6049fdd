"""outbox recipients as a JSON list

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:00:00

A quoted local part may hold a comma (`"a,b"@example.com`), so a comma-joined string split
one recipient into two. Rows written before this revision are converted by splitting at commas,
which is what the old code did when it read them.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column) holding recipients
_COLUMNS = (("outbox", "recipients"),)


def _to_list(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column(f"{column}_list", sa.JSON(), nullable=True))
    rows = sa.table(
        table, sa.column("id", sa.Integer()), sa.column(column, sa.Text()),
        sa.column(f"{column}_list", sa.JSON()),
    )
    connection = op.get_bind()
    for row_id, joined in connection.execute(sa.select(rows.c.id, rows.c[column])):
        listed = [address for address in (joined or "").split(",") if address]
        connection.execute(
            rows.update().where(rows.c.id == row_id).values({f"{column}_list": listed})
        )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_column(column)
        batch_op.alter_column(
            f"{column}_list", new_column_name=column, existing_type=sa.JSON(), nullable=False
        )


def _to_text(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column(f"{column}_text", sa.Text(), nullable=True))
    rows = sa.table(
        table, sa.column("id", sa.Integer()), sa.column(column, sa.JSON()),
        sa.column(f"{column}_text", sa.Text()),
    )
    connection = op.get_bind()
    for row_id, listed in connection.execute(sa.select(rows.c.id, rows.c[column])):
        if isinstance(listed, str):  # SQLite may hand back the JSON text
            listed = json.loads(listed)
        joined = ",".join(listed or [])
        connection.execute(
            rows.update().where(rows.c.id == row_id).values({f"{column}_text": joined})
        )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_column(column)
        batch_op.alter_column(
            f"{column}_text", new_column_name=column, existing_type=sa.Text(), nullable=False
        )


def upgrade() -> None:
    for table, column in _COLUMNS:
        _to_list(table, column)


def downgrade() -> None:
    for table, column in _COLUMNS:
        _to_text(table, column)
