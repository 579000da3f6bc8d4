"""Alembic migration history (one linear history for PostgreSQL and SQLite)."""
