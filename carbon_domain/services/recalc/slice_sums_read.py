"""Reading the slice sums the aggregation's fold would give, without folding
(services/recalc/slice_sums.py): for a reader that must not wait for an aggregation, the
research-facility refresh (services/recalc/facilities.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from sqlalchemy import text
from sqlalchemy.orm import Session

from carbon_domain.db.dialect import dialect_of
from carbon_domain.services.recalc import chunk_sums, slice_sums


@dataclass(frozen=True)
class ReadSums:
    """``read_sums``' answer: exact kg and row count per (report module, emission type)
    over the slices it could vouch for, and the slices it could not (read their rows)."""

    sums: dict[tuple[int, int], tuple[Decimal, int]]
    vouched: frozenset[int]


def read_sums(session: Session, year: int, dets: Iterable[int], crm_ids: Sequence[int]
              ) -> ReadSums | None:
    """The sums the aggregation's fold would give the slices ``dets`` of ``year``, for the
    report modules ``crm_ids`` only, without folding: no write and no year lock, so it does
    not wait for an aggregation that holds the lock (the research-facility refresh reads
    the facility units' sums this way while the aggregation of the types it follows runs,
    services/recalc/facilities.py). None when the dialect keeps no exact sums.

    Each slice is planned as the fold plans it (``slice_sums.fold_plans``); a slice it would
    rebuild, or that is being rewritten, is left out of ``vouched``. The folded sums, the
    partials of the jobs still to fold and the slices' versions are then read in one
    statement (one snapshot): a slice whose version moved in between (an aggregation folded
    it) is left out too. Each vouched slice's sums are its folded sums (none when a full job
    starts the fold) plus its jobs' partials, exactly what the fold would store."""
    if not dialect_of(session).exact_sums:
        return None
    plans = {det: plan for det, plan in slice_sums.fold_plans(session, year, list(dets)).items()
             if plan is not None and not plan.rebuild}
    crms = sorted(set(crm_ids))
    if not plans or not crms:
        return ReadSums({}, frozenset(plans))
    job_det = {j: det for det, p in plans.items() for j in p.jobs}
    # A slice whose fold starts with a full job replaces its folded sums: none are read.
    base = [det for det, p in plans.items() if not p.full]
    rows = session.execute(text(
        "SELECT 0, data_entry_type_id, job_id, 0, NULL::numeric, 0 FROM slice_sum_versions"
        " WHERE year = :y AND data_entry_type_id = ANY(:dets)"
        " UNION ALL SELECT 1, data_entry_type_id, carbon_report_module_id, emission_type_id,"
        " kg, n FROM slice_emission_sums WHERE year = :y AND data_entry_type_id = ANY(:base)"
        " AND carbon_report_module_id = ANY(:crms)"
        " UNION ALL SELECT 2, r.job_id, (c ->> 0)::int, (c ->> 1)::int, (c ->> 2)::numeric,"
        " (c ->> 3)::bigint FROM recalc_chunks r, jsonb_array_elements(r.partials -> 'sums') c"
        " WHERE r.job_id = ANY(:jobs) AND (c ->> 0)::int = ANY(:crms)"
        # A done chunk keeps its partials until a fold drops them (and moves the version).
        " UNION ALL SELECT 3, job_id, 0, 0, NULL::numeric, 0 FROM recalc_chunks"
        " WHERE job_id = ANY(:jobs) AND partials IS NULL"),
        {"y": year, "dets": list(plans), "base": base, "crms": crms,
         "jobs": sorted(job_det)}).all()
    versions: dict[int, int] = {}
    moved: set[int] = set()
    cells: list[tuple[int, int, int, Decimal, int]] = []  # (det, crm, emission type, kg, n)
    for kind, a, b, c, kg, n in rows:
        if kind == 0:
            versions[int(a)] = int(b)
        elif kind == 1:
            cells.append((int(a), int(b), int(c), kg, int(n)))
        elif kind == 2:
            cells.append((job_det[int(a)], int(b), int(c), kg, int(n)))
        else:
            moved.add(job_det[int(a)])
    moved |= {det for det, p in plans.items() if versions.get(det) != p.stored}
    sums: dict[tuple[int, int], tuple[Decimal, int]] = {}
    with localcontext(chunk_sums.EXACT):
        for det, crm, et, kg, n in cells:
            if det in moved:
                continue
            old = sums.get((crm, et))
            sums[(crm, et)] = (kg, n) if old is None else (old[0] + kg, old[1] + n)
    return ReadSums(sums, frozenset(plans) - moved)
