"""department setting: a Reply-To naming one mailbox is a new ticket's requester

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:40:00

Web forms send From their own address with the customer in Reply-To (issue 13). On by
default, existing departments included; a department whose mail carries other Reply-Tos
turns it off.
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reply_to_is_requester", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_column("reply_to_is_requester")
