"""The sender's tables: the Alembic revision matches the models; one migration head."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import central.notices.models  # noqa: F401  (registers the tables on Base)
from central.store.db import alembic_config, make_engine, migrate
from central.store.models import Base

MINE = {"notice_deliveries", "notice_parts"}


def test_migration_matches_models_for_notice_tables(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= MINE
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()

    def table_of(d: object) -> str | None:
        item = d[0] if isinstance(d, list) else d
        for x in item[1:] if isinstance(item, tuple) else ():
            name = getattr(x, "name", None) if not isinstance(x, sa.Table) else x.name
            table = getattr(x, "table", None)
            if isinstance(x, sa.Table):
                return name
            if table is not None:
                return table.name
            if isinstance(x, str) and x in MINE:
                return x
        return None

    mine = [d for d in diffs if table_of(d) in MINE]
    assert mine == []


def test_single_migration_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads
