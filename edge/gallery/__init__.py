"""Enrolled-person gallery: versioned file, exact/approximate search, ``jaywatch gallery``."""
