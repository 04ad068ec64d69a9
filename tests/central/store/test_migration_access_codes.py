"""Migration notices_0002: rows written before the sender dropped access codes from
notices.params lose the code where the rendered text holds it; a notice not yet
rendered keeps it (it must still reach the citizen). SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from central.store.db import make_engine, migrate


def test_rendered_notices_lose_their_plain_code(db_url: str) -> None:
    migrate(db_url, "rate_limits_0001")  # the schema before this change
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO persons (id, phone, lawful_basis, enrolled) "
                    "VALUES ('p1', '+447400123456', 'law', CURRENT_TIMESTAMP)"
                )
            )
            for nid, code in ((1, "SENTCODE01"), (2, "WAITCODE02")):
                params = f'{{"reference": "JW-{nid}", "access_code": "{code}", "points": 3}}'
                c.execute(
                    sa.text(
                        "INSERT INTO notices (id, person_id, kind, params, status, created, "
                        "attempts) VALUES (:id, 'p1', 'fine_issued', :p, :st, "
                        "CURRENT_TIMESTAMP, 1)"
                    ),
                    {"id": nid, "p": params, "st": "delivered" if nid == 1 else "pending"},
                )
            c.execute(
                sa.text(
                    "INSERT INTO notice_deliveries (notice_id, provider, idempotency_key, text) "
                    "VALUES (1, 'log', 'k', 'Fine. Ref JW-1 code SENTCODE01.')"
                )
            )
        migrate(db_url)
        with engine.connect() as c:
            rows = dict(c.execute(sa.text("SELECT id, params FROM notices ORDER BY id")).all())
            text = c.execute(sa.text("SELECT text FROM notice_deliveries")).scalar_one()
    finally:
        engine.dispose()
    import json

    p1, p2 = (json.loads(v) if isinstance(v, str) else v for v in (rows[1], rows[2]))
    assert p1 == {"reference": "JW-1", "points": 3, "access_code_in_text": True}
    assert "SENTCODE01" in text  # what was sent is unchanged (retention redacts it later)
    assert p2["access_code"] == "WAITCODE02"  # not rendered yet: still needed
