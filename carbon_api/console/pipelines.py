"""How the console words and shapes pipelines: the domain's pipeline views
(``carbon_domain.services.reads.pipeline_reads``, the reads the API and the CLI use too) turned
into what the templates show — texts, icons, phase chips, the timeline's sentences and the
abort confirmation. No reads of its own."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from carbon_api.console.adapters import label
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db.enums import JobType, PipelineStatus
from carbon_domain.services.reads import pipeline_console as pc
from carbon_domain.services.reads.display_state import NOT_ON_BROKER, WAITING_FOR_WORKER
from carbon_domain.services.reads.pipeline_console import QUEUED, SUCCESS_WITH_WARNINGS
from carbon_domain.services.reads.pipeline_reads import PipelineDetailView, PipelineView

# Keyed by display status (pipeline_console.display_status): a SUCCESS with a WARNING job is
# never worded or coloured as a plain success, a pipeline no worker has started never as
# running.
STATUS_TEXT = {QUEUED: f"Queued — {WAITING_FOR_WORKER}", "RUNNING": "Running",
               "SUCCESS": "Succeeded",
               SUCCESS_WITH_WARNINGS: "Succeeded with warnings", "PARTIAL": "Partly failed",
               "FAILED": "Failed", "ABORTED": "Aborted", "NOT_STARTED": "Not started"}
STATUS_ICON = {QUEUED: "⧗", "RUNNING": "⟳", "SUCCESS": "✓", SUCCESS_WITH_WARNINGS: "⚠",
               "PARTIAL": "◐", "FAILED": "✗", "ABORTED": "■", "NOT_STARTED": "…"}
# The status filter's choices: the stored statuses, and QUEUED (RUNNING, nothing started).
# A QUEUED pipeline whose jobs are not on the broker yet (pipeline_facts.waiting_for): the
# same words as its types'.
UNSENT_TEXT = f"Queued — {NOT_ON_BROKER}"
# A count or a filter groups queued pipelines whatever each waits for (a worker, or the
# broker): it says only what they share. Rows and cards say what each one waits for.
GROUP_TEXT = {**STATUS_TEXT, QUEUED: "Queued, not started"}
FILTER_STATUSES = [s.value for s in PipelineStatus]
FILTER_STATUSES.insert(FILTER_STATUSES.index(PipelineStatus.RUNNING.value), QUEUED)
KIND_TEXT: dict[str, str] = {
             JobType.factor_ingest: "Factor upload", JobType.csv_ingest: "Data upload",
             JobType.reference_ingest: "Reference upload", JobType.unit_sync: "Units upload",
             JobType.emission_recalc: "Type recalculation",
             JobType.module_emission_recalc: "Module recalculation",
             JobType.aggregation: "Aggregation", JobType.factor_preview: "Impact preview"}
_RECALC_KINDS = (JobType.emission_recalc, JobType.module_emission_recalc)
_EVENT_TEXT = {"created": "created", "dispatched": "queued", "started": "started",
               "heartbeat": "last heartbeat"}

Filters = pc.PipelineFilters


def _named(kind: type[IntEnum], value: int | None, absent: str) -> str:
    """The label of a catalog id; ``absent`` for none, the id itself for an unknown one."""
    if value is None:
        return absent
    try:
        return label(kind(value).name)
    except ValueError:
        return str(value)


def module_label(module: int | None) -> str:
    return _named(ModuleType, module, "—")


def det_label(det: int | None) -> str:
    return _named(DataEntryType, det, "whole module")


def scope_label(module: int | None, det: int | None) -> str:
    """What a job covers: its type ("IT"), else its whole module ("Equipment (whole
    module)": an aggregation, a module recalculation), else no module (units, reference
    data)."""
    if det is not None:
        return det_label(det)
    return f"{module_label(module)} (whole module)" if module is not None else "no module"


_PHASE_STATE = {"absent": "none", "pending": "queued", "running": "running"}
_RESULT_STATE = {"ERROR": "failed", "WARNING": "warning"}


def _phases(v: PipelineView) -> list[dict[str, Any]]:
    """The phases as chips: absent phases only where this kind of pipeline has them still
    to come."""
    recalcs = next((ph.jobs_total for ph in v.phases if ph.name == "recalculation"), 0)
    expected = {"ingest": v.kind in pc.INGEST, "recalculation": v.kind in _RECALC_KINDS,
                "aggregation": bool(recalcs) or v.kind in _RECALC_KINDS}
    out = []
    for ph in v.phases:
        state = _PHASE_STATE.get(ph.state) or _RESULT_STATE.get(ph.result or "", "done")
        # A phase that has not run stays shown while it may still come, not after the end.
        if state == "none" and (v.finished or not expected[ph.name]):
            continue
        text = ""
        if ph.name == "recalculation" and ph.chunks_total:
            text = f"chunks {ph.chunks_done}/{ph.chunks_total}" + pc.chunks_left_text(ph)
        out.append({"name": ph.name, "state": state, "text": text})
    return out


def abort_confirm(v: PipelineView) -> str:
    """What an abort of this pipeline does, said before it is done (job fences: a stopped
    upload writes nothing; a chunk commits alone, so written chunks stay)."""
    running = {ph.name for ph in v.phases if ph.state in ("pending", "running")}
    text = ("Abort this pipeline? Its active jobs stop and finish as ERROR (aborted); "
            "queued tasks are revoked.")
    if "ingest" in running:
        # Nothing landed, so recovery has nothing to re-run: the file is uploaded again.
        return text + (" The upload is stopped before it is applied: nothing of the file is "
                       "written.")
    if "recalculation" in running:
        # A full recalculation writes a stage swapped in at its finish (dropped on abort);
        # an incremental one rewrites its entries' rows chunk by chunk.
        text += (" A full recalculation keeps nothing of its chunks (its types keep their "
                 "previous numbers); an incremental one's chunks already recalculated stay "
                 "written, so its types are left partly recalculated. The module totals are "
                 "not re-aggregated by this run.")
    elif "aggregation" in running:
        text += " The module totals keep their previous values."
    if v.module_type_id is not None and v.year is not None:
        text += " Afterwards, “Recalculate what this run left” re-runs its types."
    return text


def recover_confirm(v: PipelineView) -> str:
    names = ", ".join(det_label(d) for d in v.recoverable_types)
    return (f"Recalculate what this run left? A new pipeline recalculates {names} of "
            f"{module_label(v.module_type_id)} {v.year or ''}, whatever their status says."
            ).replace("  ", " ")


def kind_text(v: PipelineView) -> str:
    """"Factor upload", or "Factor upload — undo of job 31" for a revert: without it, an undo
    read as one more upload of the same scope, and nothing said which upload it took back."""
    text = KIND_TEXT.get(v.kind, v.kind)
    return text if v.reverts_job_id is None else f"{text} — undo of job {v.reverts_job_id}"


def summary(v: PipelineView) -> dict[str, Any]:
    """What a row, a card or a stream event shows of a pipeline."""
    message = v.message
    if v.finished and v.ingest is not None:
        message = v.ingest.status_message or message
    ingest = v.ingest
    phases = _phases(v)
    shown = v.display_status
    text = UNSENT_TEXT if v.waiting_for == "broker" else STATUS_TEXT.get(shown, shown)
    return {
        "id": str(v.pipeline_id), "kind": v.kind, "kind_text": kind_text(v),
        "reverts_job_id": v.reverts_job_id,
        "status": v.status, "display_status": shown,
        "status_text": text,
        "status_icon": STATUS_ICON.get(shown, "?"), "terminal": v.finished,
        "warning_count": v.warning_count,
        "module": v.module_type_id, "module_label": module_label(v.module_type_id),
        "det": v.data_entry_type_id, "year": v.year, "created_by": v.created_by,
        "created_at": v.created_at, "duration": v.duration_seconds, "message": message,
        "error_count": v.error_count, "phases": phases,
        "types": [{"det": t.data_entry_type_id, "label": det_label(t.data_entry_type_id),
                   "done": t.done, "total": t.total, "state": t.state, "result": t.result,
                   "message": t.status_message} for t in v.types],
        "result": ingest.result if ingest else None,
        "row_errors": ingest.row_errors if ingest else [],
        "skipped": ingest.skipped if ingest else 0, "stuck": v.stuck,
        # Running, and nothing of it moved for minutes: said on the card and in the row.
        "silence": v.silence.text[:1].upper() + v.silence.text[1:] if v.silence else None,
        "upload_id": ingest.upload_id if ingest else None,
        "can_abort": v.can_abort, "can_recover": v.can_recover,
        "abort_confirm": abort_confirm(v), "recover_confirm": recover_confirm(v),
        # What a module card's "Recalculating…" link shows, updated by the page's stream.
        "progress_text": next((ph["text"] for ph in phases if ph["name"] == "recalculation"
                               and ph["text"]), None) or text,
    }


def detail(d: PipelineDetailView) -> dict[str, Any]:
    """Summary plus jobs, timeline and coalescing, for the expanded row."""
    out = summary(d)
    out["jobs"] = [{"id": j.id, "type": KIND_TEXT.get(j.job_type, j.job_type),
                    "type_label": scope_label(j.module_type_id, j.data_entry_type_id),
                    "state": j.state,
                    "result": j.result, "message": j.status_message,
                    "attempts": j.attempts, "stuck": j.stuck,
                    "joined": j.pipeline_id != d.pipeline_id,
                    "progress": f"{j.progress.done}/{j.progress.total}"}
                   for j in d.jobs]
    modules = {j.id: j.module_type_id for j in d.jobs}
    timeline = []
    for e in d.timeline:
        if e.job_id is None:
            what = "pipeline created" if e.event == "created" else f"pipeline {e.detail}"
        else:
            name = (f"{KIND_TEXT.get(e.job_type or '', e.job_type)} #{e.job_id} "
                    f"({scope_label(modules.get(e.job_id), e.data_entry_type_id)})")
            what = f"{name} " + (f"finished {e.detail or ''}".strip() if e.event == "finished"
                                 else e.detail or "" if e.event == "heartbeat"
                                 else _EVENT_TEXT[e.event])
        timeline.append((e.at, what))
    out["timeline"] = timeline
    out["coalesced"] = [f"{j.coalesced_recalculations} recalculations → 1 aggregation "
                        f"(#{j.id})" for j in d.jobs if (j.coalesced_recalculations or 0) > 1]
    return out
