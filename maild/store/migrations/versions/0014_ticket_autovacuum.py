"""PostgreSQL keeps the ticket table's statistics and visibility map current (issue 11)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:00:00

PostgreSQL analyses a table after 10% of its rows changed and vacuums it after 20%: on a desk
of a million tickets, 100,000 changes. Views read the queue and the statuses through
index-only scans, planned from those statistics. After the scheduler's first runs on such a
desk (about 44,000 rows changed: auto-close, the queue handed out) the planner still counted
1,844 queued tickets where there were 20,014 and sorted them all for a page of 100, and each
index entry sent it to the table, the pages being no longer marked all-visible (`view=queue`
for an admin, page and count: 13.8 and 5.4 ms in the database; 4.7 and 1.6 ms once analysed
and vacuumed). Tickets change all day, so the ticket table is analysed after 1% of its rows
changed and vacuumed after 2% (of rows inserted too, which marks new pages all-visible).
Nothing changes on SQLite, which has no autovacuum.
"""

from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SETTINGS = {
    "autovacuum_analyze_scale_factor": "0.01",
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.02",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    settings = ", ".join(f"{name} = {value}" for name, value in _SETTINGS.items())
    op.execute(f"ALTER TABLE ticket SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE ticket RESET ({', '.join(_SETTINGS)})")
