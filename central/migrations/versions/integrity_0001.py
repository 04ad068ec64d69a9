"""Integrity at rest: the signed message kept verbatim, the "evidence altered" flag, scrubs

Revision ID: integrity_0001
Revises: notices_0002

Events stored before this revision have no ``message_sha256``: ``jaywatch central
evidence verify`` rebuilds their signed message from the payload and the image blobs,
checks it against the device key and, when it verifies, stores it (a backfill that
needs the evidence store, so it is not done here).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "integrity_0001"
down_revision = "notices_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("evidence_altered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("evidence_problems", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_events_message_sha256"), ["message_sha256"], unique=False
        )
    op.create_table(
        "evidence_scrubs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("events_checked", sa.Integer(), nullable=False),
        sa.Column("events_failed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("evidence_scrubs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_message_sha256"))
        batch_op.drop_column("evidence_problems")
        batch_op.drop_column("evidence_altered_at")
        batch_op.drop_column("message_sha256")
