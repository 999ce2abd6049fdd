"""indexes for the ticket views of the API on a million tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:10:00

bench/api.py found every view reading most of the ticket table through `ix_ticket_deleted_at`
(SQLite takes `deleted_at IS NULL` for a selective equality, while nearly every ticket is
live), and the agents' visibility test (`access.visible`) unable to use an index for the
follow-up agent. The deleted index becomes partial (deleted tickets only); the views get the
indexes they read in idle order.
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_deleted_at")
        batch_op.create_index(
            "ix_ticket_deleted",
            ["deleted_at"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_ticket_live_idle",
            ["last_action_at", "deleted_at"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_ticket_status_agent_idle", ["status", "agent_id", "last_action_at"], unique=False
        )
        batch_op.create_index(
            "ix_ticket_followup_agent_id", ["followup_agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_followup_agent_id")
        batch_op.drop_index("ix_ticket_status_agent_idle")
        batch_op.drop_index("ix_ticket_live_idle")
        batch_op.drop_index("ix_ticket_deleted")
        batch_op.create_index("ix_ticket_deleted_at", ["deleted_at"], unique=False)
