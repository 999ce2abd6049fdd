"""spool recipients as a list

The spool kept RCPT TO as one comma-joined string, so a quoted local part holding a comma
(`"doe, john"@example.com`) came back as two recipients. `inbound.rcpt_to` is a JSON list;
rows spooled before are split on commas as they were read before.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_inbound = sa.table(
    "inbound",
    sa.column("id", sa.Integer()),
    sa.column("envelope_to", sa.Text()),
    sa.column("rcpt_to", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rcpt_to", sa.JSON(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_inbound.c.id, _inbound.c.envelope_to)).all()
    for row_id, joined in rows:
        recipients = [address for address in (joined or "").split(",") if address]
        update = _inbound.update().where(_inbound.c.id == row_id)
        connection.execute(update.values(rcpt_to=recipients))
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.alter_column("rcpt_to", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("envelope_to")


def downgrade() -> None:
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("envelope_to", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_inbound.c.id, _inbound.c.rcpt_to)).all()
    for row_id, recipients in rows:
        update = _inbound.update().where(_inbound.c.id == row_id)
        connection.execute(update.values(envelope_to=",".join(recipients or [])))
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.alter_column("envelope_to", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("rcpt_to")
