"""Which entries of a (type, year) slice a recalculation must touch: incremental planning.

A recalculation requested after factor uploads rewrites only the entries whose rows can
change. Its base is the last successful recalculation of the slice: that job stored, at
planning, the *inputs watermark* W — the highest input job id (factor, data entry or
reference upload of a kind the type reads) below every input job still active then, so every
change by a job ≤ W had committed before its chunks read. Since then:

- a data entry upload (id > W), or a factor deleted instead of retired (the slice's factor
  count up to the base's highest id dropped) → full recalculation;
- reference rows (stations, rooms, rates) changed by a later upload add the entries that
  read them (services/recalc/affected_refs.py);
- factors with ``changed_by_job_id > W`` (inserted, revised, retired or revived; the factor
  upload stamps it) are the changed set C; none → nothing to recalculate;
- Strategy A types (one linked factor): an entry is affected when its stored link is in C or
  its match under today's factors differs from the stored link (a factor added where a
  kind-only fallback matched before, a retired factor, …). The link is re-matched by the
  same index the engine uses, so this is exact, not a heuristic;
- plane: entries of a cabin that has a changed band; train: entries whose country has a
  changed factor (all, if the RoW fallback changed); embodied energy: entries of a building
  with a changed category (all, if ``default`` changed);
- headcount (every entry reads every factor) and research facilities (their factors are
  recomputed from other modules right before they run) → full.

Taking more entries than needed is always exact (a recalculated entry gets the rows a full
run gives it), so every doubt falls back to more entries or to a full run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carbon_domain import formulas, names
from carbon_domain.catalog import DEPENDS_ON_OTHER_MODULES
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.db.dialect import dialect_of
from carbon_domain.db.enums import ACTIVE_STATES, JobResult, JobState, JobType
from carbon_domain.db.models import DataIngestionJob as Job
from carbon_domain.db.models import Factor, Pipeline
from carbon_domain.engine import LINK_KEY
from carbon_domain.formula_versions import formula_change
from carbon_domain.json_types import JsonObject
from carbon_domain.matching import MATCH_SPECS, PURCHASE_DETS
from carbon_domain.services.inputs.slices import load_factor_index, load_reference_data
from carbon_domain.services.jobs.job_meta import job_config
from carbon_domain.services.recalc.affected_refs import (
    FULL,
    RefChange,
    reference_change,
)
from carbon_domain.services.recalc.inputs_read import relevant_inputs

# Past this share of the slice a full run (id ranges, sequential reads) is cheaper.
FULL_SHARE = 0.5


@dataclass(frozen=True)
class Scope:
    entry_ids: list[int] | None  # None: every entry of the slice
    reason: str
    base_job_id: int | None = None
    changed_factors: int = 0

    def describe(self) -> JsonObject:
        return {"incremental": self.entry_ids is not None, "reason": self.reason,
                "base_job_id": self.base_job_id, "changed_factors": self.changed_factors,
                "entries": None if self.entry_ids is None else len(self.entry_ids)}


def plan_marks(session: Session, module: int, det: int, year: int) -> dict[str, int]:
    """What a later incremental run compares against, recorded when a job is planned:
    ``inputs_watermark``, the highest finished input job id below every active input job of
    the slice, and the slice's factor count and highest factor id (a factor deleted behind
    the application's back, rather than retired, shows as a lower count)."""
    cond = relevant_inputs(module, det, year)
    active = session.scalar(select(Job.id).where(cond, Job.state.in_(ACTIVE_STATES))
                            .order_by(Job.id).limit(1))
    q = select(Job.id).where(cond, Job.state == JobState.FINISHED)
    if active is not None:
        q = q.where(Job.id < active)
    n, top = session.execute(select(func.count(), func.coalesce(func.max(Factor.id), 0)).where(
        Factor.data_entry_type_id == det, Factor.year == year)).one()
    return {"inputs_watermark": int(session.scalar(q.order_by(Job.id.desc()).limit(1)) or 0),
            "factor_count": int(n), "factor_max_id": int(top)}


def _full_requested(session: Session, job: Job) -> str | None:
    if job_config(job.meta).full:
        return "a full recalculation was requested"
    kind = session.scalar(select(Pipeline.kind).where(Pipeline.id == job.pipeline_id))
    if kind == JobType.emission_recalc:
        return "an operator recalculates this type"
    if kind == JobType.module_emission_recalc:
        root = session.scalar(select(Job.meta).where(
            Job.pipeline_id == job.pipeline_id, Job.job_type == JobType.module_emission_recalc))
        if not job_config(root).only_stale:
            return "all types of the module were requested"
    return None


