"""What a pipeline's jobs say about it beyond its status (pipeline_reads' views carry it, so
the API, the console and the CLI say the same): what a RUNNING pipeline none of whose jobs
has started is waiting for, whether a running one has stopped moving, and what a finished run
left to re-run. Pure functions over the job rows the view already read: no query here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, ModuleType
from carbon_domain.db.enums import JobResult, JobState, JobType, PipelineStatus
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Pipeline
from carbon_domain.settings import get_settings

INGEST = (JobType.factor_ingest, JobType.csv_ingest, JobType.reference_ingest, JobType.unit_sync)
Waiting = Literal["broker", "worker"]


def waiting_for(status: str, jobs: Sequence[Job]) -> Waiting | None:
    """What a RUNNING pipeline none of whose jobs (its own or one it joined) has started is
    waiting for (its display status is QUEUED): ``"broker"`` while none of them is on the
    broker (their rows wait in the outbox: the broker was unreachable when it was triggered,
    or the message is being sent; the reconciler sends them), else ``"worker"`` (on the
    broker, no worker took them yet: none runs, or all are busy). None otherwise.

    Before, such a pipeline was "Queued — waiting for a worker" whatever kept it: beside its
    type's "not on the broker yet (the reconciler sends it)" while the broker was down."""
    if status != PipelineStatus.RUNNING or any(j.started_at is not None for j in jobs):
        return None
    if jobs and all(j.state == JobState.NOT_STARTED and j.dispatched_at is None
                    for j in jobs):
        return "broker"
    return "worker"


@dataclass(frozen=True, slots=True)
class Silence:
    """No job of a running pipeline (or a running job) moved since ``since``."""

    since: datetime  # its last sign of progress: a job started, heartbeat or finished
    replan_at: datetime  # the reconciler takes its running jobs for lost from then
    # "no progress for 4 min (since 22:01:05 UTC): …; if nothing moves, the reconciler
    # re-plans it at 22:31 UTC, or abort it and recalculate what it left"
    text: str


def _then(does: str, do: str, at: datetime, now: datetime) -> str:
    """What comes next, with what the reconciler ``does``/is due to ``do`` ("re-plans it"/
    "re-plan it"): before its time, when; past it, that it did not run (beat down, or its
    own work queued too)."""
    if at > now:
        return (f"if nothing moves, the reconciler {does} at {at:%H:%M} UTC, or abort it and"
                " recalculate what it left")
    return (f"the reconciler was due to {do} at {at:%H:%M} UTC: is `carbon beat` running?"
            " (`carbon reconcile` runs it once)")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def quiet(marks: Iterable[datetime | None], running: Iterable[datetime | None],
          now: datetime) -> Silence | None:
    """The silence of work whose last signs of progress are ``marks`` and whose RUNNING jobs
    last heartbeat at ``running`` (None: nothing runs, so nothing is silent), after
    CARBON_NO_PROGRESS_SECONDS (2 min by default).

    A chunk is sized to take seconds and heartbeats when it commits, an ingest and an
    aggregation at each step: minutes of silence mean its work waits behind other work, or
    was lost with a worker that died holding it (SIGKILL, OOM, a host gone), which nothing
    but the reconciler recovers, after CARBON_STALE_JOB_SECONDS without a heartbeat (30 min
    by default; the broker's visibility timeout, an hour by default, comes later). Before,
    "⟳ Running · chunks 44/45" stood for those 30 minutes, with nothing saying that nothing
    ran."""
    beats = [t for t in running if t is not None]
    last = max((t for t in marks if t is not None), default=None)
    settings = get_settings()
    if not beats or last is None or (now - last).total_seconds() < settings.no_progress_seconds:
        return None
    replan_at = min(beats) + timedelta(seconds=settings.stale_job_seconds)
    text = (f"no progress for {_duration((now - last).total_seconds())} (since "
            f"{last:%H:%M:%S} UTC): its work waits behind other work, or was lost with a "
            "worker that died; ")
    return Silence(last, replan_at, text + _then("re-plans it", "re-plan it", replan_at, now))


def silence(status: str, jobs: Sequence[Job], now: datetime) -> Silence | None:
    """A RUNNING pipeline with a RUNNING job, none of whose jobs (its own or one it joined)
    started, heartbeat or finished for ``no_progress_seconds`` (CARBON_NO_PROGRESS_SECONDS);
    or one queued on the broker that long with no job started (``queued_silence``)."""
    if status != PipelineStatus.RUNNING:
        return None
    if waiting_for(status, jobs) == "worker":
        return queued_silence([j.dispatched_at for j in jobs
                               if j.state == JobState.QUEUED and j.dispatched_at], now)
    return quiet((t for j in jobs for t in (j.started_at, j.heartbeat_at, j.finished_at)),
                 (j.heartbeat_at or j.started_at for j in jobs
                  if j.state == JobState.RUNNING), now)


def queued_silence(sent: Sequence[datetime], now: datetime) -> Silence | None:
    """Work on the broker since ``sent`` (its queued jobs' dispatch times) for
    ``no_progress_seconds``, none of it started (the caller knows). Its work
    waits behind other work, or its message is gone: lost with the broker, or taken by a
    worker that failed before running it (a multi-host walk, 2026-12-08: a pool process whose
    result-backend connection had died failed the plan message while storing its start, and
    two pipelines said "Queued — waiting for a worker" for the 30 minutes before the
    reconciler sends such a job again, CARBON_STALE_JOB_SECONDS after it was sent)."""
    settings = get_settings()
    since = min(sent, default=None)
    if since is None or (now - since).total_seconds() < settings.no_progress_seconds:
        return None
    resend_at = since + timedelta(seconds=settings.stale_job_seconds)
    text = (f"queued for {_duration((now - since).total_seconds())} (since {since:%H:%M:%S}"
            " UTC) and no worker started it: it waits behind other work, or its message was"
            " lost; " + _then("sends it again", "send it again", resend_at, now))
    return Silence(since, resend_at, text)


def recoverable_types(p: Pipeline, jobs: Sequence[Job]) -> list[int]:
    """The data entry types a finished run left to recalculate (empty: nothing to re-run).

    Its per-type recalculations that did not end SUCCESS or WARNING; when they all did (a
    later step, the aggregation, failed) all of them, which brings a fresh aggregation; an
    upload stopped after its data landed but before any recalculation: the types it wrote.
    A SUCCESS run, a running one, an upload that wrote nothing (its ingest ended ERROR; the
    job's fence rolls an aborted ingest back) and uploads without a module leave nothing.
    """
    if p.status in (PipelineStatus.RUNNING, PipelineStatus.SUCCESS,
                    PipelineStatus.NOT_STARTED) or p.module_type_id is None or p.year is None:
        return []
    ok = (JobResult.SUCCESS, JobResult.WARNING)
    recalcs = [j for j in jobs if j.job_type == JobType.emission_recalc
               and j.data_entry_type_id is not None and j.module_type_id == p.module_type_id]
    left = [j.data_entry_type_id for j in recalcs if j.result not in ok]
    dets = left or [j.data_entry_type_id for j in recalcs]
    if not dets:
        root = next((j for j in jobs if j.pipeline_id == p.id), None)
        if root is None or root.job_type not in INGEST or root.result not in ok:
            return []
        dets = ([root.data_entry_type_id] if root.data_entry_type_id is not None else
                [d.value for d in MODULE_DATA_ENTRY_TYPES[ModuleType(p.module_type_id)]])
    return sorted({int(d) for d in dets if d is not None})
