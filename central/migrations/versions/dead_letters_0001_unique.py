"""Dead letters: one row per (topic, sha256 of the payload)

Existing duplicates (a batch retried after an outage during the one-by-one pass wrote a
second row; identical bad bytes sent again wrote another) are collapsed first: the
earliest row (lowest id, its first reason) is kept and the later copies are deleted.
They held the same topic and payload; only ``received``/``reason`` of the copies are
lost. Downgrade drops the constraint; deleted copies do not come back.

Revision ID: dead_letters_0001
Revises: gallery_0001
"""

from __future__ import annotations

from alembic import op

revision = "dead_letters_0001"
down_revision = "gallery_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM dead_letters WHERE id NOT IN "
        "(SELECT MIN(id) FROM dead_letters GROUP BY topic, sha256)"
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_dead_letters_topic_sha256", ["topic", "sha256"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_constraint("uq_dead_letters_topic_sha256", type_="unique")
