"""The Celery task names and the queues they run on: the one definition the task modules,
the graph (``carbon_tasks/pipeline.py``), ``celeryconfig`` (routes, queues, beat) and the
CLI's queue checks share. ``tests/unit/test_vocabulary.py`` fails when a name or a queue is
written out anywhere else.

It lives in the domain, not in ``carbon_tasks``, because ``celeryconfig`` and ``carbon
worker --help`` need the names without loading the Celery app (importing ``carbon_tasks``
does). Plain strings, not enums: Celery and kombu put them in message headers as they are.
"""

from __future__ import annotations

from carbon_domain.upload_kinds import UploadKind

# Queues (docs/operating.md explains which worker reads which).
DEFAULT = "default"
INGEST = "ingest"
RECALC = "recalc"
FINISH = "finish"
AGGREGATE = "aggregate"
QUEUES = (DEFAULT, INGEST, RECALC, FINISH, AGGREGATE)

# Tasks.
INGEST_FACTORS = "carbon.ingest_factors"
INGEST_DATA_ENTRIES = "carbon.ingest_data_entries"
INGEST_UNITS = "carbon.ingest_units"
INGEST_REFERENCE = "carbon.ingest_reference"
PREVIEW_FACTORS = "carbon.preview_factors"
# A large preview's chord: read-only chunks, folded by one task; the errback ends the job.
PREVIEW_CHUNK = "carbon.preview_chunk"
PREVIEW_FOLD = "carbon.preview_fold"
PREVIEW_FAILED = "carbon.preview_failed"
PLAN_RECALCULATION = "carbon.plan_recalculation"
RECALCULATE_CHUNK = "carbon.recalculate_chunk"
FINISH_RECALCULATION = "carbon.finish_recalculation"
RECALCULATION_FAILED = "carbon.recalculation_failed"
REFRESH_FACILITY_FACTORS = "carbon.refresh_facility_factors"
AGGREGATE_MODULE = "carbon.aggregate_module"
RECONCILE = "carbon.reconcile"
PURGE_UPLOADS = "carbon.purge_uploads"

# Where each task runs (celeryconfig.task_routes). The chord body has its own queue: in the
# FIFO `recalc` queue it waited behind every chunk the other modules had queued, so all 8
# modules of a full run finished at the very end and their aggregations ran with no chunk
# left to overlap: 5.4-6.1 % of the worker time at 1M entries, 3.7-3.9 % with its own queue
# (3 interleaved A/B pairs, 2 workers, 2026-12-05; end to end 17.9-18.7 s vs 17.4-18.5 s;
# the first module fresh after ~6 s instead of ~16.5 s). kombu's Redis consumer rotates
# between the queues a worker reads, so a waiting finish is taken next. Not `aggregate`: a
# held aggregation (year lock) must not hold up closing jobs.
TASK_QUEUES: dict[str, str] = {
    INGEST_FACTORS: INGEST,
    INGEST_DATA_ENTRIES: INGEST,
    INGEST_UNITS: INGEST,
    INGEST_REFERENCE: INGEST,
    PLAN_RECALCULATION: RECALC,
    RECALCULATE_CHUNK: RECALC,
    FINISH_RECALCULATION: FINISH,
    RECALCULATION_FAILED: DEFAULT,
    # Not behind the chunks other modules queued in `recalc`: the facility types' chord
    # waits for it, so it held that module's second stage up (same reason as the finish).
    REFRESH_FACILITY_FACTORS: FINISH,
    PREVIEW_FACTORS: RECALC,
    PREVIEW_CHUNK: RECALC,
    PREVIEW_FOLD: FINISH,
    PREVIEW_FAILED: FINISH,
    AGGREGATE_MODULE: AGGREGATE,
    RECONCILE: DEFAULT,
    PURGE_UPLOADS: DEFAULT,
}

# The ingest task of each upload kind.
UPLOAD_TASKS: dict[UploadKind, str] = {
    UploadKind.factors: INGEST_FACTORS,
    UploadKind.data_entries: INGEST_DATA_ENTRIES,
    UploadKind.units: INGEST_UNITS,
    UploadKind.stations: INGEST_REFERENCE,
    UploadKind.building_rooms: INGEST_REFERENCE,
    UploadKind.exchange_rates: INGEST_REFERENCE,
}
# The tasks a recalculation pipeline needs once planned (the chunks share plan's queue).
RECALCULATION_TASKS = (PLAN_RECALCULATION, FINISH_RECALCULATION, AGGREGATE_MODULE)
