"""the group queue index in idle order, with deleted_at (issue 11: an agent's `all` view)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:45:00

An agent's view is the union of their visible sets (tickets/access.py, `visible_union`), each
giving id and idle time from its own index; the part for their groups' queues read the table
for each queued ticket to learn `last_action_at` and `deleted_at`. With both in the index (and
`id` included on PostgreSQL) that part reads no ticket row. Lookups by group, status and agent
(routing, queue counts) use the index's first columns as before.
"""

from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_group_status_agent")
        batch_op.create_index(
            "ix_ticket_group_status_agent",
            ["group_id", "status", "agent_id", "last_action_at", "deleted_at"],
            unique=False,
            postgresql_include=["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_group_status_agent")
        batch_op.create_index(
            "ix_ticket_group_status_agent", ["group_id", "status", "agent_id"], unique=False
        )
