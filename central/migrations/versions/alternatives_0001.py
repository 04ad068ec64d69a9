"""Events: the matcher's runner-ups central accepted with a match (issue 17)

Revision ID: alternatives_0001
Revises: snapshots_0001

``events.match_alternatives`` holds ``[{"person_id", "score"}]``, best first: the
``MatchResult.alternatives`` a gateway signed, limited to persons enrolled (and not
erased) here. NULL for every event stored before, for unidentified and quarantined
events, and once retention or an erasure took them away.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alternatives_0001"
down_revision = "snapshots_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match_alternatives", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("match_alternatives")
