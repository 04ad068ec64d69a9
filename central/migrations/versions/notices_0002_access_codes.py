"""Access codes out of notices.params once the notice text holds them

Revision ID: notices_0002
Revises: rate_limits_0001

Until now a fine notice kept the citizen's access code in plain text in ``params`` for
as long as the notice existed (only its hash is on the fine). The SMS sender now drops
it when it renders the text (central/notices/worker.py); this migration does the same
for notices already rendered: their code stays only in the rendered text (which
retention redacts once the case is closed). Notices not yet rendered keep it: the code
must still reach the citizen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notices_0002"
down_revision = "rate_limits_0001"
branch_labels = None
depends_on = None

CODE_IN_TEXT = "access_code_in_text"  # = central.notices.kinds.FineIssued.access_code_in_text

notices = sa.table("notices", sa.column("id", sa.Integer), sa.column("params", sa.JSON))
deliveries = sa.table(
    "notice_deliveries", sa.column("notice_id", sa.Integer), sa.column("text", sa.Text)
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(notices.c.id, notices.c.params)
        .join(deliveries, deliveries.c.notice_id == notices.c.id)
        .where(deliveries.c.text.is_not(None))
    ).all()
    for nid, params in rows:
        if isinstance(params, dict) and "access_code" in params:
            kept = {k: v for k, v in params.items() if k != "access_code"}
            kept[CODE_IN_TEXT] = True
            conn.execute(sa.update(notices).where(notices.c.id == nid).values(params=kept))


def downgrade() -> None:
    # The codes are gone from params by design; the rendered texts still hold them.
    pass
