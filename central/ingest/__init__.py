"""MQTT ingest: validate, verify, store idempotently in batches, ack after commit."""
