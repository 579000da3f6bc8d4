"""Persistence layer: typed SQLAlchemy 2.0 models, engine/session factory, locks, COPY.

The only package that knows which database engine it runs on. Statements that differ
between PostgreSQL and SQLite are operations of ``dialect.SqlDialect`` — one implementation
per engine (``dialect/postgres.py``, ``dialect/sqlite.py``), chosen by
``dialect_of(session)`` — so services say what they want, not which dialect (docs/design.md
§8, "One SQL path per operation"). ``bulk.py`` is PostgreSQL's raw COPY protocol under it.
"""
