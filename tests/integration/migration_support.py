"""What every migration test needs: one statement run on its own connection. Their
fixtures (``url``: a fresh PostgreSQL database and a SQLite file, so each test runs on both
engines; ``pg_url``) are in ``tests/integration/conftest.py``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text


def run_sql(url: str, sql: str) -> list[tuple[Any, ...]]:
    """One statement in its own transaction; its rows, if it returns any."""
    engine = create_engine(url)
    with engine.begin() as c:
        result = c.execute(text(sql))
        rows = [tuple(r) for r in result] if result.returns_rows else []
    engine.dispose()
    return rows