def plan_scope(session: Session, job: Job) -> Scope:
    """The entries this recalculation job must rewrite (None = the whole slice)."""
    # A recalculation job always names its (module, type, year).
    assert job.module_type_id is not None and job.data_entry_type_id is not None
    assert job.year is not None
    det = int(job.data_entry_type_id)
    module, year = int(job.module_type_id), int(job.year)
    why = _full_requested(session, job)
    if why:
        return Scope(None, why)
    if D(det) in DEPENDS_ON_OTHER_MODULES:
        return Scope(None, "facility factors follow their source units")
    base = session.execute(
        select(Job.id, Job.result, Job.meta).where(
            Job.job_type == JobType.emission_recalc, Job.module_type_id == module,
            Job.data_entry_type_id == det, Job.year == year, Job.id < job.id,
            Job.state == JobState.FINISHED, Job.result != JobResult.ERROR)
        .order_by(Job.id.desc()).limit(1)).first()
    changed_formula = None if base is None else formula_change(det, base.meta)
    if changed_formula:  # every row of the slice was computed with the old formula
        return Scope(None, changed_formula, base.id if base else None)
    config = None if base is None else job_config(base.meta)
    if base is None or config is None or config.inputs_watermark is None:
        return Scope(None, "no earlier successful recalculation to start from")
    w = config.inputs_watermark
    still = session.scalar(select(func.count()).where(
        Factor.data_entry_type_id == det, Factor.year == year,
        Factor.id <= config.factor_max_id))
    if still != config.factor_count:
        return Scope(None, "a factor was deleted (not retired)", base.id)
    newer = session.scalar(select(Job.id).where(
        relevant_inputs(module, det, year), Job.job_type == JobType.csv_ingest, Job.id > w,
        Job.state == JobState.FINISHED).limit(1))
    if newer is not None:
        return Scope(None, f"entries changed (job {newer})", base.id)
    ref = reference_change(session, det, year, w)
    if ref == FULL:
        return Scope(None, "reference data changed; every entry reads it", base.id)
    changed = session.execute(select(Factor.id, Factor.classification).where(
        Factor.data_entry_type_id == det, Factor.year == year,
        Factor.changed_by_job_id > w)).all()
    n = len(changed)
    what = ", ".join([*([f"{n} factor{'s' if n != 1 else ''} changed"] if n else []),
                      *([ref.what] if isinstance(ref, RefChange) else [])])
    if not what:
        return Scope([], "no factor or reference data changed", base.id)
    found = _affected(session, det, year, {int(i): c or {} for i, c in changed}) if n else (
        [], 0)
    if found is None:
        return Scope(None, f"{what}; every entry reads them", base.id, n)
    if isinstance(ref, RefChange):
        more, total = _pick(_entries(session, det, year, ref.keys), ref.hit)
        found = sorted(set(found[0]) | set(more)), total
    ids, total = found
    if total and len(ids) > FULL_SHARE * total:
        return Scope(None, f"{what}; {len(ids)} of {total} entries affected", base.id, n)
    return Scope(ids, what, base.id, n)


def _entries(session: Session, det: int, year: int, keys: tuple[str, ...]
             ) -> Iterator[tuple[list[int], JsonObject]]:
    """The slice's entries grouped by the values of ``keys`` (what decides their match):
    (entry ids, {key: value}). On PostgreSQL one GROUP BY returns a few hundred groups
    instead of every entry's JSON (the it slice at 1M: 102k entries; ``db/dialect``)."""
    for ids, values in dialect_of(session).entries_grouped(session, det, year, keys):
        cell = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        yield [int(i) for i in ids], cell


def _pick(groups: Iterator[tuple[list[int], JsonObject]],
          affected: Callable[[JsonObject], bool]) -> tuple[list[int], int]:
    """(the affected entry ids, sorted; the slice's entry count, read on the way)."""
    picked: list[int] = []
    total = 0
    for ids, d in groups:
        total += len(ids)
        if affected(d):
            picked += ids
    return sorted(picked), total


def _affected(session: Session, det: int, year: int, changed: dict[int, JsonObject]
              ) -> tuple[list[int], int] | None:
    if det in (D.member, D.student):
        return None
    if det == D.plane:
        cabins = {names.plane_cabin(c.get("cabin_class")) for c in changed.values()}
        return _pick(_entries(session, det, year, ("cabin_class",)),
                     lambda d: names.plane_cabin(d.get("cabin_class")) in cabins)
    if det == D.train:
        return _train(session, year, {names.country_code(c.get("country_code"))
                                      for c in changed.values()})
    if det == D.building_embodied_energy:
        buildings = {names.norm(c.get("building_name")) for c in changed.values()}
        if "default" in buildings or None in buildings:
            return None
        return _pick(_entries(session, det, year, ("building_name",)),
                     lambda d: names.norm(d.get("building_name")) in buildings)
    if det in MATCH_SPECS or det in PURCHASE_DETS:
        return _relinked_or_linked(session, det, year, set(changed))
    return None


def _train(session: Session, year: int, countries: set[str | None]
           ) -> tuple[list[int], int] | None:
    if "RoW" in countries or None in countries:
        return None  # the fallback of every country without a factor changed
    refs = load_reference_data(session)

    def hit(d: JsonObject) -> bool:
        a = refs.station(d.get("origin_name"), d.get("origin_country_code"))
        b = refs.station(d.get("destination_name"), d.get("destination_country_code"))
        if a is None or b is None:
            return False  # an unknown station is an entry error, whatever the factors
        return formulas.train_country(
            names.country_code(d.get("origin_country_code")) or a[2],
            names.country_code(d.get("destination_country_code")) or b[2]) in countries
    return _pick(_entries(session, D.train, year, _TRAIN_KEYS), hit)


_TRAIN_KEYS = ("origin_name", "destination_name", "origin_country_code",
               "destination_country_code")


def _match_keys(det: int) -> tuple[str, ...]:
    if det in PURCHASE_DETS:
        return ("purchase_additional_code", "purchase_institutional_code", LINK_KEY)
    spec = MATCH_SPECS[det]
    return (spec.kind, *((spec.subkind,) if spec.subkind else ()), *spec.tie_break, LINK_KEY)


def _stored(data: JsonObject) -> int | None:
    v = data.get(LINK_KEY)
    if v is None or v == "":
        return None
    if not isinstance(v, str | int | float):
        return -1  # a list or an object
    try:
        return int(v)
    except (TypeError, ValueError):
        return -1  # unreadable link: always re-match


def _relinked_or_linked(session: Session, det: int, year: int, changed: set[int]
                        ) -> tuple[list[int], int]:
    index = load_factor_index(session, det, year)

    def hit(d: JsonObject) -> bool:
        stored = _stored(d)
        if stored in changed:
            return True
        factor, _reason = index.match(d)
        return (factor.id if factor is not None else None) != stored
    return _pick(_entries(session, det, year, _match_keys(det)), hit)
