"""Gallery announcements: gallery_versions.announced_at (None = announcement pending)

Existing rows start pending: ``central serve`` announces the newest one at start-up
anyway, and edges ignore an announcement of the version they already hold.

Revision ID: gallery_0002
Revises: dead_letters_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gallery_0002"
down_revision = "dead_letters_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gallery_versions", schema=None) as batch_op:
        batch_op.drop_column("announced_at")
