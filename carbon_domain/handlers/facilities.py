"""Research facilities (70) and animal facilities (71): a share of the facility's emissions.

Their factors are computed from the facility unit's own report (``facility_factor_values``),
which is why these types recalculate after every other module (catalog.DEPENDS_ON_OTHER_MODULES).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from carbon_domain import formulas, names
from carbon_domain.catalog import DataEntryType as D
from carbon_domain.csv_rows.schemas import FACILITY_SOURCES
from carbon_domain.emission_types import EmissionType as E
from carbon_domain.handlers.base import Context, Part, number, value
from carbon_domain.matching import FactorRecord


def _same_unit(entry_unit: Any, factor_unit: Any) -> bool:
    # Either side blank: assume the facility's unit. Both given: they must agree.
    a, b = names.norm(entry_unit), names.norm(factor_unit)
    return a is None or b is None or a == b


def facility(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
             ctx: Context) -> list[Part]:
    """use / total_use × kg_co2eq_sum (the facility's total), when the use units agree."""
    assert factor is not None
    v = factor.values
    if not _same_unit(data.get("use_unit"), v.get("use_unit")):
        return []
    total, kg_sum = value(v, "total_use"), value(v, "kg_co2eq_sum")
    if total is None or kg_sum is None:
        return []
    kg = formulas.facility_share_kg(number(data, "use"), total, kg_sum)
    return [] if kg is None else [(types[0], kg, None, factor.id)]


def animal_facility(data: Mapping[str, Any], types: list[int], factor: FactorRecord | None,
                    ctx: Context) -> list[Part]:
    """Σ over the six sources of use × share_src / total_use × kg_co2eq_sum_src."""
    assert factor is not None
    v = factor.values
    total = value(v, "total_use")
    if total is None or total <= 0 or not _same_unit(data.get("use_unit"), v.get("use_unit")):
        return []
    use = number(data, "use")
    kg, used = 0.0, False
    for src in FACILITY_SOURCES:
        share, kg_sum = value(v, f"{src}_share"), value(v, f"kg_co2eq_sum_{src}")
        if share is not None and kg_sum is not None:
            kg += use * share / total * kg_sum
            used = True
    return [(types[0], kg, None, factor.id)] if used else []


# Source → (subtree root, subtrees excluded from it), by emission type path prefix.
_SOURCE_TREES: dict[str, tuple[E, tuple[E, ...]]] = {
    "processemissions": (E.process_emissions, ()),
    "building_energycombustions": (E.buildings__combustion, ()),
    "building_rooms": (E.buildings__rooms, ()),
    "purchases_common": (E.purchases, (E.purchases__additional,)),
    "purchases_additional": (E.purchases__additional, ()),
    "equipments": (E.equipment, ()),
}


def _under(path: str, node: E) -> bool:
    return path == node.path or path.startswith(node.path + "__")


def facility_factor_values(
    det: int,
    by_emission_type: Mapping[int, float] | Mapping[str, float],
    total_use: float,
    *,
    total_kg: float | None = None,
) -> dict[str, float]:
    """The computed part of a research-facility factor's values, from the facility's totals.

    The facility is a unit (institutional_id = researchfacility_id) with its own report;
    ``by_emission_type`` is that report's stats map (stored type id → kg; str keys accepted,
    as in the stats JSON). ``total_use`` is Σ use of every entry that references the facility
    this year (see ``facility_total_use``): each consumer then pays use / total_use of it.

    - det 70: ``kg_co2eq_sum`` = the facility report's total (``total_kg`` when given, else
      the sum of ``by_emission_type``, which holds stored rows only, so nothing is counted
      twice).
    - det 71: ``kg_co2eq_sum_<src>`` per source subtree: processemissions → 70000,
      building_energycombustions → 60200, building_rooms → 60100, purchases_common → 90000
      minus the 90900 subtree, purchases_additional → 90900, equipments → 80000. Travel,
      headcount, cloud and embodied energy are not facility operating costs and are left out.

    Only computed keys are returned: merge them over the uploaded values
    (``{**old_values, **computed}``) so the operator's ``use_unit`` and ``<src>_share`` stay.
    """
    out: dict[str, float] = {"total_use": float(total_use)}
    if int(det) == D.research_facilities:
        out["kg_co2eq_sum"] = float(total_kg if total_kg is not None
                                    else sum(by_emission_type.values()))
        return out
    if int(det) != D.mice_and_fish_animal_facilities:
        raise ValueError(f"data entry type {det} has no computed factors")
    sums = dict.fromkeys(FACILITY_SOURCES, 0.0)
    for key, kg in by_emission_type.items():
        try:
            path = E(int(key)).path
        except ValueError:  # not an emission type of ours: not part of any source
            continue
        for src, (root, excluded) in _SOURCE_TREES.items():
            if _under(path, root) and not any(_under(path, x) for x in excluded):
                sums[src] += float(kg)
    out.update({f"kg_co2eq_sum_{src}": kg for src, kg in sums.items()})
    return out


def facility_total_use(entries: Iterable[Mapping[str, Any]], researchfacility_id: str,
                       use_unit: str | None = None) -> float:
    """Σ use of the entries that reference the facility (in ``use_unit`` when given)."""
    return facility_total_uses(entries, [(researchfacility_id, use_unit)])[0]


def facility_total_uses(entries: Iterable[Mapping[str, Any]],
                        wanted: Sequence[tuple[str, str | None]]) -> list[float]:
    """``facility_total_use`` of each (researchfacility_id, use_unit) of ``wanted``, in one
    pass over ``entries``, so they can be a stream: the year's facility entries held in a
    list were the largest allocation of a worker process (~165 MB at 8M entries).

    Each total is the exactly rounded sum (``math.fsum``'s, kept as running partials), so it
    does not depend on the order the entries arrive in: PostgreSQL returns them in whatever
    order its plan reads (a server-side cursor plans for the first rows), and a plain float
    sum then moved the last bits of the factors — and every facility row — between runs."""
    by_fid: dict[str | None, list[int]] = {}
    for i, (fid, _unit) in enumerate(wanted):
        by_fid.setdefault(names.norm(fid), []).append(i)
    partials: list[list[float]] = [[] for _ in wanted]
    odd = [0.0] * len(wanted)  # inf / nan uses, added plainly (the partials need finite ones)
    for data in entries:
        found = by_fid.get(names.norm(data.get("researchfacility_id")))
        if found is None:
            continue
        for i in found:
            use_unit = wanted[i][1]
            if use_unit is not None and not _same_unit(data.get("use_unit"), use_unit):
                continue
            try:
                use = float(data.get("use") or 0.0)
            except (TypeError, ValueError):
                continue
            if math.isfinite(use):
                _add_exact(partials[i], use)
            else:
                odd[i] += use
    return [math.fsum(p) + o for p, o in zip(partials, odd, strict=True)]


def _add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to the non-overlapping partials whose exact sum is the running total
    (Shewchuk's algorithm, as in ``math.fsum``; constant memory for any number of values)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]
