"""HTTP front door throttle buckets: rate_limits (central/frontdoor/ratelimit.py)

Revision ID: rate_limits_0001
Revises: person_photos_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rate_limits_0001"
down_revision = "person_photos_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("tat_ms", sa.BigInteger(), nullable=False),
        sa.Column("interval_ms", sa.BigInteger(), nullable=False),
        sa.Column("tolerance_ms", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limits_tat_ms"), ["tat_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limits_tat_ms"))
    op.drop_table("rate_limits")
