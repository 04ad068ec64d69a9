"""Dead letters under a flood: a kept byte total, coalesced rows; snapshot drop counters

Revision ID: dead_letters_0002
Revises: queue_0002

1. ``dead_letter_bytes`` holds signed deltas ``n``: triggers on ``dead_letters`` add
   ``length(raw)`` on insert, the change on an update of ``raw`` and ``-length(raw)`` on
   delete, in the changing transaction, whichever code or SQL made the change. The total
   (the ``ingest.dead_letters_max_total_bytes`` check) is ``SUM(n)`` over a few rows,
   folded now and then by central/store/dead_letter_bytes.py. It starts with the bytes the
   dead letters already keep.
2. ``dead_letters.messages`` / ``last_received`` / ``group_key``: a coalesced row (one per
   topic and kind of reason, ``group_key`` unique per topic) stands for ``messages``
   distinct bad messages (central/ingest/store.py). Existing rows stand for one each.
3. A partial index on the rows eviction can still cut (``length(raw) > 4096``).
4. ``devices.snapshots_dropped`` / ``snapshots_dropped_last``: snapshots refused for
   coming faster than ``ingest.snapshot_min_interval_s``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "dead_letters_0002"
down_revision = "queue_0002"
branch_labels = None
depends_on = None

_INSERT = "INSERT INTO dead_letter_bytes (n) VALUES"
_CUTTABLE = "length(raw) > 4096"  # central.store.models.DEAD_LETTER_CUT_TO

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER dead_letters_bytes_insert AFTER INSERT ON dead_letters
    BEGIN {_INSERT} (length(NEW.raw)); END""",
    f"""CREATE TRIGGER dead_letters_bytes_update AFTER UPDATE OF raw ON dead_letters
    WHEN length(OLD.raw) <> length(NEW.raw)
    BEGIN {_INSERT} (length(NEW.raw) - length(OLD.raw)); END""",
    f"""CREATE TRIGGER dead_letters_bytes_delete AFTER DELETE ON dead_letters
    BEGIN {_INSERT} (-length(OLD.raw)); END""",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS dead_letters_bytes_insert",
    "DROP TRIGGER IF EXISTS dead_letters_bytes_update",
    "DROP TRIGGER IF EXISTS dead_letters_bytes_delete",
)
PG_TRIGGERS = (
    f"""CREATE FUNCTION dead_letters_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        {_INSERT} (length(NEW.raw));
      ELSIF TG_OP = 'DELETE' THEN
        {_INSERT} (-length(OLD.raw));
      ELSIF length(OLD.raw) <> length(NEW.raw) THEN
        {_INSERT} (length(NEW.raw) - length(OLD.raw));
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER dead_letters_bytes AFTER INSERT OR DELETE OR UPDATE OF raw
    ON dead_letters FOR EACH ROW EXECUTE FUNCTION dead_letters_bytes()""",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS dead_letters_bytes ON dead_letters",
    "DROP FUNCTION IF EXISTS dead_letters_bytes()",
)


def create_triggers(bind: sa.engine.Connection) -> None:
    """The byte-counting triggers (bench/bench_dead_letter_cap.py drops and restores them)."""
    for sql in PG_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        bind.execute(sa.text(sql))


def drop_triggers(bind: sa.engine.Connection) -> None:
    for sql in PG_DROP if bind.dialect.name == "postgresql" else SQLITE_DROP:
        bind.execute(sa.text(sql))


def rebuild_total(bind: sa.engine.Connection) -> None:
    """The kept total from the rows themselves (also a repair after triggers were off)."""
    bind.execute(sa.text("DELETE FROM dead_letter_bytes"))
    bind.execute(
        sa.text(
            "INSERT INTO dead_letter_bytes (n) "
            "SELECT COALESCE(SUM(length(raw)), 0) FROM dead_letters"
        )
    )


def upgrade() -> None:
    op.create_table(
        "dead_letter_bytes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dead_letters", schema=None) as b:
        b.add_column(sa.Column("messages", sa.Integer(), server_default="1", nullable=False))
        b.add_column(sa.Column("last_received", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("group_key", sa.String(length=80), nullable=True))
        b.create_unique_constraint("uq_dead_letters_topic_group", ["topic", "group_key"])
    op.create_index(
        "ix_dead_letters_cuttable",
        "dead_letters",
        ["id"],
        sqlite_where=sa.text(_CUTTABLE),
        postgresql_where=sa.text(_CUTTABLE),
    )
    with op.batch_alter_table("devices", schema=None) as b:
        b.add_column(
            sa.Column("snapshots_dropped", sa.Integer(), server_default="0", nullable=False)
        )
        b.add_column(sa.Column("snapshots_dropped_last", sa.DateTime(), nullable=True))
    bind = op.get_bind()
    # After the batch alters: SQLite's batch mode rebuilds the table (and would drop them).
    create_triggers(bind)
    rebuild_total(bind)


def downgrade() -> None:
    drop_triggers(op.get_bind())
    with op.batch_alter_table("devices", schema=None) as b:
        b.drop_column("snapshots_dropped_last")
        b.drop_column("snapshots_dropped")
    op.drop_index("ix_dead_letters_cuttable", table_name="dead_letters")
    with op.batch_alter_table("dead_letters", schema=None) as b:
        b.drop_constraint("uq_dead_letters_topic_group", type_="unique")
        b.drop_column("group_key")
        b.drop_column("last_received")
        b.drop_column("messages")
    op.drop_table("dead_letter_bytes")
