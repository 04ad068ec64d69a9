"""Enrolment photos: person_photos (central/workflow/photos.py)

Revision ID: person_photos_0001
Revises: gallery_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "person_photos_0001"
down_revision = "gallery_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("added", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "sha256", name="uq_person_photos_person_sha256"),
    )
    with op.batch_alter_table("person_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_photos_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_photos_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_photos_sha256"))
        batch_op.drop_index(batch_op.f("ix_person_photos_person_id"))
    op.drop_table("person_photos")
