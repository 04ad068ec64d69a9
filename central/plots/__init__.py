"""Dashboard numbers and server-side charts (matplotlib → PNG)."""
