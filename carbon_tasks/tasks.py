"""Every task module, imported so a worker registers all task names."""

from carbon_tasks import (
    log_context,  # noqa: F401  (task fields in log lines, JSON format)
    worker_gc,  # noqa: F401  (pool children's collector thresholds)
)
from carbon_tasks.aggregate import aggregate_module  # noqa: F401
from carbon_tasks.ingest import (  # noqa: F401
    ingest_data_entries,
    ingest_factors,
    ingest_reference,
    ingest_units,
)
from carbon_tasks.previews import preview_factors  # noqa: F401
from carbon_tasks.recalc import (  # noqa: F401
    finish_recalculation,
    plan_recalculation,
    recalculate_chunk,
    recalculation_failed,
    refresh_facility_factors,
)
from carbon_tasks.reconcile import reconcile  # noqa: F401
from carbon_tasks.retention import purge_uploads  # noqa: F401
from carbon_tasks.workers import carbon_info  # noqa: F401  (the carbon_info inspect command)
