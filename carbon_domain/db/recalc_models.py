"""The recalculation's own bookkeeping (migrations 0008 and 0014): the chunks of a job, the
per-slice sums folded from them, and the stage tables full recalculations fill. Imported by
``db/models.py`` so ``Base.metadata`` has them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base, UTCDateTime

TS = UTCDateTime()


class RecalcChunk(Base):
    """The expected fan-out of a recalculation job: done = every chunk row done."""

    __tablename__ = "recalc_chunks"
    job_id: Mapped[int] = mapped_column(
        ForeignKey("data_ingestion_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    lo_id: Mapped[int] = mapped_column(BigInteger)
    hi_id: Mapped[int] = mapped_column(BigInteger)
    planned_entries: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(64))
    done: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    entries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    missing: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error_details: Mapped[list[Any] | None]
    # Incremental recalculation: the chunk's entries (ascending ids); NULL = the id range.
    entry_ids: Mapped[list[Any] | None]
    # {"mode": "full" | "delta", "sums": [[module id, emission type, kg, n], …]}: what the
    # chunk adds to its slice's sums (services/recalc/slice_sums.py); NULL = not recorded.
    partials: Mapped[dict[str, Any] | None]
    seconds: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[datetime | None] = mapped_column(TS)



class SliceEmissionSum(Base):
    """Exact kg sums of one (type, year) slice per report module and emission type, folded
    from the chunks' partial sums (services/recalc/slice_sums.py). emission_type_id 0 counts the
    entries (n), -1 the entries without a row (missing factor or error)."""

    __tablename__ = "slice_emission_sums"
    data_entry_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    carbon_report_module_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    emission_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kg: Mapped[Decimal] = mapped_column(Numeric)
    n: Mapped[int] = mapped_column(BigInteger)



class SliceSumVersion(Base):
    """The last recalculation job folded into a slice's sums."""

    __tablename__ = "slice_sum_versions"
    data_entry_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer)



class EmissionStage(Base):
    """A stage table a full recalculation fills before it is swapped in as its slice's
    partition (PostgreSQL; db/emission_partitions.py)."""

    __tablename__ = "emission_stages"
    table_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    data_entry_type_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.current_timestamp())
