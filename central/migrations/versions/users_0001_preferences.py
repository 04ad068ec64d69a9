"""Per-account console preferences: the keyboard-shortcut switch

Revision ID: users_0001
Revises: payments_0001

Was kept in each browser's localStorage, so an operator who switched the single-key
shortcuts off (WCAG 2.1.4) had them on again at another desk or after clearing the
browser. Existing accounts keep the default (on), as they had before their choice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "users_0001"
down_revision = "payments_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keyboard_shortcuts", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("keyboard_shortcuts")
