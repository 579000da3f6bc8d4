"""The append-only history of every factor (migration 0012).

One row per change to one factor: inserted, updated (values), retired, revived, computed
(facility refresh) or recorded (the state found by the migration, for factors that existed
before history was kept). Written in the transaction of the change by
services/inputs/factor_history.py, which every factor write path calls (a trigger would be
bypassed by the COPY path's design, and the job and who are known to the application).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class FactorHistory(Base):
    """One change to one factor. No foreign keys: a history row outlives a deleted job or
    factor."""

    __tablename__ = "factor_history"
    __table_args__ = (Index("ix_factor_history_factor", "factor_id", "id"),
                      Index("ix_factor_history_job", "job_id"))
    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    factor_id: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    values_before: Mapped[dict[str, Any] | None]
    values_after: Mapped[dict[str, Any] | None]
    changed_by: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.current_timestamp())
