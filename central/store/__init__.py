"""Persistence: SQLAlchemy models, engine set-up, migrations, evidence blobs."""
