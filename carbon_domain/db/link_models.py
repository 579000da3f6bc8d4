"""Relations between jobs and pipelines that steer the pipeline (migration 0009).

They lived in the ``meta`` JSON until 0009 (``config.job_ids``, ``config.joined_job_ids``,
``linked_job_ids``, ``awaits_aggregation``): a list in JSON could not be joined or indexed,
so "which running pipelines joined job 42" read every running pipeline's meta in Python.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base
from carbon_domain.db.enums import JobLinkKind
from carbon_domain.db.types import EnumString

_JOB = "data_ingestion_jobs.id"


class JobLink(Base):
    """A module-level recalculation and one of its per-type jobs: it closes when every job
    it started or joined is done. Read by its ``job_id`` (the primary key's prefix)."""

    __tablename__ = "job_links"
    job_id: Mapped[int] = mapped_column(ForeignKey(_JOB, ondelete="CASCADE"), primary_key=True)
    linked_job_id: Mapped[int] = mapped_column(ForeignKey(_JOB, ondelete="CASCADE"),
                                               primary_key=True)
    kind: Mapped[JobLinkKind] = mapped_column(EnumString(JobLinkKind, 16), primary_key=True)


class PipelineJobLink(Base):
    """A job of another pipeline this pipeline joined (a dedup hit): the pipeline is not done
    until that job (and its rerun) is. Looked up both ways, hence the index on job_id."""

    __tablename__ = "pipeline_job_links"
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey(_JOB, ondelete="CASCADE"), primary_key=True,
                                        index=True)


class AwaitedAggregation(Base):
    """A RUNNING pipeline waits for the trailing aggregation of (module, year): its own
    recalculation finished while another one of that (module, year) was active. Rows live
    only while the pipeline waits (a handful), so the primary key is the only index."""

    __tablename__ = "pipeline_awaited_aggregations"
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True)
    module_type_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
