"""Engines and sessions: SQLite (WAL) by default, PostgreSQL by URL; migrations on start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def make_engine(url: str, **kw: Any) -> sa.Engine:
    """An engine with the pragmas every SQLite connection needs (WAL, FKs, busy wait).

    pysqlite's own transaction handling is switched off and every transaction starts
    with ``BEGIN IMMEDIATE``: a deferred transaction that read before another process
    committed fails at its first write (SQLITE_BUSY_SNAPSHOT, no busy wait), whereas an
    immediate one waits its turn (busy_timeout). SQLite is the one-box default, where
    serialised writers are fine; a city runs PostgreSQL.
    """
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **kw)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        private_sqlite_file(Path(u.database))
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents owner-only (0700), whatever the umask
    (``mkdir(parents=True)`` would give the parents the umask's default)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(d, 0o700)  # mode is masked by the umask; 0700 is what we mean


def private_sqlite_file(path: Path) -> None:
    """The SQLite file (and its -wal/-shm, which SQLite creates with the database file's
    mode) owner-only: it holds faces, names, phone numbers and fines. Created 0600 before
    SQLite opens it; an existing one readable by others is tightened."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
        except FileNotFoundError:
            continue


def ping(engine: sa.Engine) -> None:
    """``SELECT 1`` on a pooled DBAPI connection, outside any SQLAlchemy transaction.

    A health probe must not go through a Session/Connection: on SQLite those begin with
    ``BEGIN IMMEDIATE`` (the ``begin`` hook above) and would wait out the busy timeout
    behind a long write, reporting a false outage. A bare SELECT in autocommit mode
    (pysqlite's ``isolation_level=None``) reads the WAL snapshot without the write lock;
    on PostgreSQL the pool rolls the implicit transaction back when the connection is
    returned. Raises whatever the driver raises when the database is unreachable.
    """
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        try:
            cur.execute("SELECT 1")
            cur.fetchall()
        finally:
            cur.close()
    finally:
        conn.close()


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (``alembic upgrade``), idempotently.

    ``heads``: sub-packages (e.g. the SMS sender) add their own migration branches off
    the base revision, so there may be several heads; all are applied.
    """
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def open_db(url: str) -> tuple[sa.Engine, sessionmaker[Session]]:
    """Migrate, then return an engine and a session factory: what every entry point uses."""
    migrate(url)
    engine = make_engine(url)
    return engine, session_factory(engine)
