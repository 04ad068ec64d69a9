"""Enrolment photos: the face crop stored beside the original (central/faces/crop.py)

Revision ID: person_photos_0002
Revises: appeals_0001, queue_0001 (also merges those two heads: one head again)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "person_photos_0002"
down_revision = ("appeals_0001", "queue_0001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing photos keep NULLs ("not cropped yet"): cropped on first view or by
    # `jaywatch central photos crop`.
    with op.batch_alter_table("person_photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("face_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("face_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("face_box", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_person_photos_face_sha256"), ["face_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("person_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_photos_face_sha256"))
        batch_op.drop_column("face_box")
        batch_op.drop_column("face_sha256")
        batch_op.drop_column("face_status")
