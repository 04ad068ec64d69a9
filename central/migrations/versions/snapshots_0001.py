"""Camera snapshots: the latest anonymised thumbnail per camera (issue 17)

Revision ID: snapshots_0001
Revises: users_0001

One row per (device, camera), overwritten by each newer snapshot and deleted with the
device: the devices page shows what a camera sees now, central keeps no history of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "snapshots_0001"
down_revision = "users_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_snapshots",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("taken", sa.DateTime(), nullable=False),
        sa.Column("received", sa.DateTime(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("blurred_people", sa.Integer(), nullable=False),
        sa.Column("blurred_faces", sa.Integer(), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_id", "camera_id"),
    )


def downgrade() -> None:
    op.drop_table("camera_snapshots")
