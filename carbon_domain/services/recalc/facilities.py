"""Research-facility factors computed from the facility units' own emissions.

A facility is a unit whose institutional_id is the facility id. Operators upload the
facility factors (ids, names, use unit, source shares); before facility types are
recalculated, the pipeline merges the computed parts into them: the facility's emission
totals (from its freshly recalculated rows) and the total use over every consumer.

The emission totals come from the aggregation's partial sums for every slice they vouch for
(``services/recalc/slice_sums_read.py``, which writes nothing and takes no lock) and
from the rows for the others: the same exact numbers, without reading every row of the
facility units on the critical path of every pipeline that takes the facility types along.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from carbon_domain import names
from carbon_domain.catalog import DataEntryType, ModuleType
from carbon_domain.db import locks
from carbon_domain.db.base import utcnow
from carbon_domain.db.models import CarbonReport, CarbonReportModule, Factor, Unit
from carbon_domain.handlers.facilities import facility_factor_values, facility_total_uses
from carbon_domain.json_types import JsonObject
from carbon_domain.services.inputs import factor_history as history
from carbon_domain.services.recalc import chunk_sums, slice_sums_read

_FACILITY_DETS = (DataEntryType.research_facilities, DataEntryType.mice_and_fish_animal_facilities)
_DET_IDS = [d.value for d in _FACILITY_DETS]


def _facility_emissions(session: Session, unit_ids: list[int], year: int
                        ) -> dict[int, dict[int, float]]:
    """Emission totals per type of each facility unit: exact sums (numeric) over the rows of
    every other type of the unit's report, then rounded once to a float. Facility types
    themselves are excluded: a facility never pays a share of itself.

    The slices the aggregation's partial sums vouch for are read from them
    (``slice_sums_read.read_sums``: a few hundred cells), the others from their rows. Reading
    every row of the facility units (1M entries: 26,745 entries, 73,207 rows, ~47k buffer
    reads scattered over both tables) cost 0.32-0.54 s on a quiet machine and ~0.8 s beside
    the aggregation that runs at the same time, on the critical path between the two chords
    of every pipeline that takes the facility types along. Both give the same numbers:
    partial sums are the rows' kg as float8::numeric, summed exactly, as SUM does here."""
    out: dict[int, dict[int, float]] = {u: {} for u in unit_ids}
    if not unit_ids:
        return out
    unit_of = {int(crm): int(unit) for crm, unit in session.execute(
        select(CarbonReportModule.id, CarbonReport.unit_id)
        .join(CarbonReport, CarbonReport.id == CarbonReportModule.carbon_report_id)
        .where(CarbonReport.year == year, CarbonReport.unit_id.in_(unit_ids)))}
    others = [d.value for d in DataEntryType if d.value not in _DET_IDS]
    folded = slice_sums_read.read_sums(session, year, others, sorted(unit_of))
    totals: dict[tuple[int, int], tuple[Decimal, int]] = {}
    with localcontext(chunk_sums.EXACT):
        for (crm, et), (kg, n) in (folded.sums.items() if folded else ()):
            _add(totals, (unit_of[crm], et), kg, n)
        # The rest from the rows. Only catalog types have rows (a recalculation computes
        # them by the type's handler), so the types listed are every type there is.
        rest = sorted(set(others) - (folded.vouched if folded else set()))
        # Summed as exact numerics: a float8 SUM depends on the order the plan reads the
        # rows, which moved the last bits of the facility factors (and so of every facility
        # row) from one run to the next.
        rows = session.execute(text(
            "SELECT r.unit_id, e.emission_type_id, SUM(CAST(e.kg_co2eq AS NUMERIC)), count(*)"
            " FROM carbon_reports r"
            " JOIN carbon_report_modules m ON m.carbon_report_id = r.id"
            " JOIN data_entries d ON d.carbon_report_module_id = m.id"
            " JOIN data_entry_emissions e ON e.data_entry_id = d.id AND e.year = :y"
            " AND e.data_entry_type_id IN :dets AND e.data_entry_type_id = d.data_entry_type_id"
            " WHERE r.year = :y AND r.unit_id IN :units AND d.year = :y"
            " AND d.data_entry_type_id IN :dets GROUP BY 1, 2"
        ).bindparams(bindparam("units", expanding=True), bindparam("dets", expanding=True)),
            {"units": unit_ids, "y": year, "dets": rest}) if rest else ()
        for unit, et, kg, n in rows:
            _add(totals, (int(unit), int(et)), Decimal(kg), int(n))
    # In emission type order, so the float sums made from them (det 70's kg_co2eq_sum,
    # det 71's per-source sums) do not depend on the order rows or cells were read in.
    for (unit, et), (kg, n) in sorted(totals.items()):
        if et > 0 and n:  # not the entry-count pseudo types; only types with rows
            out[unit][et] = float(kg)
    return out


