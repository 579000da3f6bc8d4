"""The formula version of each data entry type: bump a type's entry when its formula (or a
rule of how it reads its factors or reference data) changes in a way that changes numbers.

A recalculation records the version it computed with (``meta.recalculation.formula_version``)
and so do the module stats (``formula_version``: type name → version of its rows). When the
code's version of a type differs from the one its rows were computed with, the type needs
recalculation ("formula for IT changed (2026.11-1 → 2026.12-1)") and its next recalculation
is full; a deploy that bumps one type's version makes only that type stale.

It lives outside ``carbon_domain.handlers`` (the handlers import it from here)
because importing any module of that package imports every handler and the CSV schemas
behind them (~60 modules): the status read needs only these few lines.
"""

from __future__ import annotations

from collections.abc import Mapping

from carbon_domain.catalog import DataEntryType
from carbon_domain.names import type_label

#: What every type computed with before versions were recorded per recalculation: a
#: recalculation without a recorded version counts as this one, so a deploy of this code
#: does not mark the whole history stale.
BASELINE_FORMULA_VERSION = "2026.11-1"

#: Data entry type id → version. A plain dict so a test can bump one entry in-process.
formula_versions: dict[int, str] = {int(det): BASELINE_FORMULA_VERSION for det in DataEntryType}
# 2026.12-1: an entry's quantity is priced only by a factor in its unit (or naming none);
# before, "10 MWh" of natural gas took the per-kWh factor and counted as 10 kWh
# (matching.py, ``_same_unit``).
formula_versions[DataEntryType.energy_combustion] = "2026.12-1"
formula_versions[DataEntryType.process_emissions] = "2026.12-1"


def formula_version(det: int) -> str:
    """The code's formula version of a data entry type."""
    return formula_versions.get(int(det), BASELINE_FORMULA_VERSION)


def recorded_version(recalculation: Mapping[str, object] | None) -> str:
    """The version a finished recalculation computed with (its ``meta.recalculation``)."""
    value = (recalculation or {}).get("formula_version")
    return str(value) if value else BASELINE_FORMULA_VERSION


def formula_change(det: int, recalc_meta: Mapping[str, object] | None) -> str | None:
    """"formula for IT changed (2026.11-1 → 2026.12-1)" when the code's formula version of
    the type differs from the one a recalculation (its meta) computed with, else None."""
    recalculation = (recalc_meta or {}).get("recalculation")
    recorded = recorded_version(recalculation if isinstance(recalculation, Mapping) else None)
    code = formula_version(det)
    if recorded == code:
        return None
    return f"formula for {type_label(DataEntryType(det).name)} changed ({recorded} → {code})"
