"""Gallery snapshots: gallery_versions.snapshot_sha256 and download_token

Revision ID: gallery_0001
Revises: notices_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gallery_0001"
down_revision = "notices_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("download_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gallery_versions", schema=None) as batch_op:
        batch_op.drop_column("download_token")
        batch_op.drop_column("snapshot_sha256")
