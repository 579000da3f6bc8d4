"""Impact preview of an upload (factors, data entries or reference data): what the file
would do, before anything is written.

A preview is a ``factor_preview`` job (the name is historical: every kind uses it; the
kind is the job's ``config.kind``) over the stored file. Its work runs the real ingest
(``ingest_factors``, ``ingest_data_entries`` or ``ingest_reference``: the same parsing,
validation and writes) inside a SAVEPOINT, measures the result (services/preview/
preview_figures.py), then rolls the savepoint back: no factor, history, entry, reference or
emission row of the preview survives; only its figures are kept, in ``upload_previews``,
with ``inputs_mark`` — the newest input job the figures depend on
(services/preview/preview_scope.py). Applying uploads the same file as a normal upload (with
recalculation for factors; a data entry upload always recalculates), and is refused (409)
when an input job newer than the mark exists: what is applied is what was previewed.

A large factor or reference preview hands its entries to chunks on the workers
(:class:`FanOut`, services/preview/preview_chunks.py) once the savepoint has given it the
inputs the file leaves; the figures are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain.catalog import MODULE_OF, DataEntryType
from carbon_domain.db import locks
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import JobResult
from carbon_domain.db.models import DataEntry
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.preview_models import UploadPreview
from carbon_domain.services.ingest.ingest import (
    IngestOutcome,
    ingest_data_entries,
    ingest_factors,
    ingest_reference,
)
from carbon_domain.services.inputs.factors import load_factor_records
from carbon_domain.services.inputs.slices import (
    build_index,
    load_factor_index,
    load_reference_data,
    load_slice_context,
)
from carbon_domain.services.jobs.job_runs import JobOutcome
from carbon_domain.services.preview import preview_scope as scope
from carbon_domain.services.preview.preview_figures import (
    factor_changes,
    measure_range,
    slice_ranges,
    slice_side,
    unit_names,
)
from carbon_domain.services.preview.preview_meter import (
    LISTED_CHANGES,
    Partial,
    figures,
    new_without_factor,
    unit_ids,
    without_factor_phrase,
)
from carbon_domain.services.preview.preview_store import (
    PREVIEW_TTL,
    ApplyPlan,
    PreviewRefused,
    PreviewView,
    create_preview,
    discard_preview,
    mark_applied,
    plan_apply,
    read_preview,
)

__all__ = ["PREVIEW_TTL", "ApplyPlan", "FanOut", "PreviewRefused", "PreviewView",
           "compute_preview", "create_preview", "discard_preview", "finish_figures",
           "mark_applied", "plan_apply", "read_preview"]

_INGEST: dict[str, Callable[[Session, Job], IngestOutcome]] = {
    scope.FACTORS: ingest_factors, scope.ENTRIES: ingest_data_entries}


@dataclass
class FanOut:
    """A preview whose entries are measured by chunks on the workers: each chunk gets a
    slice's id range and the inputs the file leaves (``inputs``: factor records per slice,
    or the reference rows); :func:`finish_figures` folds their partials with ``base``."""

    chunks: list[dict[str, Any]]
    inputs: dict[str, Any]
    base: dict[str, Any]
    entries: int


@dataclass
class _Measured:
    slices: list[scope.Slice]
    base: dict[str, Any] = field(default_factory=dict)
    partial: Partial | None = None
    fan_out: FanOut | None = None


def _upload_meta(outcome: IngestOutcome) -> dict[str, Any]:
    return {k: v for k, v in outcome.meta.items() if k not in ("row_errors", "header")}


def _slices(session: Session, kind: str, preview: UploadPreview,
            outcome: IngestOutcome) -> list[scope.Slice]:
    if scope.is_reference(kind):
        return scope.reference_slices(session, kind, outcome.meta.get("affected_years"))
    return [(d, preview.year) for d in scope.module_dets(preview.module_type_id,
                                                         preview.data_entry_type_id)]


def _bounds(session: Session, det: int, year: int) -> tuple[int, int, int]:
    """The slice's lowest and highest entry id, and its entries."""
    lo, hi, n = session.execute(select(
        func.coalesce(func.min(DataEntry.id), 0), func.coalesce(func.max(DataEntry.id), 0),
        func.count()).where(DataEntry.data_entry_type_id == det,
                            DataEntry.year == year)).one()
    return int(lo), int(hi), int(n)


