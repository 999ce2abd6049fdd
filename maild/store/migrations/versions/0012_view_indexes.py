"""indexes for the ticket views, second round (issue 11: p95 under 50 ms at 1,000,000 tickets)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:10:00

bench/api.py, with EXPLAIN QUERY PLAN / EXPLAIN ANALYZE of each view: the status-and-agent
index read the table for every entry only to test `deleted_at IS NULL` (the queue's count read
20,000 rows); the deleted view sorted every deleted ticket by idle time; an agent's follow-ups
were found by reading every pending follow-up. The status index and the agent index (which
SQLite chose for `mine_closed` at 1,000,000, then reading the table per entry) get
`deleted_at`, the agent index idle order as well; the deleted index becomes idle-ordered, and
the holders of follow-ups get an index of their own. On
PostgreSQL the agent and status indexes include `id` (SQLite's hold the rowid anyway), so an
agent's visibility set (access.py) and the queue are read without visiting the table.
"""

from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_status_agent_idle")
        batch_op.create_index(
            "ix_ticket_status_agent_idle",
            ["status", "agent_id", "last_action_at", "deleted_at"],
            unique=False,
            postgresql_include=["id"],
        )
        batch_op.drop_index("ix_ticket_agent_status")
        batch_op.create_index(
            "ix_ticket_agent_status",
            ["agent_id", "status", "last_action_at", "deleted_at"],
            unique=False,
            postgresql_include=["id"],
        )
        batch_op.drop_index("ix_ticket_deleted")
        batch_op.create_index(
            "ix_ticket_deleted_idle",
            ["last_action_at", "deleted_at"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_ticket_followup_holder",
            ["agent_id", "followup_agent_id"],
            unique=False,
            sqlite_where=sa.text("followup_at IS NOT NULL"),
            postgresql_where=sa.text("followup_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_agent_status")
        batch_op.create_index("ix_ticket_agent_status", ["agent_id", "status"], unique=False)
        batch_op.drop_index("ix_ticket_followup_holder")
        batch_op.drop_index("ix_ticket_deleted_idle")
        batch_op.create_index(
            "ix_ticket_deleted",
            ["deleted_at"],
            unique=False,
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_ticket_status_agent_idle")
        batch_op.create_index(
            "ix_ticket_status_agent_idle", ["status", "agent_id", "last_action_at"], unique=False
        )
