"""sender authentication verdicts and the per-domain autoresponse limit

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:40:00

Issue 12 item 6: the SPF/DKIM/DMARC verdict is taken at SMTP receive time and kept with the
spool row (`inbound.sender_auth`), then with the message it became (`message.sender_auth`) for
history and export. The autoresponse log gets the sender's domain, limited on its own.
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_auth", sa.JSON(), nullable=True))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_auth", sa.JSON(), nullable=True))
    with op.batch_alter_table("autoresponse_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("domain", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.create_index("ix_autoresponse_log_domain_at", ["domain", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("autoresponse_log", schema=None) as batch_op:
        batch_op.drop_index("ix_autoresponse_log_domain_at")
        batch_op.drop_column("domain")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("sender_auth")
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_column("sender_auth")