def _measure(session: Session, job: Job, kind: str, preview: UploadPreview,
             fan_out_at: int | None) -> tuple[IngestOutcome, _Measured | None]:
    """In the caller's savepoint: the ingest, then the figures (or the chunks' plan)."""
    module, year = preview.module_type_id, preview.year
    refs_before = scope.reference_rows(session) if scope.is_reference(kind) else None
    before: dict[int, Any] = {}
    if kind == scope.ENTRIES:  # the ingest deletes them: read them first
        for det in scope.module_dets(module, preview.data_entry_type_id):
            before[det] = slice_side(session, det, year)[0]
    outcome = (ingest_reference(session, job) if scope.is_reference(kind)
               else _INGEST[kind](session, job))
    if outcome.result == JobResult.ERROR:
        return outcome, None
    m = _Measured(_slices(session, kind, preview, outcome))
    m.base["upload"] = _upload_meta(outcome)
    m.base["factors"] = {"inserted": 0, "updated": 0, "retired": 0, "revived": 0,
                         "unchanged": 0, "changes": []}
    if kind == scope.FACTORS:
        m.base["factors"] = {**factor_changes(session, job.id),
                             "unchanged": int(outcome.meta.get("factors_unchanged", 0))}
    refs_after = None
    if refs_before is not None:
        refs_after = scope.reference_rows(session)
        m.base["reference"] = {
            "kind": kind, **{k: outcome.meta.get(k) for k in (
                "inserted", "updated", "unchanged", "revived", "retired", "affected_years")},
            "changes": scope.reference_diff(refs_before, refs_after, kind, LISTED_CHANGES)}
    # A factor file: only the entries the following recalculation rewrites need the engine.
    # (Not a reference file: planning would read the reference cache, which must never see
    # the savepoint's rows.)
    plans = {sl: scope.planned_entries(session, *sl) if kind == scope.FACTORS else None
             for sl in m.slices}
    bounds = {sl: _bounds(session, *sl) for sl in m.slices}
    entries = sum(n for _lo, _hi, n in bounds.values())
    work = sum(len(p) if p is not None else bounds[sl][2] for sl, p in plans.items())
    m.base["computed"] = work
    if (kind != scope.ENTRIES and fan_out_at is not None and work >= fan_out_at
            and dialect_of(session).raw_reads):
        inputs = ({"refs": refs_after} if refs_after is not None
                  else {"records": scope.factor_records(session, m.slices)})
        chunks = [{"det": det, "year": y, "lo": lo, "hi": hi, "entries": n,
                   "ids": _within(plans[(det, y)], lo, hi)}
                  for det, y in m.slices for lo, hi, n in slice_ranges(session, det, y)]
        m.fan_out = FanOut(chunks, inputs, m.base, entries)
        return outcome, m
    m.partial = Partial()
    refs = scope.refs_of(refs_after) if refs_after is not None else None
    for det, y in m.slices:
        if kind == scope.FACTORS:
            # Built here, never through the worker's cache: these factors are not committed.
            index: Any = build_index(det, y, load_factor_records(session, det, y))
            ctx_refs = load_reference_data(session)  # unchanged: the cached set is right
        elif kind == scope.ENTRIES:
            ctx = load_slice_context(session, det, y)  # factors and refs unchanged
            after, missing = slice_side(session, det, y, ctx.index, ctx.refs)
            m.partial.compare(det, MODULE_OF[DataEntryType(det)].value, before[det], after,
                              missing)
            continue
        else:
            assert refs is not None
            index, ctx_refs = load_factor_index(session, det, y), refs  # factors unchanged
        plan = plans[(det, y)]
        # Planned: the few entries in one pass; else in batches of RANGE entries.
        ranges = ([bounds[(det, y)]] if plan is not None and bounds[(det, y)][2]
                  else slice_ranges(session, det, y))
        for lo, hi, _n in ranges:
            measure_range(session, m.partial, det, y, lo, hi, index, ctx_refs, plan)
    m.partial.compact()
    return outcome, m


def _within(ids: list[int] | None, lo: int, hi: int) -> list[int] | None:
    return None if ids is None else [i for i in ids if lo <= i <= hi]


def finish_figures(session: Session, partial: Partial, base: dict[str, Any]
                   ) -> dict[str, Any]:
    """The stored figures: the folded partial, named, with the upload's own changes."""
    kind = base["kind"]
    names = unit_names(session, unit_ids(partial))
    out: dict[str, Any] = dict(figures(partial, base["dets"], names,
                                       by_group=kind == scope.ENTRIES))
    out.update({k: v for k, v in base.items()
                if k in ("factors", "reference", "upload", "computed")})
    out["kind"] = kind
    out["slices"] = base["slices"]
    return out


