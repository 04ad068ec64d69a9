"""Review queue at a city's scale: case claims, and indexes for the queue's keyset pages

Revision ID: queue_0001
Revises: integrity_0001

Every queue page is ``WHERE status = ? [AND ...] ORDER BY <sort column>, id LIMIT n`` with
a keyset condition on (sort column, id): a composite index per sort order lets the
database walk straight to the page instead of sorting every waiting event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "queue_0001"
down_revision = "integrity_0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_events_status_occurred_id": ["status", "occurred", "id"],
    "ix_events_status_received_id": ["status", "received", "id"],
    "ix_events_status_score_id": ["status", "match_score", "id"],
    "ix_events_status_decided_id": ["status", "decided_at", "id"],
    "ix_events_camera_occurred": ["device_id", "camera_id", "occurred"],
}


def upgrade() -> None:
    op.create_table(
        "case_claims",
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("holder_name", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_pk"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_pk"),
    )
    with op.batch_alter_table("case_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_claims_expires"), ["expires"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        for name, cols in INDEXES.items():
            batch_op.create_index(name, cols, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
    with op.batch_alter_table("case_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_claims_expires"))
    op.drop_table("case_claims")
