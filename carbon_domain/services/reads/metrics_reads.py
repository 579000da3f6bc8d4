"""The figures the Prometheus endpoint publishes, read from the database at scrape time.

Everything is derived from durable rows (pipelines, jobs, chunks) with grouped queries, so
any API process answers the same numbers and nothing is lost when one restarts. Job
durations are bucketed in SQL (one ``count(*) FILTER`` per bucket): a histogram built
from job rows, not from in-process observations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType
from carbon_domain.db.dialect import dialect_of
from carbon_domain.services.reads.pipeline_console import (
    DISPLAY_STATUSES,
    PipelineFilters,
    counts_by_kind,
)
from carbon_domain.services.reads.stale_stats import stale_since

# Upper bounds (seconds) of the job duration buckets; +Inf is implied.
DURATION_BUCKETS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True, slots=True)
class DurationHistogram:
    job_type: str
    data_entry_type: str  # "" for jobs of a whole module or of no type
    cumulative: tuple[int, ...]  # count of jobs ≤ each DURATION_BUCKETS bound
    count: int
    sum_seconds: float


@dataclass(frozen=True, slots=True)
class Staleness:
    year: int
    types_needing_recalculation: int
    oldest_stale_seconds: float  # 0 when nothing is stale


@dataclass(slots=True)
class PipelineFigures:
    by_kind_status: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_running_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ChunkFigures:
    chunks_done: int
    entries: int
    rows_written: int


def pipeline_figures(session: Session) -> PipelineFigures:
    """Pipelines per (kind, display status): the status the console, the API and the CLI
    show (``pipeline_console.display_status``: a RUNNING pipeline no worker has started yet
    is QUEUED, a SUCCESS with a WARNING job of its own SUCCESS_WITH_WARNINGS), counted by
    the very query of their counts. Every status of every kind seen, zeros included, so a
    first failure is a change of an existing series (what an alert on ``delta`` sees)."""
    out = PipelineFigures()
    counts = counts_by_kind(session, PipelineFilters())
    for kind in sorted({k for k, _ in counts}):
        for status in DISPLAY_STATUSES:
            out.by_kind_status[(kind, status)] = counts.get((kind, status), 0)
    # Unfinished: stored RUNNING, so a pipeline still QUEUED counts from its creation too.
    age = dialect_of(session).seconds_between("CURRENT_TIMESTAMP",
                                              "min(coalesce(started_at, created_at))")
    oldest = session.execute(text(f"SELECT {age} FROM pipelines WHERE status = 'RUNNING'")
                             ).scalar()
    out.oldest_running_seconds = max(0.0, float(oldest or 0.0))
    return out


def job_durations(session: Session) -> list[DurationHistogram]:
    """Finished jobs' run time (started → finished) per job type and data entry type."""
    took = dialect_of(session).seconds_between("finished_at", "started_at")
    buckets = ", ".join(f"count(*) FILTER (WHERE d <= {float(b)!r})" for b in DURATION_BUCKETS)
    rows = session.execute(text(
        f"SELECT job_type, coalesce(data_entry_type_id, 0), {buckets}, count(*), sum(d) FROM ("
        "  SELECT job_type, data_entry_type_id,"
        f"   {took} AS d FROM data_ingestion_jobs"
        "  WHERE state = 'FINISHED' AND started_at IS NOT NULL AND finished_at IS NOT NULL"
        ") j GROUP BY 1, 2 ORDER BY 1, 2")).all()
    n = len(DURATION_BUCKETS)
    return [DurationHistogram(str(r[0]), _det_name(int(r[1])), tuple(int(x) for x in r[2:2 + n]),
                              int(r[2 + n]), float(r[3 + n] or 0.0)) for r in rows]


def chunk_figures(session: Session) -> ChunkFigures:
    """Done recalculation chunks and what they wrote. (A re-planned job starts its chunks
    afresh, so these can step back: Prometheus reads that as a counter reset.)"""
    done, entries, rows = session.execute(text(
        "SELECT count(*), coalesce(sum(entries), 0), coalesce(sum(rows), 0) FROM recalc_chunks"
        " WHERE done")).one()
    return ChunkFigures(int(done), int(entries), int(rows))


def staleness(session: Session, now: datetime | None = None) -> list[Staleness]:
    """Per year with uploads: the data entry types needing recalculation (the status facts
    every surface shows) and how long the oldest has waited, since the first input that made
    it stale: the very ``since`` of the stale-stats report (``stale_stats.stale_since``)."""
    now = now or datetime.now(UTC)
    years = [int(y) for (y,) in session.execute(text(
        "SELECT DISTINCT year FROM data_ingestion_jobs WHERE year IS NOT NULL"
        " AND job_type IN ('factor_ingest', 'csv_ingest') ORDER BY 1"))]
    out = []
    for year in years:
        stale, _ = stale_since(session, year)
        oldest = max(((now - _aware(t.since)).total_seconds() for t in stale if t.since),
                     default=0.0)
        out.append(Staleness(year, len(stale), max(0.0, oldest)))
    return out


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _det_name(det: int) -> str:
    try:
        return DataEntryType(det).name if det else ""
    except ValueError:
        return str(det)
