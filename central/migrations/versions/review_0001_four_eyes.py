"""Four-eyes review and the undo window: one row per operator confirmation

Revision ID: review_0001
Revises: person_photos_0002

Events get two more statuses (``second_review``, ``confirming``; the column is a plain
string, nothing to alter). A confirmation's sanction is issued by ``central serve`` once
its ``effective_at`` has passed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "review_0001"
down_revision = "person_photos_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("effective_at", sa.DateTime(), nullable=True),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_pk"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_confirmations_event_pk"), ["event_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_confirmations_effective_at"), ["effective_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("review_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_confirmations_effective_at"))
        batch_op.drop_index(batch_op.f("ix_review_confirmations_event_pk"))
    op.drop_table("review_confirmations")
