"""Appeal procedure: review, levels, paused due date, attachments (central/workflow/appeals.py)

Revision ID: appeals_0001
Revises: integrity_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "appeals_0001"
down_revision = "integrity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appeals", schema=None) as b:
        b.alter_column(
            "status", existing_type=sa.String(length=8), type_=sa.String(length=16),
            existing_nullable=False,
        )  # fmt: skip
        b.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("reviewer_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("review_started_at", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("due_before", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("new_due", sa.DateTime(), nullable=True))
        b.create_foreign_key("fk_appeals_parent_id", "appeals", ["parent_id"], ["id"])
        b.create_foreign_key("fk_appeals_reviewer_id", "users", ["reviewer_id"], ["id"])
        b.create_unique_constraint("uq_appeals_parent_id", ["parent_id"])
    op.create_table(
        "appeal_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("original_size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("added", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appeal_id", "position", name="uq_appeal_attachments_position"),
    )
    with op.batch_alter_table("appeal_attachments", schema=None) as b:
        b.create_index(b.f("ix_appeal_attachments_appeal_id"), ["appeal_id"], unique=False)
        b.create_index(b.f("ix_appeal_attachments_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appeal_attachments", schema=None) as b:
        b.drop_index(b.f("ix_appeal_attachments_sha256"))
        b.drop_index(b.f("ix_appeal_attachments_appeal_id"))
    op.drop_table("appeal_attachments")
    with op.batch_alter_table("appeals", schema=None) as b:
        b.drop_constraint("uq_appeals_parent_id", type_="unique")
        b.drop_constraint("fk_appeals_reviewer_id", type_="foreignkey")
        b.drop_constraint("fk_appeals_parent_id", type_="foreignkey")
        for c in ("new_due", "due_before", "review_started_at", "reviewer_id", "parent_id"):
            b.drop_column(c)
        b.drop_column("level")
        b.alter_column(
            "status", existing_type=sa.String(length=16), type_=sa.String(length=8),
            existing_nullable=False,
        )  # fmt: skip
