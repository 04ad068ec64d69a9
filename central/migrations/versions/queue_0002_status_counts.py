"""Review queue: exact event counts per status kept by the database (issue 17)

Revision ID: queue_0002
Revises: alternatives_0001

``event_status_counts`` holds signed deltas ``(status, n)``: a trigger on ``events`` adds
``+1`` for the new status and ``-1`` for the old one on every insert, status change and
delete, in the same transaction as the change, whichever code (or SQL) made it. A count
is ``SUM(n)`` of its status's rows — exact, the same snapshot as the events — and
``central/store/status_counts.py`` folds the rows into one per status now and then. Rows
are only ever inserted by the trigger (never updated), so concurrent writers never wait
on a counter row. The table starts with the counts of the events already stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "queue_0002"
down_revision = "alternatives_0001"
branch_labels = None
depends_on = None

_INSERT = "INSERT INTO event_status_counts (status, n) VALUES"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER events_status_count_insert AFTER INSERT ON events
    BEGIN {_INSERT} (NEW.status, 1); END""",
    f"""CREATE TRIGGER events_status_count_update AFTER UPDATE OF status ON events
    WHEN OLD.status IS NOT NEW.status
    BEGIN {_INSERT} (OLD.status, -1), (NEW.status, 1); END""",
    f"""CREATE TRIGGER events_status_count_delete AFTER DELETE ON events
    BEGIN {_INSERT} (OLD.status, -1); END""",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS events_status_count_insert",
    "DROP TRIGGER IF EXISTS events_status_count_update",
    "DROP TRIGGER IF EXISTS events_status_count_delete",
)
PG_TRIGGERS = (
    f"""CREATE FUNCTION events_status_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        {_INSERT} (NEW.status, 1);
      ELSIF TG_OP = 'DELETE' THEN
        {_INSERT} (OLD.status, -1);
      ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        {_INSERT} (OLD.status, -1), (NEW.status, 1);
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER events_status_count AFTER INSERT OR DELETE OR UPDATE OF status
    ON events FOR EACH ROW EXECUTE FUNCTION events_status_count()""",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS events_status_count ON events",
    "DROP FUNCTION IF EXISTS events_status_count()",
)


def create_triggers(bind: sa.engine.Connection) -> None:
    """The counting triggers (also what bench/bench_queue.py drops and restores)."""
    for sql in PG_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        bind.execute(sa.text(sql))


def drop_triggers(bind: sa.engine.Connection) -> None:
    for sql in PG_DROP if bind.dialect.name == "postgresql" else SQLITE_DROP:
        bind.execute(sa.text(sql))


def upgrade() -> None:
    op.create_table(
        "event_status_counts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_status_counts_status", "event_status_counts", ["status"])
    bind = op.get_bind()
    create_triggers(bind)
    bind.execute(
        sa.text(
            "INSERT INTO event_status_counts (status, n) "
            "SELECT status, COUNT(*) FROM events GROUP BY status"
        )
    )


def downgrade() -> None:
    drop_triggers(op.get_bind())
    op.drop_index("ix_event_status_counts_status", table_name="event_status_counts")
    op.drop_table("event_status_counts")
