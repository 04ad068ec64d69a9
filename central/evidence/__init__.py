"""Evidence at rest: integrity checks on every read, re-verification (scrub) and the
evidence package for a court or the person."""
