"""The formula version of each data entry type: kept in ``carbon_domain/formula_versions.py``
(importable without the handlers), re-exported here where the handlers' readers look."""

from carbon_domain.formula_versions import (
    BASELINE_FORMULA_VERSION,
    formula_change,
    formula_version,
    formula_versions,
    recorded_version,
)

__all__ = ["BASELINE_FORMULA_VERSION", "formula_change", "formula_version", "formula_versions",
           "recorded_version"]
