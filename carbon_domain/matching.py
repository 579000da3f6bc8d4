"""Finding the factor(s) for an entry: one ``FactorIndex`` per (data entry type, year).

The index is built once from that slice's factors, so matching an entry is a few dict
lookups (no query per entry: the system we replace ran ~25 factor queries per headcount
entry; docs/design.md §2). Keys are normalised (case-insensitive, trimmed,
vocabulary aliases), and classifications are read by key, never by position, so the order of
a classification's keys can never change a match.

Strategy A (linked factor, docs/design.md §2): the handler's kind / subkind, kind-only fallback
to a factor whose subkind is None; purchases match their additional code first.
Strategy B (query at compute time): headcount, plane bands, train countries, embodied energy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from carbon_domain import names
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.emission_types import SCOPE_OF, EmissionType

logger = logging.getLogger(__name__)
Normaliser = Callable[[Any], str | None]
Match = tuple["FactorRecord | None", str | None]


class FactorRecord(NamedTuple):
    id: int
    emission_type_id: int
    classification: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatchSpec:
    kind: str
    subkind: str | None = None
    kind_norm: Normaliser = names.norm
    sub_norm: Normaliser = names.norm
    # Keys that say what the entry's quantity is measured in (``unit``): when the entry gives
    # one, only a factor in that unit (or one naming none) can price it. Several matches are
    # narrowed to the entry's unit; a match only in other units is a miss, never a silent
    # 1000x (10 MWh at a per-kWh factor read as 10 kWh).
    tie_break: tuple[str, ...] = ()


def _or_norm(fn: Normaliser) -> Normaliser:
    return lambda v: fn(v) or names.norm(v)


_EQUIPMENT = MatchSpec("equipment_class", "sub_class")
MATCH_SPECS: dict[int, MatchSpec] = {
    D.scientific: _EQUIPMENT, D.it: _EQUIPMENT, D.other: _EQUIPMENT,
    D.building: MatchSpec("building_name", "room_type", sub_norm=_or_norm(names.room_type)),
    D.energy_combustion: MatchSpec("name", kind_norm=lambda v: names.fuel(v) or names.slug(v),
                                   tie_break=("unit",)),
    D.external_clouds: MatchSpec("provider", "service_type", sub_norm=names.cloud_service),
    D.external_ai: MatchSpec("provider", "usage_type"),
    D.process_emissions: MatchSpec("category", "subcategory", kind_norm=names.gas,
                                   tie_break=("unit",)),
    D.additional_purchases: MatchSpec("name", kind_norm=names.purchase_name),
    D.research_facilities: MatchSpec("researchfacility_id"),
    D.mice_and_fish_animal_facilities: MatchSpec("researchfacility_id", "researchfacility_type",
                                                 sub_norm=_or_norm(names.animal)),
}
PURCHASE_DETS = frozenset({D.scientific_equipment, D.it_equipment, D.consumable_accessories,
                           D.biological_chemical_gaseous_product, D.services, D.vehicles,
                           D.other_purchases})
STRATEGY_B = frozenset({D.member, D.student, D.plane, D.train, D.building_embodied_energy})
STRATEGY_A = frozenset(MATCH_SPECS) | PURCHASE_DETS
_MEMO_LIMIT = 200_000
_HEADCOUNT_ROOTS = frozenset({"food", "waste", "commuting"})


def _headcount_type_ok(et: int) -> bool:
    if SCOPE_OF.get(et) is None:
        return False
    return EmissionType(et).path.split("__", 1)[0] in _HEADCOUNT_ROOTS


class _KindMatcher:
    def __init__(self, spec: MatchSpec, records: list[FactorRecord]) -> None:
        self.spec = spec
        self.exact: dict[tuple[str, str | None], list[FactorRecord]] = {}
        self.kind_only: dict[str, list[FactorRecord]] = {}
        for r in records:
            k = spec.kind_norm(r.classification.get(spec.kind))
            if k is None:
                continue
            s = spec.sub_norm(r.classification.get(spec.subkind)) if spec.subkind else None
            self.exact.setdefault((k, s), []).append(r)
            if s is None:
                self.kind_only.setdefault(k, []).append(r)

    def key(self, data: Mapping[str, Any]) -> tuple[Any, ...]:
        sp = self.spec
        return (data.get(sp.kind), data.get(sp.subkind) if sp.subkind else None,
                *(data.get(t) for t in sp.tie_break))

    def match(self, data: Mapping[str, Any]) -> Match:
        sp = self.spec
        raw_k = data.get(sp.kind)
        k = sp.kind_norm(raw_k)
        if k is None:
            return None, f"entry has no {sp.kind}"
        s = sp.sub_norm(data.get(sp.subkind)) if sp.subkind else None
        found = self.exact.get((k, s))
        if not found and s is not None:
            found = self.kind_only.get(k)  # kind-only fallback: the factor's subkind is None
        if not found:
            what = f"{sp.kind}={raw_k!r}"
            if s is not None and sp.subkind:  # s is only set when the spec has a subkind
                what += f", {sp.subkind}={data.get(sp.subkind)!r}"
            return None, f"no factor for {what}"
        for t in sp.tie_break:
            found, miss = _same_unit(found, t, data.get(t))
            if miss:
                return None, f"no factor for {sp.kind}={raw_k!r} in {t} {data.get(t)!r}{miss}"
        return found[0], None  # lowest id among equals: deterministic


def _same_unit(found: list[FactorRecord], key: str, given: Any
               ) -> tuple[list[FactorRecord], str | None]:
    """The factors of ``found`` that can price a quantity whose ``key`` (unit) is ``given``:
    those in that unit, else those naming no unit; none → a miss (its reason's tail). An
    entry naming no unit is read in its factor's unit (one naming none first, as before)."""
    want = names.norm(given)
    same = [r for r in found if names.norm(r.classification.get(key)) == want]
    if want is None:
        return same or found, None
    if same:
        return same, None
    open_ = [r for r in found if names.norm(r.classification.get(key)) is None]
    if open_:
        return open_, None
    units = sorted({str(r.classification.get(key)).strip() for r in found})
    return found, f" (its factors are per {', '.join(units)}: convert the quantity)"


class _PurchaseMatcher:
    """Override-first: a unique additional-code match wins (institutional code breaks ties);
    else the institutional code: one row wins, several → the per-code average (the row
    without an additional code), otherwise the match is ambiguous."""

    def __init__(self, records: list[FactorRecord]) -> None:
        self.by_add: dict[str, list[FactorRecord]] = {}
        self.by_inst: dict[str, list[FactorRecord]] = {}
        for r in records:
            c = r.classification
            add, inst = names.norm(c.get("purchase_additional_code")), names.norm(
                c.get("purchase_institutional_code"))
            if add:
                self.by_add.setdefault(add, []).append(r)
            if inst:
                self.by_inst.setdefault(inst, []).append(r)

    def key(self, data: Mapping[str, Any]) -> tuple[Any, ...]:
        return (data.get("purchase_additional_code"), data.get("purchase_institutional_code"))

    def match(self, data: Mapping[str, Any]) -> Match:
        add = names.norm(data.get("purchase_additional_code"))
        inst = names.norm(data.get("purchase_institutional_code"))
        if add:
            found = self.by_add.get(add, [])
            if len(found) > 1:
                found = [r for r in found if names.norm(
                    r.classification.get("purchase_institutional_code")) == inst]
            if len(found) == 1:
                return found[0], None
        if inst is None:
            return None, "entry has no purchase_institutional_code"
        found = self.by_inst.get(inst, [])
        if len(found) == 1:
            return found[0], None
        if not found:
            return None, f"no factor for purchase_institutional_code={inst!r}"
        average = [r for r in found
                   if names.norm(r.classification.get("purchase_additional_code")) is None]
        if len(average) == 1:
            return average[0], None
        return None, (f"ambiguous: {len(found)} factors for purchase_institutional_code="
                      f"{inst!r} and no single per-code average")


def _num(values: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    v = values.get(key, default)
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class FactorIndex:
    """Every factor of one (data entry type, year), indexed for that type's strategy."""

    def __init__(self, det: int, records: Iterable[FactorRecord], year: int | None = None):
        self.det = int(det)
        self.year = year
        recs = sorted(records, key=lambda r: r.id)
        self.by_id = {r.id: r for r in recs}
        self._memo: dict[Any, Any] = {}
        self._match_memo: dict[tuple[Any, ...], Match] = {}
        self._a: _KindMatcher | _PurchaseMatcher | None = None
        if self.det in PURCHASE_DETS:
            self._a = _PurchaseMatcher(recs)
        elif self.det in MATCH_SPECS:
            self._a = _KindMatcher(MATCH_SPECS[self.det], recs)
        self._headcount: list[tuple[int, int, float, float]] = []
        self._bands: dict[str, list[tuple[float, float, int, float, float]]] = {}
        self._countries: dict[str, tuple[int, float]] = {}
        self._buildings: dict[str, list[tuple[int, float]]] = {}
        for r in recs:
            self._add_strategy_b(r)

    def __len__(self) -> int:
        return len(self.by_id)

    def _add_strategy_b(self, r: FactorRecord) -> None:
        c, v = r.classification, r.values
        if self.det in (D.member, D.student):
            per_fte, ef = _num(v, "number_of_unit_per_fte"), _num(v, "ef_kg_co2eq_per_unit")
            if per_fte is None or ef is None or not _headcount_type_ok(r.emission_type_id):
                logger.warning("headcount factor %s unusable (values or type), skipped", r.id)
                return
            self._headcount.append((r.id, r.emission_type_id, per_fte, ef))
        elif self.det == D.plane:
            cabin, ef = names.plane_cabin(c.get("cabin_class")), _num(v, "ef_kg_co2eq_per_km")
            lo, hi = _num(v, "min_distance", 0.0), _num(v, "max_distance", float("inf"))
            if cabin and ef is not None and lo is not None and hi is not None:
                rfi = _num(v, "rfi_adjustment", 1.0)
                self._bands.setdefault(cabin, []).append(
                    (lo, hi, r.id, ef, 1.0 if rfi is None else rfi))
        elif self.det == D.train:
            country, ef = names.country_code(c.get("country_code")), _num(v, "ef_kg_co2eq_per_km")
            if country and ef is not None:
                self._countries.setdefault(country, (r.id, ef))
        elif self.det == D.building_embodied_energy:
            building, ef = names.norm(c.get("building_name")), _num(v, "ef_kgco2eq_per_m2")
            if building and ef is not None:
                self._buildings.setdefault(building, []).append((r.id, ef))

    # -- Strategy A ------------------------------------------------------------------------
    def match(self, data: Mapping[str, Any]) -> Match:
        """The linked factor for an entry (Strategy A) and, on a miss, the reason."""
        a = self._a
        if a is None:
            return None, f"data entry type {self.det} does not link a factor"
        # Entries repeat the same few keys: memoise on the raw values (bounded).
        try:
            key = a.key(data)
            hit = self._match_memo.get(key)
        except TypeError:  # an unhashable value in the data: match without the memo
            return a.match(data)
        if hit is None:
            if len(self._match_memo) >= _MEMO_LIMIT:
                self._match_memo.clear()
            hit = self._match_memo[key] = a.match(data)
        return hit

    # -- Strategy B ------------------------------------------------------------------------
    def headcount(self) -> list[tuple[int, int, float, float]]:
        """(factor id, emission type, units per FTE, EF per unit) of every factor."""
        return self._headcount

    def plane_band(self, cabin: str, per_trip_km: float) -> tuple[int, float, float] | None:
        """(factor id, EF per km, RFI) of the band with min ≤ per-trip km < max."""
        key = (cabin, per_trip_km)
        if key in self._memo:
            memoised: tuple[int, float, float] | None = self._memo[key]
            return memoised
        hit = next(((fid, ef, rfi) for lo, hi, fid, ef, rfi in self._bands.get(cabin, ())
                    if lo <= per_trip_km < hi), None)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = hit
        return hit

    def train_country(self, country: str) -> tuple[int, float] | None:
        """(factor id, EF per km) of the country, falling back to ``RoW``."""
        return self._countries.get(country) or self._countries.get("RoW")

    def embodied(self, building: Any) -> list[tuple[int, float]]:
        """(factor id, EF per m²) of every category of the building, else of ``default``."""
        return self._buildings.get(names.norm(building) or "") or self._buildings.get(
            "default", [])
