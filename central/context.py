"""What every entry point (CLI, API, ingest) builds from the config: DB, rules, stores."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central.config import CentralConfig
from central.fines import load_schedule
from central.store.db import open_db
from central.store.evidence import EvidenceStore, FileEvidenceStore
from central.workflow.common import Rules


@dataclass
class Context:
    config: CentralConfig
    engine: sa.Engine
    sessions: sessionmaker[Session]
    rules: Rules
    evidence: EvidenceStore

    @classmethod
    def from_config(cls, config: CentralConfig) -> Context:
        """Migrates the database to the newest schema first (``alembic upgrade head``)."""
        schedule = load_schedule(config.fines_file)
        engine, sessions = open_db(config.database_url)
        return cls(
            config=config,
            engine=engine,
            sessions=sessions,
            rules=Rules(
                schedule, config.score, config.default_region, config.appeals, config.review
            ),
            evidence=FileEvidenceStore(config.evidence_dir),
        )

    def close(self) -> None:
        self.engine.dispose()
