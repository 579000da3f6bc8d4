"""Fast service tests on an in-memory SQLite database (the embedded default's dialect)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from carbon_domain.db import models  # noqa: F401 - registers every table on Base.metadata
from carbon_domain.db.base import Base


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()
