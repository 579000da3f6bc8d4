"""Full `it` slice recalculation beside the revision of one `it` factor (recalculate=true),
both end to end: trigger → rows rewritten → statistics fresh (the pipeline has ended).

After the revision the `it` rows are checked against the engine run in-process over the
whole slice with the revised factors: incremental must leave exactly the rows a full
recalculation would (count and total kg). So are the research-facility types the pipeline
takes along (``facility_same_as_full``): their computed factor values against the facility
units' rows summed afresh, and every facility row against the engine over both slices."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

IT_MODULE, IT_DET = 4, 11
POLL = 0.05  # the figure is ~1 s: the default 0.2 s poll would blur it


def full_it_slice(year: int) -> dict[str, Any]:
    from carbon_tasks.operations import trigger_recalculation
    from carbon_tasks.waiting import wait_for_pipeline

    t0 = time.perf_counter()
    acc = trigger_recalculation(module=IT_MODULE, det=IT_DET, year=year, created_by="bench")
    status = wait_for_pipeline(acc.pipeline_id, timeout=1800, poll=POLL).status
    return {"seconds": time.perf_counter() - t0, "status": status}


def revised_it_factors(path: Path) -> tuple[bytes, str]:
    """The seed's `it` factor file with one factor's EF changed (a new value each run, so a
    reused database still sees a change)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header, body = rows[0], rows[1:]
    col = header.index("ef_kg_co2eq_per_kwh")
    target = next(i for i, r in enumerate(body) if r[header.index("sub_class")])
    # A new value each call (the previews of one run come within a second of each other).
    body[target][col] = f"{0.125 + (time.time_ns() // 1000 % 99_991 + 1) / 10_000_000:.7f}"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows([header, *body])
    row = body[target]
    label = f"{row[header.index('equipment_class')]}/{row[header.index('sub_class')]}"
    return buf.getvalue().encode(), label


