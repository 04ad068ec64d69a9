"""The central service: ingest, store, review, sanctions, notices, display, API, UI."""