def _add(totals: dict[tuple[int, int], tuple[Decimal, int]], key: tuple[int, int],
         kg: Decimal, n: int) -> None:
    old = totals.get(key)
    totals[key] = (kg, n) if old is None else (old[0] + kg, old[1] + n)


@dataclass(frozen=True, slots=True)
class FacilityRefresh:
    """Facility factors whose values moved, and facility ids that name no unit."""

    updated: int
    facilities_without_unit: list[str]
# Facility entries read per round trip while their uses are summed (a server-side cursor).
STREAM_ROWS = 5_000


def _facility_entries(session: Session, year: int) -> Iterator[JsonObject]:
    """The year's facility entries, streamed: holding them in a list cost ~1 KB each in the
    worker process (785 B of Python objects per entry measured at 300k entries): ~165 MB
    for the ~164,000 facility entries of an 8M-entry year, the largest allocation a pool
    child ever made, and the one that put it above 250 MB."""
    rows = session.execute(text(
        "SELECT data FROM data_entries WHERE year = :y AND data_entry_type_id IN :dets"
    ).bindparams(bindparam("dets", expanding=True)).execution_options(yield_per=STREAM_ROWS),
        {"y": year, "dets": _DET_IDS})
    for (d,) in rows:
        yield json.loads(d) if isinstance(d, str) else d


def refresh_facility_factors(session: Session, year: int, job_id: int | None = None
                             ) -> FacilityRefresh:
    """Merge the computed parts into the year's live facility factors; each factor whose
    values move gets a ``computed`` history row naming ``job_id`` (the recalculation)."""
    locks.xact_lock(session, locks.FACTORS_VS_RECALC,
                    locks.module_year_key(ModuleType.research_facilities.value, year))
    units = {names.norm(u.institutional_id): u.id for u in session.scalars(
        select(Unit).where(Unit.institutional_id.is_not(None)))}
    updated, unknown = 0, []
    log: list[history.Change] = []
    factors = {det: list(session.scalars(select(Factor).where(
        Factor.data_entry_type_id == det.value, Factor.year == year,
        Factor.retired_at.is_(None))))
        for det in _FACILITY_DETS}
    emissions = _facility_emissions(session, sorted({
        units[k] for fs in factors.values() for f in fs
        if (k := names.norm((f.classification or {}).get("researchfacility_id"))) in units}),
        year)
    # Retired factors are history: they are never matched, so never refreshed either.
    known: list[tuple[DataEntryType, Factor, str, int]] = []
    for det in _FACILITY_DETS:
        for f in factors[det]:
            fid = (f.classification or {}).get("researchfacility_id")
            unit_id = units.get(names.norm(fid))
            if unit_id is None:
                unknown.append(fid)
            else:
                known.append((det, f, str(fid), unit_id))
    uses = facility_total_uses(_facility_entries(session, year), [
        (fid, (f.values or {}).get("use_unit")) for _, f, fid, _ in known])
    for (det, f, _, unit_id), total_use in zip(known, uses, strict=True):
        computed = facility_factor_values(det.value, emissions[unit_id], total_use)
        new_values = {**(f.values or {}), **computed}
        if new_values != f.values:
            # Logged first: the UPDATE synchronises ``f`` to the new values.
            log.append((f.id, history.COMPUTED, f.values, new_values))
            session.execute(update(Factor).where(Factor.id == f.id).values(
                values=new_values, updated_at=utcnow()))
            updated += 1
    history.record(session, job_id, history.job_author(session, job_id), log)
    return FacilityRefresh(updated, sorted({str(u) for u in unknown}))