def one_factor_revision(year: int, factor_file: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from carbon_domain.db.models import DataIngestionJob as Job
    from carbon_domain.db.models import RecalcChunk
    from carbon_domain.db.session import session_scope
    from carbon_tasks.operations import start_upload
    from carbon_tasks.waiting import wait_for_pipeline

    body, label = revised_it_factors(factor_file)
    wall0 = time.time()
    t0 = time.perf_counter()
    acc = start_upload("factors", body, module=IT_MODULE, det=IT_DET, year=year,
                       recalculate=True, created_by="bench")
    status = wait_for_pipeline(acc.pipeline_id, timeout=1800, poll=POLL).status
    seconds = time.perf_counter() - t0
    import uuid
    with session_scope() as s:
        recalc_ids = list(s.scalars(select(Job.id).where(
            Job.pipeline_id == uuid.UUID(acc.pipeline_id), Job.job_type == "emission_recalc")))
        entries = s.scalar(select(func.coalesce(func.sum(RecalcChunk.entries), 0)).where(
            RecalcChunk.job_id.in_(recalc_ids)))
    out = {"seconds": seconds, "status": status, "factor": label,
           "entries_recalculated": int(entries or 0),
           "timeline": timeline(str(acc.pipeline_id), wall0)}
    out.update(facility_check(year))
    print(f"  facility types after the revision: {out['facility_rows']:,} rows, computed"
          f" factors as from the rows: {out['facility_factors_as_rows']}, rows as a full"
          f" recalculation: {out['facility_same_as_full']}", flush=True)
    if not (out["facility_same_as_full"] and out["facility_factors_as_rows"]):
        raise SystemExit("exactness check failed: facility types after one revised factor")
    return out


FACILITY_DETS = (70, 71)


def facility_check(year: int) -> dict[str, Any]:
    """Untimed: what a full recalculation gives the facility types now. Their factors'
    computed values from the facility units' rows summed straight from
    ``data_entry_emissions`` (exact numerics, as the refresh did before it read the partial
    sums) and the facility entries' uses; then every facility row against the engine over
    both slices with those factors (exact tuples, not totals)."""
    from sqlalchemy import bindparam, select, text

    from carbon_domain import names
    from carbon_domain.db.models import Factor, Unit
    from carbon_domain.db.session import session_scope
    from carbon_domain.engine import compute_batch
    from carbon_domain.handlers.facilities import facility_factor_values, facility_total_uses
    from carbon_domain.services.inputs.slices import clear_caches, load_slice_context

    clear_caches()  # the factors the pipeline refreshed, not this process's cached ones
    with session_scope() as s:
        units = {names.norm(u.institutional_id): u.id for u in s.scalars(
            select(Unit).where(Unit.institutional_id.is_not(None)))}
        factors = list(s.scalars(select(Factor).where(
            Factor.data_entry_type_id.in_(FACILITY_DETS), Factor.year == year,
            Factor.retired_at.is_(None)).order_by(Factor.id)))
        known = [(f, units[k]) for f in factors
                 if (k := names.norm((f.classification or {}).get("researchfacility_id")))
                 in units]
        sums: dict[int, dict[int, float]] = {uid: {} for _, uid in known}
        for unit, by_type in unit_totals_from_rows(s, year, sorted(sums) or [0]).items():
            sums[unit].update(by_type)
        entries = [d for (d,) in s.execute(text(
            "SELECT data FROM data_entries WHERE year = :y AND data_entry_type_id IN :dets")
            .bindparams(bindparam("dets", expanding=True)),
            {"y": year, "dets": list(FACILITY_DETS)})]
        uses = facility_total_uses(entries, [
            ((f.classification or {}).get("researchfacility_id"),
             (f.values or {}).get("use_unit")) for f, _ in known])
        factors_ok = all(
            {k: (f.values or {}).get(k) for k in computed} == computed
            for (f, uid), use in zip(known, uses, strict=True)
            for computed in [facility_factor_values(f.data_entry_type_id, sums[uid], use)])
        got: list[tuple[Any, ...]] = []
        want: list[tuple[Any, ...]] = []
        for det in FACILITY_DETS:
            got += [tuple(r) for r in s.execute(text(
                "SELECT e.data_entry_id, e.emission_type_id, e.scope, e.kg_co2eq,"
                " e.additional_value, e.primary_factor_id FROM data_entry_emissions e"
                " JOIN data_entries d ON d.id = e.data_entry_id"
                " WHERE d.data_entry_type_id = :d AND d.year = :y"), {"d": det, "y": year})]
            batch = [(i, d) for i, d in s.execute(text(
                "SELECT id, data FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
                " ORDER BY id"), {"d": det, "y": year})]
            ctx = load_slice_context(s, det, year)
            want += [tuple(r[:6]) for r in compute_batch(det, batch, ctx.index, ctx.refs).rows]

    def key(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (r[0], r[1], -1 if r[5] is None else r[5], r[3])
    return {"facility_rows": len(got), "facility_factors_as_rows": factors_ok,
            "facility_same_as_full": sorted(got, key=key) == sorted(want, key=key)}


def timeline(pipeline_id: str, wall0: float) -> list[str]:
    """Each job's and chunk's stamps in seconds after the upload call (the database's
    clock is this machine's): where the end-to-end time goes."""
    import uuid

    from sqlalchemy import text

    from carbon_domain.db.session import session_scope

    out = []
    with session_scope() as s:
        end = s.scalar(text("SELECT extract(epoch FROM finished_at) FROM pipelines"
                            " WHERE id = :p"), {"p": uuid.UUID(pipeline_id)})
        out.append(f"pipeline finished {float(end or wall0) - wall0:.2f}")
        for jid, jt, det, c, disp, st, fin in s.execute(text(
                "SELECT id, job_type, data_entry_type_id, extract(epoch FROM created_at),"
                " extract(epoch FROM dispatched_at), extract(epoch FROM started_at),"
                " extract(epoch FROM finished_at)"
                " FROM data_ingestion_jobs WHERE id >= (SELECT min(id) FROM data_ingestion_jobs"
                " WHERE pipeline_id = :p) ORDER BY id"),  # the bench's database: ours alone
                {"p": uuid.UUID(pipeline_id)}):
            def rel(x: Any) -> str:
                return "-" if x is None else f"{float(x) - wall0:.2f}"
            out.append(f"job {jid} {jt} det={det}: created {rel(c)} dispatched {rel(disp)}"
                       f" started {rel(st)} finished {rel(fin)}")
            for no, n, secs, f in s.execute(text(
                    "SELECT chunk_no, entries, seconds, extract(epoch FROM finished_at)"
                    " FROM recalc_chunks WHERE job_id = :j ORDER BY chunk_no"), {"j": jid}):
                out.append(f"  chunk {no}: {n} entries, body {secs or 0:.2f} s,"
                           f" finished {rel(f)}")
    return out


def expected_it_totals(year: int) -> tuple[int, float]:
    """The `it` rows a full recalculation writes now, computed in-process (untimed)."""
    from sqlalchemy import text

    from carbon_domain.db.session import session_scope
    from carbon_domain.engine import compute_batch
    from carbon_domain.services.inputs.slices import load_slice_context

    with session_scope() as s:
        entries = [(i, d) for i, d in s.execute(text(
            "SELECT id, data FROM data_entries WHERE data_entry_type_id = :d AND year = :y"
            " ORDER BY id"), {"d": IT_DET, "y": year})]
        ctx = load_slice_context(s, IT_DET, year)
        res = compute_batch(IT_DET, entries, ctx.index, ctx.refs)
    return len(res.rows), sum(r[3] for r in res.rows)


def preview_one_factor(year: int, factor_file: Path, *, chunked: bool = True
                       ) -> dict[str, Any]:
    """The impact preview of the same one-factor revision, end to end: the call → the
    preview job finished with its figures (nothing written but the figures). ``chunked``:
    the slice measured by chunks on the workers (the default), or by the preview job
    alone (the A/B)."""
    from carbon_domain.db.session import session_scope
    from carbon_domain.services.preview.previews import read_preview
    from carbon_tasks.previews import start_factor_preview
    from carbon_tasks.waiting import wait_for_pipeline

    body, label = revised_it_factors(factor_file)
    t0 = time.perf_counter()
    acc, preview_id = start_factor_preview(body, filename="11_it.csv", module=IT_MODULE,
                                           det=IT_DET, year=year, created_by="bench",
                                           chunked=chunked)
    status = wait_for_pipeline(acc.pipeline_id, timeout=1800, poll=POLL).status
    seconds = time.perf_counter() - t0
    with session_scope() as s:
        figures = read_preview(s, preview_id).figures or {}
    types = figures.get("entries", [])
    return {"seconds": seconds, "status": status, "factor": label, "chunked": chunked,
            "entries_computed": sum(t["entries"] for t in types),
            "entries_affected": sum(t["affected"] for t in types)}


def unit_totals_from_rows(session: Any, year: int, units: list[int]
                          ) -> dict[int, dict[int, float]]:
    """Each unit's emission totals per emission type over every type but the facility ones,
    summed from the rows (exact, then float): what the facility refresh must have read."""
    from sqlalchemy import bindparam, text

    out: dict[int, dict[int, float]] = {}
    for unit, et, kg in session.execute(text(
            "SELECT r.unit_id, e.emission_type_id, SUM(CAST(e.kg_co2eq AS NUMERIC))"
            " FROM carbon_reports r JOIN carbon_report_modules m ON m.carbon_report_id = r.id"
            " JOIN data_entries d ON d.carbon_report_module_id = m.id"
            " JOIN data_entry_emissions e ON e.data_entry_id = d.id"
            " WHERE r.year = :y AND r.unit_id IN :units AND d.year = :y"
            " AND d.data_entry_type_id NOT IN :dets GROUP BY 1, 2 ORDER BY 1, 2")
            .bindparams(bindparam("units", expanding=True), bindparam("dets", expanding=True)),
            {"y": year, "units": units, "dets": list(FACILITY_DETS)}):
        out.setdefault(int(unit), {})[int(et)] = float(kg)
    return out
