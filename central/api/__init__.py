"""The REST API (FastAPI, OpenAPI at /api/openapi.json): staff endpoints by role, and
rate-limited public endpoints for notice holders."""
