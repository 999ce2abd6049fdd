"""outbox recipients as a JSON list

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:00:00

A quoted local part may hold a comma (`"a,b"@example.com`), so the comma-joined string split
one recipient into two. Rows queued before this revision are converted by splitting at commas,
which is what the old code did when it read them.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer()),
    sa.column("recipients", sa.Text()),
    sa.column("recipient_list", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_list", sa.JSON(), nullable=True))
    connection = op.get_bind()
    for row_id, joined in connection.execute(sa.select(_outbox.c.id, _outbox.c.recipients)):
        listed = [address for address in (joined or "").split(",") if address]
        connection.execute(
            _outbox.update().where(_outbox.c.id == row_id).values(recipient_list=listed)
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("recipients")
        batch_op.alter_column(
            "recipient_list", new_column_name="recipients", existing_type=sa.JSON(), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_text", sa.Text(), nullable=True))
    connection = op.get_bind()
    table = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("recipients", sa.JSON()),
        sa.column("recipient_text", sa.Text()),
    )
    for row_id, listed in connection.execute(sa.select(table.c.id, table.c.recipients)):
        connection.execute(
            table.update().where(table.c.id == row_id).values(recipient_text=",".join(listed or []))
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("recipients")
        batch_op.alter_column(
            "recipient_text", new_column_name="recipients", existing_type=sa.Text(), nullable=False
        )
