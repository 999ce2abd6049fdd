"""the first processed copy of each mail, so a copy delivered to a second department is one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:40:00

Issue 13 item 5: a mail To support@ and Cc sales@ reaches both mailboxes; the copies have the
same Message-ID and sender but different bytes (Delivered-To), so the spool's unique
(Message-ID, sha256) does not catch them. `first_copy.mail_key` is unique: of two processes
handed the two copies at once, one inserts it and the other waits for that commit.
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "first_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_key", sa.String(length=64), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound.id"],
            name=op.f("fk_first_copy_inbound_id_inbound"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_first_copy")),
        sa.UniqueConstraint("mail_key", name=op.f("uq_first_copy_mail_key")),
    )
    with op.batch_alter_table("first_copy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_first_copy_inbound_id"), ["inbound_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("first_copy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_first_copy_inbound_id"))
    op.drop_table("first_copy")