def compute_preview(session: Session, job: Job, *, fan_out_at: int | None = None
                    ) -> JobOutcome | FanOut:
    """The preview job's work: ingest and measure in a savepoint, roll it back, keep the
    figures (or, past ``fan_out_at`` entries on PostgreSQL, return the chunks to run). A
    file the ingest refuses finishes the job as ERROR with the ingest's message."""
    preview = session.scalar(select(UploadPreview).where(UploadPreview.job_id == job.id))
    if preview is None:  # discarded before it ran
        return JobOutcome(JobResult.WARNING, "Preview discarded before it was computed")
    kind = scope.kind_of(job)
    module, year = preview.module_type_id, preview.year
    savepoint = session.begin_nested()
    try:
        if not scope.is_reference(kind):
            # The ingest takes it too; taken first so the mark and the "before" reads are
            # made with no factor or entry write of this module and year in flight.
            locks.xact_lock(session, locks.FACTORS_VS_RECALC,
                            locks.module_year_key(module, year))
        mark = scope.inputs_mark(session, kind, module, year)
        outcome, measured = _measure(session, job, kind, preview, fan_out_at)
        if scope.inputs_mark(session, kind, module, year) != mark:
            mark = -1  # an input landed meanwhile (reference uploads take no lock)
    finally:
        savepoint.rollback()
    preview = session.scalar(select(UploadPreview).where(UploadPreview.job_id == job.id))
    if preview is None:
        return JobOutcome(JobResult.WARNING, "Preview discarded while it was computed")
    if measured is None:
        return JobOutcome(JobResult.ERROR, outcome.message, outcome.meta)
    base = {**measured.base, "kind": kind, "slices": [list(s) for s in measured.slices],
            "dets": sorted({d for d, _y in measured.slices}) if scope.is_reference(kind)
            else scope.module_dets(module, preview.data_entry_type_id),
            "mark": mark, "result": outcome.result.value,
            "message": preview_message(outcome.message),
            "row_errors": outcome.meta.get("row_errors", [])}
    preview.inputs_mark = mark
    if measured.fan_out is not None:
        measured.fan_out.base = base
        return measured.fan_out
    assert measured.partial is not None
    return store_figures(session, preview, measured.partial, base)


def preview_message(message: str) -> str:
    """The ingest's message up to its first ';' (what the file holds, not what the savepoint
    wrote: "0 previous entries replaced"), keeping its first row error: a data entry file's
    preview said "2 entries loaded, 6 rows skipped" and dropped which rows and why, which
    its upload says."""
    head = message.split(";")[0]
    first = message.partition(_FIRST_ERROR)[2]
    return f"{head}{_FIRST_ERROR}{first}" if first and _FIRST_ERROR not in head else head


_FIRST_ERROR = " — first error: "


def store_figures(session: Session, preview: UploadPreview, partial: Partial,
                  base: dict[str, Any]) -> JobOutcome:
    """Keep the figures on the preview; the job's outcome says what they show."""
    figs = finish_figures(session, partial, base)
    preview.figures = figs
    total = figs["total"]
    entries = _entries_phrase(*(sum(t[k] for t in figs["entries"])
                                for k in ("affected", "removed", "added")))
    return JobOutcome(
        JobResult(base["result"]), f"Preview {preview.id}: {base['message']}; "
        f"{entries}, total {total['before']:.6g} →"
        f" {total['after']:.6g} kg CO2-eq{_without_factor(figs)}",
        {"preview_id": preview.id, "row_errors": base.get("row_errors", [])})


def _without_factor(figs: Mapping[str, Any]) -> str:
    """"; 2 entries without a matching factor (…)" for a data entry file that has some."""
    n = new_without_factor(figs)
    return f"; {without_factor_phrase(n)}" if n else ""


def _entries_phrase(affected: int, removed: int, added: int) -> str:
    """"2 entries change, 3,074 removed, 3,074 added": a replacing upload gives every entry
    a new id, so its entries are counted as removed and added, not as changed twice over
    ("6148 entries change" for a type of 3,074 entries)."""
    changed = affected - added - removed
    parts = [f"{changed:,} {'entry changes' if changed == 1 else 'entries change'}"]
    parts += [f"{n:,} {what}" for n, what in ((removed, "removed"), (added, "added")) if n]
    return ", ".join(parts)
